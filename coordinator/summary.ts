import { RunConfig } from '../shared/config';
import { EnsembleEvaluation } from '../shared/eval/ensemble';
import { ByteCounts, PURPOSES, Purpose } from '../shared/protocol/messages';

export interface MemberFinal {
  rank: number;
  host: string;
  backend: string;
  bytes: ByteCounts;
  steps: number;
  valuesMoved: number;
  trainSeconds: number;
}

export interface TrafficSummary {
  /** Bytes each member sent per step, by purpose, averaged over members (WebSocket framing included). */
  bytesPerMemberPerStep: Record<Purpose, number>;
  /** Values each member received per step from the method's own exchanges (shuffle or all-reduce). */
  valuesPerMemberPerStep: number;
  /** 4 bytes per value moved: the least the method's traffic can be. */
  minimumBytesPerMemberPerStep: number;
  /** Method bytes (shuffle + reduce) over the minimum. */
  overheadRatio: number | null;
  totalBytes: number;
}

export interface RunSummary {
  status: 'finished' | 'failed' | 'interrupted';
  runId: string;
  method: string;
  init: string;
  model: string;
  dataset: string;
  membersCount: number;
  members?: { mean: number; min: number; max: number; each: number[] };
  ensemble?: number;
  naiveAverage?: number;
  averaged?: number;
  greedySoup?: EnsembleEvaluation['greedySoup'];
  traffic?: TrafficSummary;
  wallSeconds: number;
  trainSeconds?: number;
  samplesPerSecond?: number;
  workers?: Array<{ rank: number; host: string; backend: string }>;
  error?: { code: string; message: string };
}

export function summarizeTraffic(finals: MemberFinal[]): TrafficSummary {
  const bytesPerMemberPerStep = Object.fromEntries(PURPOSES.map((p) => [p, 0])) as Record<Purpose, number>;
  let values = 0;
  let totalBytes = 0;
  for (const final of finals) {
    const steps = Math.max(final.steps, 1);
    for (const p of PURPOSES) {
      bytesPerMemberPerStep[p] += final.bytes[p].sent / steps / finals.length;
      totalBytes += final.bytes[p].sent;
    }
    values += final.valuesMoved / steps / finals.length;
  }
  const minimum = 4 * values;
  const method = bytesPerMemberPerStep.shuffle + bytesPerMemberPerStep.reduce;
  return {
    bytesPerMemberPerStep,
    valuesPerMemberPerStep: values,
    minimumBytesPerMemberPerStep: minimum,
    overheadRatio: minimum > 0 ? method / minimum : null,
    totalBytes,
  };
}

export function summarizeRun(config: RunConfig, evaluation: EnsembleEvaluation, finals: MemberFinal[], wallSeconds: number, samplesPerMember: number): RunSummary {
  const each = evaluation.members;
  const trainSeconds = Math.max(...finals.map((f) => f.trainSeconds));
  return {
    status: 'finished',
    runId: config.runId,
    method: config.method,
    init: config.init,
    model: config.model,
    dataset: config.dataset,
    membersCount: config.members,
    members: { mean: each.reduce((a, b) => a + b, 0) / each.length, min: Math.min(...each), max: Math.max(...each), each },
    ensemble: evaluation.ensemble,
    naiveAverage: evaluation.naiveAverage,
    averaged: evaluation.averaged,
    greedySoup: evaluation.greedySoup,
    traffic: summarizeTraffic(finals),
    wallSeconds,
    trainSeconds,
    samplesPerSecond: (samplesPerMember * config.members) / Math.max(trainSeconds, 1e-9),
    workers: finals.map((f) => ({ rank: f.rank, host: f.host, backend: f.backend })),
  };
}
