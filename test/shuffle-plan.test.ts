import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { drawShufflePlan, PlanOptions, ShufflePlan } from '../shared/shuffle/shuffle-plan';
import { applyIncoming, packOutgoing, referenceShuffle } from '../shared/shuffle/exchange';
import { constantSchedule, syntheticLayout } from './helpers/layouts';

function planDigest(plan: ShufflePlan): string {
  const hash = createHash('sha256');
  for (const t of plan.tensors) {
    hash.update(String(t.tensorIndex));
    hash.update(new Uint8Array(t.indices.buffer));
    hash.update(t.sources);
  }
  return hash.digest('hex');
}

const layout = syntheticLayout([5000, 3000, 800]);
const options: PlanOptions = { members: 4, shuffled: [true, true, true], schedule: { ...constantSchedule(0.01), depthDecay: 'linear' } };

test('plan is identical for the same seed', () => {
  assert.equal(planDigest(drawShufflePlan(42, 7, layout, options)), planDigest(drawShufflePlan(42, 7, layout, options)));
  assert.notEqual(planDigest(drawShufflePlan(42, 7, layout, options)), planDigest(drawShufflePlan(43, 7, layout, options)));
});

test('plan is identical in another process', () => {
  const parentDigest = planDigest(drawShufflePlan(99, 3, layout, options));
  const script = `
    const { drawShufflePlan } = require(${JSON.stringify(path.join(__dirname, '../shared/shuffle/shuffle-plan.js'))});
    const { createHash } = require('node:crypto');
    const layout = ${JSON.stringify(layout)};
    const plan = drawShufflePlan(99, 3, layout, ${JSON.stringify(options)});
    const hash = createHash('sha256');
    for (const t of plan.tensors) { hash.update(String(t.tensorIndex)); hash.update(new Uint8Array(t.indices.buffer)); hash.update(t.sources); }
    process.stdout.write(hash.digest('hex'));`;
  assert.equal(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }), parentDigest);
});

test('plan sources are permutations and indices ascend', () => {
  const plan = drawShufflePlan(5, 0, layout, options);
  assert.ok(plan.count > 0);
  for (const t of plan.tensors) {
    for (let c = 0; c < t.indices.length; c++) {
      if (c > 0) assert.ok(t.indices[c] > t.indices[c - 1]);
      assert.ok(t.indices[c] < layout.parameters[t.tensorIndex].size);
      const row = [...t.sources.subarray(c * 4, c * 4 + 4)].sort();
      assert.deepEqual(row, [0, 1, 2, 3]);
    }
  }
});

test('linear depth decay chooses p * (1 - l/L) of each tensor', () => {
  // Depths 0, 1, 2 of L = 3 with p = 0.1: expected shares 0.1, 0.0667, 0.0333.
  const big = syntheticLayout([200_000, 200_000, 200_000]);
  const plan = drawShufflePlan(1, 0, big, { members: 4, shuffled: [true, true, true], schedule: { ...constantSchedule(0.1), depthDecay: 'linear' } });
  const shares = [0, 1, 2].map((i) => (plan.tensors.find((t) => t.tensorIndex === i)?.indices.length ?? 0) / 200_000);
  const expected = [0.1, 0.2 / 3, 0.1 / 3];
  // Binomial standard deviation at n = 200000 is at most sqrt(0.1 * 0.9 / 200000) = 0.00067; allow 5 of them.
  shares.forEach((share, i) => assert.ok(Math.abs(share - expected[i]) < 0.0034, `depth ${i}: share ${share}, expected ${expected[i]}`));
});

test('excluded tensors are never in a plan', () => {
  const plan = drawShufflePlan(3, 0, layout, { ...options, shuffled: [true, false, true] });
  assert.ok(plan.tensors.every((t) => t.tensorIndex !== 1));
});

test('packed exchange equals the reference shuffle', () => {
  const members = 4;
  const sizes = [300, 120];
  const small = syntheticLayout(sizes);
  const plan = drawShufflePlan(11, 0, small, { members, shuffled: [true, true], schedule: constantSchedule(0.3) });
  const weights = Array.from({ length: members }, (_, m) => sizes.map((size, t) => Float32Array.from({ length: size }, (_, i) => m * 10_000 + t * 1000 + i)));
  const expected = referenceShuffle(plan, weights);
  const gathered = weights.map((tensors) => [plan.tensors.map((t) => Float32Array.from(t.indices, (index) => tensors[t.tensorIndex][index]))]);
  const outgoing = gathered.map((groups, rank) => packOutgoing(plan, rank, groups));
  for (let rank = 0; rank < members; rank++) {
    const incoming = outgoing.map((frames) => frames[rank]);
    const [updated] = applyIncoming(plan, rank, gathered[rank], incoming);
    const result = weights[rank].map((t) => new Float32Array(t));
    plan.tensors.forEach((t, k) => t.indices.forEach((index, c) => (result[t.tensorIndex][index] = updated[k][c])));
    assert.deepEqual(result, expected[rank]);
  }
});

test('applyIncoming rejects a wrong count and a non-finite value', () => {
  const plan = drawShufflePlan(11, 0, syntheticLayout([400]), { members: 2, shuffled: [true], schedule: constantSchedule(0.5) });
  const groups = [plan.tensors.map((t) => new Float32Array(t.indices.length))];
  const good = packOutgoing(plan, 1, groups)[0];
  assert.throws(() => applyIncoming(plan, 0, groups, [undefined, good.subarray(1)]), { code: 'WASH_ERR_PLAN_MISMATCH' });
  const bad = new Float32Array(good);
  bad[0] = NaN;
  assert.throws(() => applyIncoming(plan, 0, groups, [undefined, bad]), { code: 'WASH_ERR_NON_FINITE' });
});

test('plan cost follows chosen coordinates', () => {
  // 50 million coordinates at p = 1e-6: about 50 chosen. Drawing one random number per coordinate would take seconds.
  const huge = syntheticLayout([50_000_000]);
  const started = process.hrtime.bigint();
  const plan = drawShufflePlan(2, 0, huge, { members: 4, shuffled: [true], schedule: constantSchedule(1e-6) });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(plan.count > 10, `count ${plan.count}`);
  assert.ok(plan.count < 120, `count ${plan.count}`);
  assert.ok(ms < 50, `drawing took ${ms} ms`);
});
