import { WashError } from '../errors';
import { ShufflePlan } from './shuffle-plan';

/**
 * The values of one member at a plan's chosen coordinates, one array per
 * tensor of the plan (same order as `plan.tensors`). With WASH+Opt there is a
 * second set of arrays for the momentum buffers at the same coordinates.
 */
export type PlanValues = Float32Array[];

/**
 * Packs what `rank` sends to each peer: for every chosen coordinate c, in plan
 * order, peer j receives rank's old value when j's source at c is rank.
 * Each extra group (momentum) follows the weights in the same order.
 */
export function packOutgoing(plan: ShufflePlan, rank: number, groups: PlanValues[]): Float32Array[] {
  const n = plan.members;
  const counts = outgoingCounts(plan, rank);
  const out = counts.map((count) => new Float32Array(count * groups.length));
  const cursor = new Array<number>(n).fill(0);
  for (const [g, values] of groups.entries()) {
    for (let j = 0; j < n; j++) cursor[j] = g * counts[j];
    plan.tensors.forEach((tensor, t) => {
      const { sources } = tensor;
      const local = values[t];
      for (let c = 0, base = 0; c < local.length; c++, base += n) {
        for (let j = 0; j < n; j++) {
          if (sources[base + j] === rank && j !== rank) out[j][cursor[j]++] = local[c];
        }
      }
    });
  }
  return out;
}

/** Number of values `rank` sends to each peer, per group. */
function outgoingCounts(plan: ShufflePlan, rank: number): number[] {
  const n = plan.members;
  const counts = new Array<number>(n).fill(0);
  for (const { sources } of plan.tensors) {
    for (let base = 0; base < sources.length; base += n) {
      for (let j = 0; j < n; j++) if (sources[base + j] === rank && j !== rank) counts[j]++;
    }
  }
  return counts;
}

/** Number of values `rank` expects from each peer, per group. */
export function expectedIncoming(plan: ShufflePlan, rank: number): number[] {
  const n = plan.members;
  const counts = new Array<number>(n).fill(0);
  for (const { sources } of plan.tensors) {
    for (let base = rank; base < sources.length; base += n) {
      const source = sources[base];
      if (source !== rank) counts[source]++;
    }
  }
  return counts;
}

/**
 * Builds rank's new values from its old ones and what each peer sent, and
 * checks every count and value before anything is written, so a bad frame
 * leaves the member untouched. `incoming[j]` is peer j's frame (unused for j = rank).
 */
export function applyIncoming(plan: ShufflePlan, rank: number, groups: PlanValues[], incoming: Array<Float32Array | undefined>): PlanValues[] {
  const n = plan.members;
  const expected = expectedIncoming(plan, rank);
  for (let j = 0; j < n; j++) {
    if (j === rank) continue;
    const got = incoming[j]?.length ?? 0;
    if (got !== expected[j] * groups.length) {
      throw new WashError('WASH_ERR_PLAN_MISMATCH', `shuffle frame of step ${plan.step} from rank ${j} has ${got} values; the plan expects ${expected[j] * groups.length}`);
    }
    const values = incoming[j];
    if (values) {
      for (let k = 0; k < values.length; k++) {
        if (!Number.isFinite(values[k])) {
          throw new WashError('WASH_ERR_NON_FINITE', `shuffle frame of step ${plan.step} from rank ${j} has a non-finite value (${values[k]}) at position ${k}`);
        }
      }
    }
  }
  const cursor = new Array<number>(n).fill(0);
  return groups.map((values, g) => {
    cursor.fill(0);
    return plan.tensors.map((tensor, t) => {
      const updated = new Float32Array(values[t]);
      const { sources } = tensor;
      for (let c = 0; c < tensor.indices.length; c++) {
        const source = sources[c * n + rank];
        if (source !== rank) updated[c] = (incoming[source] as Float32Array)[g * expected[source] + cursor[source]++];
      }
      return updated;
    });
  });
}

/**
 * Applies a plan to all members at once in memory: the reference that the
 * distributed exchange must match. `members[i][tensorIndex]` is member i's
 * full tensor; returns new arrays.
 */
export function referenceShuffle(plan: ShufflePlan, members: Float32Array[][]): Float32Array[][] {
  const out = members.map((tensors) => tensors.map((t) => new Float32Array(t)));
  const n = plan.members;
  for (const tensor of plan.tensors) {
    for (let c = 0; c < tensor.indices.length; c++) {
      const index = tensor.indices[c];
      for (let i = 0; i < n; i++) out[i][tensor.tensorIndex][index] = members[tensor.sources[c * n + i]][tensor.tensorIndex][index];
    }
  }
  return out;
}
