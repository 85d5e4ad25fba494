import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../shared/backend/backends';
import { readValues, writeValues } from '../shared/model/parameters';
import { drawShufflePlan } from '../shared/shuffle/shuffle-plan';
import { referenceShuffle } from '../shared/shuffle/exchange';
import { Member } from '../shared/train/member';
import { Rng } from '../shared/rng';
import { ringAllReduce } from '../worker/all-reduce';
import { runShuffleStep } from '../worker/shuffle-step';
import { PeerMesh } from '../worker/peer-mesh';
import { ByteCounter } from '../shared/net/byte-counter';
import { linkedMeshes } from './helpers/mesh';
import { constantSchedule } from './helpers/layouts';

const MEMBERS = 3;
let meshes: PeerMesh[];
let counters: ByteCounter[];
let members: Member[];

function randomArrays(seed: number, like: Float32Array[]): Float32Array[] {
  const rng = new Rng(seed);
  return like.map((t) => Float32Array.from(t, () => rng.nextFloat() * 2 - 1));
}

before(async () => {
  await loadBackend('cpu');
  ({ meshes, counters } = await linkedMeshes(MEMBERS));
  members = Array.from({ length: MEMBERS }, () => new Member({ name: 'mlp', inputShape: [6, 6, 1], numClasses: 4 }, 1));
  members.forEach((member, rank) => {
    writeValues(member.variables, randomArrays(100 + rank, readValues(member.variables)));
    writeValues(member.optimizer.buffers, randomArrays(200 + rank, readValues(member.optimizer.buffers)));
  });
});

after(async () => {
  await Promise.all(meshes.map((mesh) => mesh.close()));
  members.forEach((m) => m.dispose());
});

test('distributed shuffle equals the in-memory reference', async () => {
  const layout = members[0].layout;
  const plan = drawShufflePlan(77, 0, layout, { members: MEMBERS, shuffled: layout.parameters.map(() => true), schedule: constantSchedule(0.2) });
  const weightsBefore = members.map((m) => readValues(m.variables));
  const momentumBefore = members.map((m) => readValues(m.optimizer.buffers));
  const moved = await Promise.all(members.map((m, rank) => runShuffleStep(meshes[rank], plan, { rank, variables: m.variables })));
  const expected = referenceShuffle(plan, weightsBefore);
  members.forEach((m, rank) => assert.deepEqual(readValues(m.variables), expected[rank], `weights of rank ${rank}`));
  members.forEach((m, rank) => assert.deepEqual(readValues(m.optimizer.buffers), momentumBefore[rank], `momentum of rank ${rank} must not move under plain WASH`));
  // Each member receives one value per chosen coordinate where its permutation entry is not itself.
  const fixed = plan.tensors.reduce((sum, t) => sum + t.indices.length, 0);
  assert.ok(moved.every((count) => count > 0 && count <= fixed));
});

test('WASH+Opt moves momentum with the weights', async () => {
  const layout = members[0].layout;
  const plan = drawShufflePlan(78, 1, layout, { members: MEMBERS, shuffled: layout.parameters.map(() => true), schedule: constantSchedule(0.2) });
  const weightsBefore = members.map((m) => readValues(m.variables));
  const momentumBefore = members.map((m) => readValues(m.optimizer.buffers));
  await Promise.all(members.map((m, rank) => runShuffleStep(meshes[rank], plan, { rank, variables: m.variables, momentum: m.optimizer.buffers })));
  const expectedWeights = referenceShuffle(plan, weightsBefore);
  const expectedMomentum = referenceShuffle(plan, momentumBefore);
  members.forEach((m, rank) => {
    assert.deepEqual(readValues(m.variables), expectedWeights[rank]);
    assert.deepEqual(readValues(m.optimizer.buffers), expectedMomentum[rank]);
    assert.notDeepEqual(readValues(m.optimizer.buffers), momentumBefore[rank]);
  });
});

test('ring all-reduce equals the in-memory sum', async () => {
  // 1001 values over 3 members: chunks of 333, 334 and 334 values.
  const inputs = Array.from({ length: MEMBERS }, (_, rank) => Float32Array.from({ length: 1001 }, (_, i) => rank * 1000 + i * 0.5));
  const results = await Promise.all(meshes.map((mesh, rank) => ringAllReduce(mesh, 0, rank, MEMBERS, inputs[rank])));
  const expected = Float32Array.from({ length: 1001 }, (_, i) => inputs.reduce((sum, values) => sum + values[i], 0));
  for (const result of results) {
    assert.equal(result.length, 1001);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(result[i] - expected[i]) <= 1e-3, `value ${i}: ${result[i]} vs ${expected[i]}`);
  }
});

test('shuffle bytes are counted on both sides', async () => {
  const before = counters.map((c) => c.snapshot().shuffle);
  const layout = members[0].layout;
  const plan = drawShufflePlan(79, 2, layout, { members: MEMBERS, shuffled: layout.parameters.map(() => true), schedule: constantSchedule(0.2) });
  const moved = await Promise.all(members.map((m, rank) => runShuffleStep(meshes[rank], plan, { rank, variables: m.variables })));
  const sent = counters.map((c, rank) => c.snapshot().shuffle.sent - before[rank].sent);
  const received = counters.map((c, rank) => c.snapshot().shuffle.received - before[rank].received);
  // Every byte one member sends, another receives; framing is counted once per frame on each side.
  assert.equal(sent.reduce((a, b) => a + b, 0), received.reduce((a, b) => a + b, 0));
  // Each member sends one 4-byte value per value another member receives, plus a header per frame.
  const values = moved.reduce((a, b) => a + b, 0);
  const total = sent.reduce((a, b) => a + b, 0);
  assert.ok(total >= 4 * values, `${total} bytes for ${values} values`);
  assert.ok(total <= 4 * values + MEMBERS * (MEMBERS - 1) * 80, `${total} bytes for ${values} values: more than 80 bytes of header per frame`);
});

test('non-finite shuffle values leave the member untouched', async () => {
  const { meshes: pair } = await linkedMeshes(2, 'non-finite');
  const victim = new Member({ name: 'mlp', inputShape: [6, 6, 1], numClasses: 4 }, 3);
  try {
    const layout = victim.layout;
    const plan = drawShufflePlan(5, 0, layout, { members: 2, shuffled: layout.parameters.map(() => true), schedule: constantSchedule(0.3) });
    const before = readValues(victim.variables);
    // Rank 1 sends a frame of the right length whose first value is NaN.
    const expected = plan.tensors.reduce((sum, t) => sum + [...Array(t.indices.length).keys()].filter((c) => t.sources[c * 2] === 1).length, 0);
    const poisoned = new Float32Array(expected);
    poisoned[0] = NaN;
    await pair[1].send(0, { type: 'shuffle', step: 0, from: 1, values: new Uint8Array(poisoned.buffer) }, 'shuffle');
    await assert.rejects(runShuffleStep(pair[0], plan, { rank: 0, variables: victim.variables }), { code: 'WASH_ERR_NON_FINITE', message: /from rank 1 has a non-finite value \(NaN\) at position 0/ });
    assert.deepEqual(readValues(victim.variables), before);
  } finally {
    victim.dispose();
    await Promise.all(pair.map((m) => m.close()));
  }
});
