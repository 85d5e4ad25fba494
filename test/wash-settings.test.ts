import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { loadBackend } from '../shared/backend/backends';
import { DEFAULT_CONFIG, defaultInit, RunConfig } from '../shared/config';
import { readValues, writeValues } from '../shared/model/parameters';
import { Rng } from '../shared/rng';
import { coordinateProbability, pAtStep, ShuffleSchedule } from '../shared/shuffle/schedule';
import { drawShufflePlan } from '../shared/shuffle/shuffle-plan';
import { shuffledTensors } from '../shared/shuffle/tensor-selection';
import { Member } from '../shared/train/member';
import { PeerMesh } from '../worker/peer-mesh';
import { runShuffleStep } from '../worker/shuffle-step';
import { configFromFlags, RUN_FLAGS } from '../cli/run-flags';
import { parseFlags } from '../cli/flags';
import { constantSchedule, syntheticLayout } from './helpers/layouts';
import { linkedMeshes } from './helpers/mesh';

/** Builds rank's initial member in a fresh process and returns a SHA-256 of its weights. */
function initialDigest(config: RunConfig, rank: number): string {
  const root = path.join(__dirname, '..');
  const script = `
    const { createHash } = require('node:crypto');
    const { loadBackend } = require(${JSON.stringify(path.join(root, 'shared/backend/backends.js'))});
    const { memberSeeds } = require(${JSON.stringify(path.join(root, 'worker/worker.js'))});
    const { Member } = require(${JSON.stringify(path.join(root, 'shared/train/member.js'))});
    loadBackend('cpu').then(() => {
      const config = ${JSON.stringify(config)};
      const member = new Member({ name: 'cnn', inputShape: [28, 28, 1], numClasses: 10 }, memberSeeds(config, ${rank}).init);
      const hash = createHash('sha256');
      for (const v of member.variables) hash.update(new Uint8Array(v.dataSync().buffer));
      process.stdout.write(hash.digest('hex'));
    });`;
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
}

test('shared init gives bit-identical members across processes', () => {
  const config: RunConfig = { ...DEFAULT_CONFIG, runId: 'init', init: 'shared', seed: 5 };
  assert.equal(initialDigest(config, 0), initialDigest(config, 3));
});

test('separate init gives each member its own weights', () => {
  const config: RunConfig = { ...DEFAULT_CONFIG, runId: 'init', init: 'separate', seed: 5 };
  assert.notEqual(initialDigest(config, 0), initialDigest(config, 3));
});

test('init defaults to shared for averaging methods', () => {
  for (const method of ['wash', 'wash-opt', 'papa', 'average-every'] as const) assert.equal(defaultInit(method), 'shared');
  assert.equal(defaultInit('independent'), 'separate');
  const parse = (args: string[]): RunConfig => configFromFlags(parseFlags(args, RUN_FLAGS, 'run').values);
  assert.equal(parse(['--method', 'independent']).init, 'separate');
  assert.equal(parse(['--method', 'wash']).init, 'shared');
  assert.equal(parse(['--method', 'wash', '--init', 'separate']).init, 'separate');
});

test('schedule gives the expected p at chosen steps', () => {
  const base: ShuffleSchedule = { p: 0.04, depthDecay: 'constant', warmupSteps: 100, decay: 'none', finalP: 0.01, totalSteps: 1100, correctFixedPoints: false };
  // Warm-up: no shuffling before step 100.
  assert.equal(pAtStep(base, 0), 0);
  assert.equal(pAtStep(base, 99), 0);
  assert.equal(pAtStep(base, 100), 0.04);
  // Linear decay over the 1000 steps after the warm-up: half way (step 600) is 0.01 + 0.03 * 0.5 = 0.025.
  const linear = { ...base, decay: 'linear' as const };
  assert.equal(pAtStep(linear, 100), 0.04);
  assert.ok(Math.abs(pAtStep(linear, 600) - 0.025) < 1e-12);
  assert.ok(Math.abs(pAtStep(linear, 1100) - 0.01) < 1e-12);
  // Cosine: a quarter of the way (step 350) the weight is (1 + cos(pi/4)) / 2 = 0.853553, so p = 0.01 + 0.03 * 0.853553 = 0.0356066.
  const cosine = { ...base, decay: 'cosine' as const };
  assert.ok(Math.abs(pAtStep(cosine, 350) - 0.0356066) < 1e-6);
  assert.ok(Math.abs(pAtStep(cosine, 600) - 0.025) < 1e-12);
  // Depth: layer 1 of 4 with linear depth decay takes 3/4 of p; the fixed-point correction for 4 members divides by 3/4.
  const depth = { ...base, depthDecay: 'linear' as const };
  assert.ok(Math.abs(coordinateProbability(depth, 100, 1, 4, 4) - 0.03) < 1e-12);
  assert.ok(Math.abs(coordinateProbability({ ...depth, correctFixedPoints: true }, 100, 1, 4, 4) - 0.04) < 1e-12);
});

