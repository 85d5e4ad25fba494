import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { isWashError } from '../shared/errors';
import { readMemberWeights, writeMemberWeights } from '../shared/eval/weights';
import { fileHandler, loadModel, saveModel } from '../shared/model/model-files';
import { buildModel, ModelSpec } from '../shared/model/models';
import { describeParameters } from '../shared/model/parameters';
import { Rng } from '../shared/rng';

let root: string;

before(async () => {
  await loadBackend('cpu');
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'wash-engine-model-files-'));
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const MLP: ModelSpec = { name: 'mlp', inputShape: [6, 6, 1], numClasses: 3 };
const CNN: ModelSpec = { name: 'cnn', inputShape: [8, 8, 1], numClasses: 3 };

/**
 * Builds a model and overwrites every weight and statistic with seeded noise,
 * so zero biases, unit gammas and default running statistics cannot pass a
 * round trip that dropped them. Variances are kept positive.
 */
function noisyModel(spec: ModelSpec, seed: number): tf.LayersModel {
  const model = buildModel(spec, seed);
  const rng = new Rng(seed);
  const noise = (values: Float32Array, positive: boolean): Float32Array =>
    Float32Array.from(values, () => (positive ? 0.5 + rng.nextFloat() : rng.nextFloat() - 0.5));
  const weights = readMemberWeights(model);
  const statisticNames = describeParameters(model).statistics.map((s) => s.name);
  writeMemberWeights(model, {
    parameters: weights.parameters.map((values) => noise(values, false)),
    statistics: weights.statistics.map((values, i) => noise(values, statisticNames[i].endsWith('moving_variance'))),
  });
  return model;
}

function inputs(spec: ModelSpec): tf.Tensor4D {
  return tf.randomNormal([5, ...spec.inputShape], 0, 1, 'float32', 17) as tf.Tensor4D;
}

function predictions(model: tf.LayersModel, x: tf.Tensor4D): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

/** Entries of the parent folder left behind by a save, such as a staging folder. */
async function stagingLeftovers(): Promise<string[]> {
  return (await fs.readdir(root)).filter((name) => name.includes('.saving-'));
}

async function assertModelError(promise: Promise<unknown>, pathInMessage: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWashError(error, 'WASH_ERR_MODEL'), `expected WASH_ERR_MODEL, got ${String(error)}`);
    assert.ok(error.message.includes(pathInMessage), `message "${error.message}" does not name ${pathInMessage}`);
    return true;
  });
}

describe('saveModel and loadModel', () => {
  for (const spec of [MLP, CNN]) {
    it(`round-trips ${spec.name}`, async () => {
      const dir = path.join(root, `round-trip-${spec.name}`);
      const model = noisyModel(spec, 1);
      await saveModel(model, dir);
      assert.deepEqual((await fs.readdir(dir)).sort(), ['model.json', 'weights.bin']);

      const loaded = await loadModel(dir);
      const x = inputs(spec);
      // Inference uses the running statistics, so equal outputs also cover the cnn's batch-norm statistics.
      assert.deepEqual(predictions(loaded, x), predictions(model, x));
      assert.deepEqual(readMemberWeights(loaded), readMemberWeights(model));
      assert.equal(describeParameters(loaded).signature, describeParameters(model).signature);
      x.dispose();
    });
  }

  it('replaces an existing folder', async () => {
    const dir = path.join(root, 'replace');
    await saveModel(noisyModel(MLP, 1), dir);
    await fs.writeFile(path.join(dir, 'stale.txt'), 'left from an older save');
    const second = noisyModel(MLP, 2);
    await saveModel(second, dir);

    assert.deepEqual((await fs.readdir(dir)).sort(), ['model.json', 'weights.bin']);
    assert.deepEqual(readMemberWeights(await loadModel(dir)), readMemberWeights(second));
    assert.deepEqual(await stagingLeftovers(), []);
  });

  it('keeps previous model when save fails', async () => {
    const dir = path.join(root, 'failed-save');
    const first = noisyModel(MLP, 1);
    await saveModel(first, dir);

    // JSON.stringify raises on a BigInt, so this save fails after it has written weights.bin into its staging folder.
    const artifacts: tf.io.ModelArtifacts = { modelTopology: { size: BigInt(1) }, weightSpecs: [], weightData: new ArrayBuffer(0) };
    await assert.rejects(fileHandler(dir).save!(artifacts), /BigInt/);

    assert.deepEqual(readMemberWeights(await loadModel(dir)), readMemberWeights(first));
    assert.deepEqual(await stagingLeftovers(), []);
  });

  it('rejects a folder without model.json', async () => {
    const dir = path.join(root, 'empty');
    await fs.mkdir(dir);
    await assertModelError(loadModel(dir), path.join(dir, 'model.json'));
  });

  it('rejects a missing folder', async () => {
    const dir = path.join(root, 'does-not-exist');
    await assertModelError(loadModel(dir), path.join(dir, 'model.json'));
  });

  it('rejects malformed model.json', async () => {
    const dir = path.join(root, 'malformed');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.json'), '{"modelTopology": ');
    await assertModelError(loadModel(dir), path.join(dir, 'model.json'));
  });

  it('rejects model.json without weights manifest', async () => {
    const dir = path.join(root, 'no-manifest');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: { class_name: 'Sequential' } }));
    await assertModelError(loadModel(dir), path.join(dir, 'model.json'));
  });

  it('rejects truncated weights', async () => {
    const dir = path.join(root, 'truncated');
    await saveModel(noisyModel(MLP, 1), dir);
    const weightsPath = path.join(dir, 'weights.bin');
    // 36*256 + 256 + 256*128 + 128 + 128*3 + 3 = 9216 + 256 + 32768 + 128 + 384 + 3 = 42755 floats, 171020 bytes.
    assert.equal((await fs.stat(weightsPath)).size, 171020);
    await fs.truncate(weightsPath, 171016); // drops the last float
    await assertModelError(loadModel(dir), dir);
  });

  it('rejects missing weights file', async () => {
    const dir = path.join(root, 'no-weights');
    await saveModel(noisyModel(MLP, 1), dir);
    await fs.rm(path.join(dir, 'weights.bin'));
    await assertModelError(loadModel(dir), path.join(dir, 'weights.bin'));
  });
});
