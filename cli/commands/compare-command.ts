import * as path from 'node:path';
import { defaultInit, INIT_MODES, InitMode, METHODS } from '../../shared/config';
import { createLogger } from '../../shared/log';
import { ReportKind } from '../../report/report-data';
import { createReportFolder, formatCommandLine } from '../../report/report-folder';
import { choiceOf, parseList, wholeNumberOf, withoutFlags } from '../../report/list-flags';
import { PlannedRun, usesShuffleProbability } from '../../report/run-record';
import { runSequence } from '../../report/run-sequence';
import { FlagSpecs, FlagValues, parseFlags } from '../flags';
import { formatSummary } from '../results-table';
import { configFromFlags, RUN_FLAGS } from '../run-flags';

/** Flags of `wash compare` and `wash sweep` beyond the run flags. */
export const REPORT_FLAGS: FlagSpecs = {
  seeds: { type: 'string', default: '0', help: 'comma-separated run seeds; each table cell is the mean and standard deviation over them' },
  out: { type: 'string', placeholder: 'DIR', default: 'runs', help: 'parent folder of the report folder, which contains every run folder' },
  progress: { type: 'string', choices: ['auto', 'tty', 'log'], default: 'auto', help: 'auto: a live table on a terminal, plain log lines otherwise' },
};

export const COMPARE_FLAGS: FlagSpecs = {
  // The running average and member distance curves need the epoch-end gather, so compare always turns it on.
  ...withoutFlags(RUN_FLAGS, ['method', 'init', 'seed', 'track-average']),
  methods: { type: 'string', default: 'independent,papa,wash,wash-opt', help: `comma-separated training methods to compare, from ${METHODS.join(', ')}` },
  init: { type: 'string', default: '', help: 'comma-separated initializations, shared and/or separate (default: each method\'s own, separate for independent and shared otherwise)' },
  ...REPORT_FLAGS,
};

/**
 * `wash compare`: runs every method, initialization and seed one after
 * another with the same data and model, then writes `OUT/compare-STAMP/`.
 */
export async function compareCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, COMPARE_FLAGS, 'compare');
  return runPlanWithReport('compare', args, values, comparePlan(values));
}

/**
 * Builds the runs of a compare: seeds outermost, then initializations, then
 * methods, so a compare stopped early has whole method comparisons for its first seeds.
 */
export function comparePlan(values: FlagValues): PlannedRun[] {
  const methods = parseList('methods', values.methods as string, choiceOf('methods', METHODS));
  const inits: Array<InitMode | undefined> = values.init === '' ? [undefined] : parseList('init', values.init as string, choiceOf('init', INIT_MODES));
  const seeds = parseList('seeds', values.seeds as string, wholeNumberOf('seeds'));
  const plan: PlannedRun[] = [];
  for (const seed of seeds) {
    for (const init of inits) {
      for (const method of methods) {
        const runInit = init ?? defaultInit(method);
        const runId = `${method}-${runInit}-seed${seed}`;
        const config = configFromFlags(values, { runId, method, init: runInit, seed, trackAverage: true });
        plan.push({ runId, method, init: runInit, seed, p: config.p, config });
      }
    }
  }
  return plan;
}

/**
 * Runs a plan into a new report folder and prints each run's results. The
 * first Ctrl-C stops the current run and starts no other, and the report
 * then covers the finished runs; a second Ctrl-C exits at once. Returns 130
 * when interrupted, 1 when a run failed and 0 otherwise.
 */
export async function runPlanWithReport(kind: ReportKind, args: string[], values: FlagValues, plan: PlannedRun[]): Promise<number> {
  let progress = values.progress as 'auto' | 'tty' | 'log';
  if (progress === 'auto') progress = process.stdout.isTTY ? 'tty' : 'log';
  const log = createLogger('wash', progress === 'tty' ? (process.env.WASH_LOG_LEVEL ?? 'warn') : undefined);
  const reportDir = await createReportFolder(values.out as string, kind);
  process.stdout.write(`wash ${kind}: ${plan.length} runs into ${reportDir}\n`);

  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      log.error({ signal }, 'interrupted again; exiting without waiting for the run to stop');
      process.exit(130);
    }
    log.warn({ signal }, 'interrupted; stopping the current run, then writing the report of the finished runs');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const { records } = await runSequence({
      kind,
      reportDir,
      command: formatCommandLine(['wash', kind, ...args]),
      plan,
      log,
      progress,
      stop: controller.signal,
      onRunStart: (run, index) => {
        const p = usesShuffleProbability(run.method) ? `, p ${run.p}` : '';
        process.stdout.write(`\nrun ${index + 1} of ${plan.length}: ${run.method}, ${run.init} init${p}, seed ${run.seed}\n`);
      },
      onRunEnd: (record) => {
        if (record.summary) process.stdout.write(`${formatSummary(record.summary, path.join(reportDir, record.runId))}\n`);
        else process.stdout.write(`run ${record.runId} ${record.status}: ${record.error?.code} ${record.error?.message}\n`);
      },
    });
    const finished = records.filter((r) => r.status === 'finished').length;
    process.stdout.write(`\n${finished} of ${plan.length} runs finished; report: ${path.join(reportDir, 'results.md')}\n`);
    if (controller.signal.aborted) return 130;
    return records.some((r) => r.status === 'failed' || r.status === 'interrupted') ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