test('corrected p moves the expected share of values', () => {
  // 1,000,000 coordinates, 4 members, p = 0.05 corrected: chosen with 0.05 / 0.75 = 0.0667, and a chosen
  // coordinate moves member i's value unless its permutation fixes i (probability 1/4), so 0.05 of values move.
  const size = 1_000_000;
  const layout = syntheticLayout([size]);
  const schedule = { ...constantSchedule(0.05), correctFixedPoints: true };
  const plan = drawShufflePlan(9, 0, layout, { members: 4, shuffled: [true], schedule });
  for (let rank = 0; rank < 4; rank++) {
    let moved = 0;
    const sources = plan.tensors[0].sources;
    for (let c = 0; c < plan.tensors[0].indices.length; c++) if (sources[c * 4 + rank] !== rank) moved++;
    // Standard deviation of the share is sqrt(0.05 * 0.95 / 1e6) = 0.00022; allow 5 of them.
    assert.ok(Math.abs(moved / size - 0.05) < 0.0011, `rank ${rank}: share ${moved / size}`);
  }
  const uncorrected = drawShufflePlan(9, 0, layout, { members: 4, shuffled: [true], schedule: constantSchedule(0.05) });
  assert.ok(Math.abs(uncorrected.count / size - 0.05) < 0.0011);
});

test('shuffle-layers selects tensors by name', () => {
  const layout = syntheticLayout([10, 10, 10]);
  layout.parameters[1].isBatchNorm = true;
  assert.deepEqual(shuffledTensors(layout, 'all'), [true, true, true]);
  assert.deepEqual(shuffledTensors(layout, 'no-batch-norm'), [true, false, true]);
  assert.deepEqual(shuffledTensors(layout, 'layer0, layer2'), [true, false, true]);
  assert.throws(() => shuffledTensors(layout, 'layer0,conv9'), { code: 'WASH_ERR_CONFIG', message: /no layer named conv9/ });
});

let meshes: PeerMesh[];
let members: Member[];

before(async () => {
  await loadBackend('cpu');
  ({ meshes } = await linkedMeshes(3, 'excluded'));
  members = [0, 1, 2].map(() => new Member({ name: 'cnn', inputShape: [8, 8, 1], numClasses: 3 }, 1));
  members.forEach((member, rank) => {
    const rng = new Rng(rank + 1);
    writeValues(member.variables, readValues(member.variables).map((t) => Float32Array.from(t, () => rng.nextFloat())));
  });
});

after(async () => {
  await Promise.all(meshes.map((m) => m.close()));
  members.forEach((m) => m.dispose());
});

test('excluded tensors are never touched by a shuffle', async () => {
  const layout = members[0].layout;
  const shuffled = shuffledTensors(layout, 'no-batch-norm');
  const before = members.map((m) => readValues(m.variables));
  for (let step = 0; step < 5; step++) {
    const plan = drawShufflePlan(1000 + step, step, layout, { members: 3, shuffled, schedule: constantSchedule(0.5) });
    await Promise.all(members.map((m, rank) => runShuffleStep(meshes[rank], plan, { rank, variables: m.variables, momentum: m.optimizer.buffers })));
  }
  members.forEach((m, rank) => {
    const afterShuffle = readValues(m.variables);
    layout.parameters.forEach((p, t) => {
      if (p.isBatchNorm) assert.deepEqual(afterShuffle[t], before[rank][t], `${p.name} of rank ${rank} changed`);
      else assert.notDeepEqual(afterShuffle[t], before[rank][t], `${p.name} of rank ${rank} never shuffled`);
    });
  });
});
