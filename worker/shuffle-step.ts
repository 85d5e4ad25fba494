import * as tf from '@tensorflow/tfjs';
import { bytesToFloats, floatBytes } from '../shared/protocol/codec';
import { applyIncoming, packOutgoing, PlanValues } from '../shared/shuffle/exchange';
import { ShufflePlan } from '../shared/shuffle/shuffle-plan';
import { gatherCoordinates, scatterCoordinates } from '../shared/train/coordinates';
import { PeerMesh } from './peer-mesh';

export interface ShuffleTarget {
  rank: number;
  variables: tf.Variable[];
  /** Momentum buffers for WASH+Opt; undefined for plain WASH. */
  momentum?: tf.Variable[];
}

/**
 * Runs one step's shuffle on this member: gathers the chosen coordinates,
 * sends each peer the values the plan routes to it, waits for every peer's
 * frame, checks all of them, and only then scatters the new values. A bad or
 * missing frame therefore leaves the member as it was. Returns the number of
 * values this member received (its values moved).
 */
export async function runShuffleStep(mesh: PeerMesh, plan: ShufflePlan, target: ShuffleTarget, whileWaiting?: () => void): Promise<number> {
  if (plan.count === 0) {
    whileWaiting?.();
    return 0;
  }
  const { rank } = target;
  const groups: PlanValues[] = [plan.tensors.map((t) => gatherCoordinates(target.variables[t.tensorIndex], t.indices))];
  if (target.momentum) {
    const momentum = target.momentum;
    groups.push(plan.tensors.map((t) => gatherCoordinates(momentum[t.tensorIndex], t.indices)));
  }
  const outgoing = packOutgoing(plan, rank, groups);
  const peers = [...Array(plan.members).keys()].filter((j) => j !== rank);
  const sends = peers.map((j) => mesh.send(j, { type: 'shuffle', step: plan.step, from: rank, values: floatBytes(outgoing[j]) }, 'shuffle'));
  // Work that does not depend on the peers' values (drawing the next plan) runs while their frames travel.
  whileWaiting?.();
  const incoming: Array<Float32Array | undefined> = new Array(plan.members);
  await Promise.all(
    peers.map(async (j) => {
      const frame = await mesh.receiveShuffle(plan.step, j);
      incoming[j] = bytesToFloats(frame.values, `peer rank ${j}`);
    }),
  );
  await Promise.all(sends);

  const updated = applyIncoming(plan, rank, groups, incoming);
  plan.tensors.forEach((t, k) => {
    scatterCoordinates(target.variables[t.tensorIndex], t.indices, updated[0][k]);
    if (target.momentum) scatterCoordinates(target.momentum[t.tensorIndex], t.indices, updated[1][k]);
  });
  let moved = 0;
  for (let j = 0; j < plan.members; j++) if (j !== rank) moved += incoming[j]?.length ?? 0;
  return moved;
}
