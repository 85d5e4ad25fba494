import { Method } from '../../shared/config';
import { parseList, probabilityOf, wholeNumberOf, withoutFlags } from '../../report/list-flags';
import { PlannedRun } from '../../report/run-record';
import { FlagSpecs, FlagValues, parseFlags } from '../flags';
import { configFromFlags, RUN_FLAGS } from '../run-flags';
import { REPORT_FLAGS, runPlanWithReport } from './compare-command';

/** Methods whose traffic and averaging depend on the shuffle probability p. */
const SWEEP_METHODS: readonly Method[] = ['wash', 'wash-opt'];

export const SWEEP_FLAGS: FlagSpecs = {
  // The running average and member distance curves need the epoch-end gather, so sweep always turns it on.
  ...withoutFlags(RUN_FLAGS, ['p', 'seed', 'track-average']),
  method: { ...RUN_FLAGS.method, choices: SWEEP_METHODS, default: 'wash', help: 'training method whose shuffle probability is swept' },
  p: { type: 'string', default: '0.0001,0.001,0.01,0.05,0.1', help: 'comma-separated shuffle probabilities of the first layer\'s coordinates per step, each in [0, 1]' },
  ...REPORT_FLAGS,
};

/** `wash sweep`: runs WASH once per shuffle probability p and seed, then writes `OUT/sweep-STAMP/`. */
export async function sweepCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, SWEEP_FLAGS, 'sweep');
  return runPlanWithReport('sweep', args, values, sweepPlan(values));
}

/** Builds the runs of a sweep: seeds outermost, then p in the order given. */
export function sweepPlan(values: FlagValues): PlannedRun[] {
  const probabilities = parseList('p', values.p as string, probabilityOf('p'));
  const seeds = parseList('seeds', values.seeds as string, wholeNumberOf('seeds'));
  const plan: PlannedRun[] = [];
  for (const seed of seeds) {
    for (const p of probabilities) {
      const method = values.method as Method;
      // String(p) is exact, so two different values never share a run folder.
      const runId = `${method}-p${String(p)}-seed${seed}`;
      const config = configFromFlags(values, { runId, p, seed, trackAverage: true });
      plan.push({ runId, method, init: config.init, seed, p, config });
    }
  }
  return plan;
}
