import { WashError } from '../errors';

export const DEPTH_DECAYS = ['linear', 'constant'] as const;
export type DepthDecay = (typeof DEPTH_DECAYS)[number];
export const P_DECAYS = ['none', 'linear', 'cosine'] as const;
export type PDecay = (typeof P_DECAYS)[number];

/** How much of the model shuffles at a given step and depth. */
export interface ShuffleSchedule {
  /** Shuffle probability of the first layer at full strength, e.g. 0.01. */
  p: number;
  /** `linear`: p_l = p * (1 - l / L) for layer depth l of L; `constant`: p_l = p. */
  depthDecay: DepthDecay;
  /** Steps at the start of training with no shuffling, 0 by default. */
  warmupSteps: number;
  /** Decay of p over training after the warm-up, to `finalP` at the last step. */
  decay: PDecay;
  finalP: number;
  totalSteps: number;
  /**
   * Divide p by (1 - 1/N): a uniformly random permutation of N members leaves
   * a coordinate in place with probability 1/N, so this makes the share of
   * values that really move equal p.
   */
  correctFixedPoints: boolean;
}

export function checkSchedule(schedule: ShuffleSchedule): void {
  for (const [name, value] of [['p', schedule.p], ['final p', schedule.finalP]] as const) {
    if (!(value >= 0 && value <= 1)) throw new WashError('WASH_ERR_CONFIG', `invalid shuffle ${name} ${value}: expected a probability in [0, 1]`);
  }
  if (!Number.isInteger(schedule.warmupSteps) || schedule.warmupSteps < 0) {
    throw new WashError('WASH_ERR_CONFIG', `invalid shuffle warm-up ${schedule.warmupSteps}: expected a whole number of steps >= 0`);
  }
}

/** Returns the first layer's p at `step`, after warm-up and decay, before the depth factor and the fixed-point correction. */
export function pAtStep(schedule: ShuffleSchedule, step: number): number {
  if (step < schedule.warmupSteps) return 0;
  if (schedule.decay === 'none') return schedule.p;
  const span = Math.max(schedule.totalSteps - schedule.warmupSteps, 1);
  const progress = Math.min(Math.max((step - schedule.warmupSteps) / span, 0), 1);
  const weight = schedule.decay === 'linear' ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
  return schedule.finalP + (schedule.p - schedule.finalP) * weight;
}

/** Returns the probability that a coordinate at `depth` of `depthCount` is chosen at `step` among `members` members. */
export function coordinateProbability(schedule: ShuffleSchedule, step: number, depth: number, depthCount: number, members: number): number {
  let p = pAtStep(schedule, step);
  if (schedule.depthDecay === 'linear') p *= 1 - depth / depthCount;
  if (schedule.correctFixedPoints && members > 1) p /= 1 - 1 / members;
  return Math.min(p, 1);
}
