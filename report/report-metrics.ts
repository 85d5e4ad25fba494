import { formatBytes, formatPercent } from './report-format';
import { RunRecord } from './run-record';

/** One column of the results table: a number read from each finished run, then averaged over seeds. */
export interface Metric {
  id: MetricId;
  /** Column heading in results.md. */
  heading: string;
  table: 'accuracy' | 'traffic';
  format: (value: number) => string;
  read: (record: RunRecord) => number | undefined;
}

export type MetricId =
  | 'membersMean' | 'membersMin' | 'membersMax' | 'ensemble' | 'naiveAverage' | 'averaged' | 'greedySoup'
  | 'valuesPerMemberPerStep' | 'methodBytesPerMemberPerStep' | 'minimumBytesPerMemberPerStep'
  | 'methodBytesPerMember' | 'totalBytes' | 'wallSeconds';

/** Bytes per member per step of the method's own exchanges: shuffle and all-reduce, not control or evaluation. */
export function methodBytesPerStep(record: RunRecord): number | undefined {
  const perStep = record.summary?.traffic?.bytesPerMemberPerStep;
  return perStep ? perStep.shuffle + perStep.reduce : undefined;
}

/**
 * Method bytes one member sent over the whole run: the per-step figure times
 * the steps taken, which the last epoch line gives (the summary has no step count).
 */
export function methodBytesPerMember(record: RunRecord): number | undefined {
  const perStep = methodBytesPerStep(record);
  const last = record.epochs[record.epochs.length - 1];
  return perStep === undefined || !last ? undefined : perStep * last.step;
}

const seconds = (value: number): string => value.toFixed(1);
const values = (value: number): string => value.toFixed(1);

export const METRICS: readonly Metric[] = [
  { id: 'membersMean', heading: 'members mean', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.members?.mean },
  { id: 'membersMin', heading: 'members min', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.members?.min },
  { id: 'membersMax', heading: 'members max', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.members?.max },
  { id: 'ensemble', heading: 'ensemble', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.ensemble },
  { id: 'naiveAverage', heading: 'naive average', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.naiveAverage },
  { id: 'averaged', heading: 'averaged (batch norm recomputed)', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.averaged },
  { id: 'greedySoup', heading: 'greedy soup', table: 'accuracy', format: formatPercent, read: (r) => r.summary?.greedySoup?.accuracy },
  { id: 'valuesPerMemberPerStep', heading: 'values / member / step', table: 'traffic', format: values, read: (r) => r.summary?.traffic?.valuesPerMemberPerStep },
  { id: 'methodBytesPerMemberPerStep', heading: 'method bytes / member / step', table: 'traffic', format: formatBytes, read: methodBytesPerStep },
  { id: 'minimumBytesPerMemberPerStep', heading: 'minimum bytes / member / step', table: 'traffic', format: formatBytes, read: (r) => r.summary?.traffic?.minimumBytesPerMemberPerStep },
  { id: 'methodBytesPerMember', heading: 'method bytes / member (run)', table: 'traffic', format: formatBytes, read: methodBytesPerMember },
  { id: 'totalBytes', heading: 'total bytes sent (all purposes)', table: 'traffic', format: formatBytes, read: (r) => r.summary?.traffic?.totalBytes },
  { id: 'wallSeconds', heading: 'wall time (s)', table: 'traffic', format: seconds, read: (r) => r.summary?.wallSeconds },
];
