import { RunConfig } from '../shared/config';
import { isWashError } from '../shared/errors';
import { Logger } from '../shared/log';
import { runLocal } from '../cli/local-run';
import { writeReport } from './compare-report';
import { ReportData, ReportInput, ReportKind, ReportState } from './report-data';
import { PlannedRun, pendingRecord, readRunRecord, RunRecord } from './run-record';

export interface SequenceOptions {
  kind: ReportKind;
  /** Report folder; each run writes its own folder, named after its run id, inside it. */
  reportDir: string;
  /** The command line as typed, for results.md. */
  command: string;
  plan: PlannedRun[];
  log: Logger;
  progress: 'tty' | 'log';
  /**
   * Aborted on Ctrl-C. No further run starts; the current run is stopped by
   * the signal handler of `runLocal`, which receives the same signal.
   * NOTE: runLocal installs that handler only after the coordinator has loaded
   * the data, so a Ctrl-C during the load lets the current run finish first.
   */
  stop: AbortSignal;
  onRunStart?: (run: PlannedRun, index: number) => void;
  onRunEnd?: (record: RunRecord, index: number) => void;
}

export interface SequenceResult {
  data: ReportData;
  records: RunRecord[];
}

/**
 * Runs the plan one run after another with `runLocal` and rewrites the report
 * before the first run and after each one, so an interrupted sequence leaves
 * the finished runs and a readable partial report. A failed run is recorded
 * and the next one starts, unless its error would repeat in every run (a bad
 * configuration, a missing data set, a backend that cannot load): then the
 * report is written and the error is thrown.
 */
export async function runSequence(options: SequenceOptions): Promise<SequenceResult> {
  const { kind, reportDir, plan, log, stop } = options;
  const startedAt = new Date().toISOString();
  const records = plan.map(pendingRecord);
  const input = (state: ReportState): ReportInput => ({ kind, state, command: options.command, startedAt, settings: sharedSettings(kind, plan), records });

  await writeReport(reportDir, input('in progress'));
  for (let index = 0; index < plan.length && !stop.aborted; index++) {
    const run = plan[index];
    options.onRunStart?.(run, index);
    let thrown: unknown;
    try {
      await runLocal({ config: run.config, out: reportDir, log, progress: options.progress });
    } catch (error) {
      thrown = error;
    }
    records[index] = await readRunRecord(reportDir, run, thrown);
    options.onRunEnd?.(records[index], index);

    if (thrown !== undefined && repeatsInEveryRun(thrown)) {
      log.error({ runId: run.runId, err: (thrown as Error).message }, 'run failed with an error every later run would repeat; stopping');
      await writeReport(reportDir, input('failed'));
      throw thrown;
    }
    if (records[index].status === 'failed') {
      log.error({ runId: run.runId, code: records[index].error?.code, err: records[index].error?.message }, 'run failed; going on with the next run');
    }
    await writeReport(reportDir, input(stop.aborted ? 'interrupted' : 'in progress'));
  }

  const data = await writeReport(reportDir, input(stop.aborted ? 'interrupted' : 'finished'));
  return { data, records };
}

/** Errors that come from the shared settings or the machine, not from one run. */
function repeatsInEveryRun(error: unknown): boolean {
  if (!isWashError(error)) return false;
  return error.code === 'WASH_ERR_CONFIG' || error.code === 'WASH_ERR_USAGE' || error.code === 'WASH_ERR_BACKEND' || error.code.startsWith('WASH_ERR_DATA_');
}

/** Returns the configuration every run shares: the first run's, less the fields that vary between runs. */
export function sharedSettings(kind: ReportKind, plan: PlannedRun[]): Partial<RunConfig> {
  if (plan.length === 0) return {};
  const settings: Partial<RunConfig> = { ...plan[0].config };
  delete settings.runId;
  delete settings.method;
  delete settings.init;
  delete settings.seed;
  if (kind === 'sweep') delete settings.p;
  return settings;
}
