import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EpochLine } from '../coordinator/epoch-tracker';
import { RunSummary } from '../coordinator/summary';
import { InitMode, Method, RunConfig } from '../shared/config';

/** One run of a compare or sweep, fixed before any run starts. */
export interface PlannedRun {
  /** Also the name of the run folder inside the report folder. */
  runId: string;
  method: Method;
  init: InitMode;
  seed: number;
  /** WASH shuffle probability of the run (set for every method, used by WASH only). */
  p: number;
  config: RunConfig;
}

/** Methods that shuffle, the only ones whose runs depend on p. */
export function usesShuffleProbability(method: string): boolean {
  return method === 'wash' || method === 'wash-opt';
}

export type RunRecordStatus = 'pending' | 'finished' | 'failed' | 'interrupted';

/** Report entry of one planned run, with its summary and epoch lines once it has run. */
export interface RunRecord {
  runId: string;
  method: Method;
  init: InitMode;
  seed: number;
  p: number;
  status: RunRecordStatus;
  summary?: RunSummary;
  epochs: EpochLine[];
  error?: { code: string; message: string };
}

/** Makes the record of a run that has not started. */
export function pendingRecord(run: PlannedRun): RunRecord {
  return { runId: run.runId, method: run.method, init: run.init, seed: run.seed, p: run.p, status: 'pending', epochs: [] };
}

/**
 * Reads a run's `summary.json` and `metrics.jsonl` from its folder inside
 * `reportDir`. `thrown` is the error the run ended with, if any: it fills in
 * the status and error when the run stopped before it wrote a summary.
 */
export async function readRunRecord(reportDir: string, run: PlannedRun, thrown?: unknown): Promise<RunRecord> {
  const dir = path.join(reportDir, run.runId);
  const summary = await readJson<RunSummary>(path.join(dir, 'summary.json'));
  const epochs = await readEpochLines(path.join(dir, 'metrics.jsonl'));
  const record: RunRecord = { ...pendingRecord(run), status: summary?.status ?? 'failed', summary, epochs };
  if (summary?.error) record.error = summary.error;
  else if (!summary) record.error = describeError(thrown);
  return record;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Reads the epoch lines in order; a line cut short by a stopped process is left out. */
export async function readEpochLines(file: string): Promise<EpochLine[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return [];
  }
  const lines: EpochLine[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      lines.push(JSON.parse(line) as EpochLine);
    } catch {
      continue;
    }
  }
  return lines.sort((a, b) => a.epoch - b.epoch);
}

function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof Error) return { code: (error as { code?: string }).code ?? error.name, message: error.message };
  return { code: 'unknown', message: error === undefined ? 'the run wrote no summary' : String(error) };
}
