import { EpochLine } from '../coordinator/epoch-tracker';
import { RunConfig } from '../shared/config';
import { formatCompact } from './report-format';
import { METRICS, MetricId } from './report-metrics';
import { RunRecord, RunRecordStatus } from './run-record';
import { meanAndDeviation, Statistic } from './statistics';

/** `compare` groups runs by method and initialization; `sweep` by shuffle probability p. */
export type ReportKind = 'compare' | 'sweep';
/** `failed`: a run failed with an error every later run would repeat, so the sequence stopped. */
export type ReportState = 'in progress' | 'finished' | 'interrupted' | 'failed';

/** Input of the report writer; the runner updates `records` and `state` after each run. */
export interface ReportInput {
  kind: ReportKind;
  state: ReportState;
  /** The command line as typed, for results.md. */
  command: string;
  startedAt: string;
  /** Settings shared by every run: the configuration without the fields that vary. */
  settings: Partial<RunConfig>;
  /** One record per planned run, in run order. */
  records: RunRecord[];
}

/** One point of a per-epoch curve, over the group's finished seeds. */
export interface EpochStatistics {
  epoch: number;
  membersMean: Statistic | null;
  averaged: Statistic | null;
  memberDistance: Statistic | null;
}

/** One row of the results table: the runs that differ only in their seed. */
export interface ReportGroup {
  label: string;
  method: string;
  init: string;
  p: number;
  /** Seeds of the finished runs that the cells average over. */
  seeds: number[];
  planned: number;
  runIds: string[];
  cells: Record<MetricId, Statistic | null>;
  epochs: EpochStatistics[];
}

/** Contents of results.json. */
export interface ReportData {
  kind: ReportKind;
  state: ReportState;
  command: string;
  startedAt: string;
  updatedAt: string;
  settings: Partial<RunConfig>;
  runs: Array<{ runId: string; method: string; init: string; seed: number; p: number; status: RunRecordStatus; error?: { code: string; message: string } }>;
  groups: ReportGroup[];
}

/** Groups the records, averages every metric over seeds and builds the per-epoch curves. */
export function buildReportData(input: ReportInput): ReportData {
  return {
    kind: input.kind,
    state: input.state,
    command: input.command,
    startedAt: input.startedAt,
    updatedAt: new Date().toISOString(),
    settings: input.settings,
    runs: input.records.map((r) => ({ runId: r.runId, method: r.method, init: r.init, seed: r.seed, p: r.p, status: r.status, ...(r.error ? { error: r.error } : {}) })),
    groups: groupRecords(input.kind, input.records).map(({ label, records }) => summarizeGroup(label, records)),
  };
}

/** Splits records into groups in order of first appearance; labels carry the init only when the runs use several. */
export function groupRecords(kind: ReportKind, records: RunRecord[]): Array<{ label: string; records: RunRecord[] }> {
  const severalInits = new Set(records.map((r) => r.init)).size > 1;
  const groups = new Map<string, { label: string; records: RunRecord[] }>();
  for (const record of records) {
    const key = kind === 'sweep' ? `${record.method}|${record.p}` : `${record.method}|${record.init}`;
    let group = groups.get(key);
    if (!group) {
      let label = record.method as string;
      if (kind === 'sweep') label = `p = ${formatCompact(record.p)}`;
      else if (severalInits) label = `${record.method} (${record.init})`;
      group = { label, records: [] };
      groups.set(key, group);
    }
    group.records.push(record);
  }
  return [...groups.values()];
}

function summarizeGroup(label: string, records: RunRecord[]): ReportGroup {
  const finished = records.filter((r) => r.status === 'finished');
  const cells = {} as Record<MetricId, Statistic | null>;
  for (const metric of METRICS) {
    const values = finished.map(metric.read).filter((v): v is number => v !== undefined && Number.isFinite(v));
    cells[metric.id] = meanAndDeviation(values);
  }
  const first = records[0];
  return {
    label,
    method: first.method,
    init: first.init,
    p: first.p,
    seeds: finished.map((r) => r.seed),
    planned: records.length,
    runIds: finished.map((r) => r.runId),
    cells,
    epochs: epochStatistics(finished),
  };
}

function epochStatistics(records: RunRecord[]): EpochStatistics[] {
  const byEpoch = new Map<number, EpochLine[]>();
  for (const record of records) {
    for (const line of record.epochs) byEpoch.set(line.epoch, [...(byEpoch.get(line.epoch) ?? []), line]);
  }
  const present = (values: Array<number | undefined>): number[] => values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return [...byEpoch.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([epoch, lines]) => ({
      epoch,
      membersMean: meanAndDeviation(present(lines.map((l) => l.meanTestAccuracy))),
      averaged: meanAndDeviation(present(lines.map((l) => l.averagedTestAccuracy))),
      memberDistance: meanAndDeviation(present(lines.map((l) => l.memberDistance))),
    }));
}
