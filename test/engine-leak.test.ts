import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { ImageSet } from '../shared/data';
import { recomputeBatchNorm } from '../shared/eval/batch-norm';
import { predictProbabilities } from '../shared/eval/predict';
import { readMemberWeights, writeMemberWeights } from '../shared/eval/weights';
import { ModelSpec } from '../shared/model/models';
import { gatherCoordinates, scatterCoordinates } from '../shared/train/coordinates';
import { Member } from '../shared/train/member';

// The wasm backend is the one members train on where no native TensorFlow is installed, and it
// needs the Conv2DBackpropFilter kernel that registerWasmTrainingKernels adds for the cnn.
before(async () => {
  await loadBackend('wasm');
});

const MLP: ModelSpec = { name: 'mlp', inputShape: [8, 8, 1], numClasses: 3 };
const CNN: ModelSpec = { name: 'cnn', inputShape: [8, 8, 1], numClasses: 3 };

function randomBatch(spec: ModelSpec, batchSize: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.randomNormal([batchSize, ...spec.inputShape], 0, 1, 'float32', 3) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: batchSize }, (_, i) => i % spec.numClasses), 'int32');
  const y = tf.oneHot(labels, spec.numClasses).toFloat() as tf.Tensor2D;
  labels.dispose();
  return { x, y };
}

function smallSet(count: number): ImageSet {
  const images = Uint8Array.from({ length: count * 64 }, (_, i) => (i * 29) % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 3);
  return { images, labels, count, height: 8, width: 8, channels: 1, numClasses: 3 };
}

describe('tensor count', () => {
  it('stays flat over 200 mlp steps', () => {
    const member = new Member(MLP, 1);
    const { x, y } = randomBatch(MLP, 8);
    try {
      // The first step may create lasting state (kernel setup); count after it.
      member.trainStep(x, y, 0.05);
      const before = tf.memory().numTensors;
      for (let step = 0; step < 200; step++) {
        const loss = member.trainStep(x, y, 0.05);
        assert.ok(Number.isFinite(loss), `loss at step ${step} is ${loss}`);
        if (step % 50 === 49) assert.equal(tf.memory().numTensors, before, `after ${step + 1} steps`);
      }
      assert.equal(tf.memory().numTensors, before);
    } finally {
      member.dispose();
      tf.dispose([x, y]);
    }
  });

  it('stays flat over cnn steps', () => {
    const member = new Member(CNN, 1);
    const { x, y } = randomBatch(CNN, 4);
    try {
      member.trainStep(x, y, 0.05);
      const before = tf.memory().numTensors;
      for (let step = 0; step < 5; step++) {
        assert.ok(Number.isFinite(member.trainStep(x, y, 0.05)), `loss at step ${step}`);
      }
      assert.equal(tf.memory().numTensors, before);
    } finally {
      member.dispose();
      tf.dispose([x, y]);
    }
  });

  it('returns to start after dispose', () => {
    // Model weights, batch-norm statistics and momentum buffers must all be freed with the member.
    for (const spec of [MLP, CNN]) {
      const { x, y } = randomBatch(spec, 4);
      const before = tf.memory().numTensors;
      const member = new Member(spec, 2);
      member.trainStep(x, y, 0.05);
      member.dispose();
      assert.equal(tf.memory().numTensors, before, spec.name);
      tf.dispose([x, y]);
    }
  });

  it('stays flat in evaluation helpers', () => {
    const member = new Member(CNN, 3);
    const set = smallSet(10);
    const normalization = { mean: [0.5], std: [0.3] };
    try {
      const weights = readMemberWeights(member.model);
      const before = tf.memory().numTensors;
      for (let round = 0; round < 3; round++) {
        writeMemberWeights(member.model, weights);
        predictProbabilities(member.model, set, normalization, 4);
        recomputeBatchNorm(member.model, set, normalization, { batches: 2, batchSize: 4, seed: round });
        const indices = Int32Array.from([0, 5, 17]);
        scatterCoordinates(member.optimizer.buffers[0], indices, gatherCoordinates(member.variables[0], indices));
      }
      assert.equal(tf.memory().numTensors, before);
    } finally {
      member.dispose();
    }
  });
});
