import { Rng } from '../rng';
import { ParameterLayout } from '../model/parameters';
import { coordinateProbability, ShuffleSchedule } from './schedule';

/** The chosen coordinates of one tensor and the permutation drawn for each. */
export interface TensorPlan {
  tensorIndex: number;
  /** Flat positions inside the tensor, ascending. */
  indices: Int32Array;
  /**
   * `members` entries per chosen coordinate: entry [c * members + i] is the
   * member whose old value member i takes at coordinate c.
   */
  sources: Uint8Array;
}

/** Every worker derives the identical plan from the step's seed, so only values travel. */
export interface ShufflePlan {
  step: number;
  members: number;
  tensors: TensorPlan[];
  /** Total chosen coordinates over all tensors. */
  count: number;
}

export interface PlanOptions {
  schedule: ShuffleSchedule;
  members: number;
  /** One flag per tensor of the layout; false keeps that tensor out of every shuffle. */
  shuffled: boolean[];
}

export const MAX_MEMBERS = 255;

/**
 * Draws the shuffle plan of one step. Chosen coordinates are found by drawing
 * geometric gaps between them (the count of failures before a success of a
 * Bernoulli(p) trial), so the cost is proportional to the chosen coordinates,
 * not to the parameters. Each chosen coordinate gets a uniformly random
 * permutation of the members (Fisher-Yates).
 */
export function drawShufflePlan(seed: number, step: number, layout: ParameterLayout, options: PlanOptions): ShufflePlan {
  const { members } = options;
  if (!Number.isInteger(members) || members < 1 || members > MAX_MEMBERS) throw new RangeError(`members must be 1..${MAX_MEMBERS}, got ${members}`);
  const rng = new Rng(seed);
  const tensors: TensorPlan[] = [];
  let count = 0;
  layout.parameters.forEach((param, tensorIndex) => {
    if (!options.shuffled[tensorIndex] || members < 2) return;
    const p = coordinateProbability(options.schedule, step, param.depth, layout.depthCount, members);
    if (p <= 0) return;
    const chosen = chooseCoordinates(rng, param.size, p);
    if (chosen.length === 0) return;
    tensors.push({ tensorIndex, indices: chosen, sources: drawPermutations(rng, chosen.length, members) });
    count += chosen.length;
  });
  return { step, members, tensors, count };
}

function chooseCoordinates(rng: Rng, size: number, p: number): Int32Array {
  if (p >= 1) return Int32Array.from({ length: size }, (_, i) => i);
  const logQ = Math.log1p(-p);
  // Sized for the expected count plus a margin, so it grows only in the rare draw that needs more.
  let chosen = new Int32Array(Math.ceil(size * p + 6 * Math.sqrt(size * p) + 16));
  let count = 0;
  let position = -1;
  for (;;) {
    position += 1 + Math.floor(Math.log(rng.nextOpenFloat()) / logQ);
    if (position >= size) break;
    if (count === chosen.length) {
      const grown = new Int32Array(chosen.length * 2);
      grown.set(chosen);
      chosen = grown;
    }
    chosen[count++] = position;
  }
  return chosen.slice(0, count);
}

/**
 * Draws one uniformly random permutation of the members per coordinate into
 * the plan's table. It runs Fisher-Yates from the identity and draws the same
 * numbers in the same order as `Rng.shuffle`.
 */
function drawPermutations(rng: Rng, coordinates: number, members: number): Uint8Array {
  const sources = new Uint8Array(coordinates * members);
  for (let base = 0; base < sources.length; base += members) {
    for (let i = 0; i < members; i++) sources[base + i] = i;
    for (let i = members - 1; i > 0; i--) {
      const j = base + Math.floor(rng.nextFloat() * (i + 1));
      const swap = sources[base + i];
      sources[base + i] = sources[j];
      sources[j] = swap;
    }
  }
  return sources;
}

/** Per peer, how many values a member sends to and receives from it under a plan. */
export function planTraffic(plan: ShufflePlan, rank: number): { send: number[]; receive: number[] } {
  const send = new Array<number>(plan.members).fill(0);
  const receive = new Array<number>(plan.members).fill(0);
  const n = plan.members;
  for (const tensor of plan.tensors) {
    const { sources } = tensor;
    for (let c = 0; c < tensor.indices.length; c++) {
      const base = c * n;
      const source = sources[base + rank];
      if (source !== rank) receive[source]++;
      for (let j = 0; j < n; j++) if (j !== rank && sources[base + j] === rank) send[j]++;
    }
  }
  return { send, receive };
}
