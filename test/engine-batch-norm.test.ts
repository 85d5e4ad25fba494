import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { BatchStream, ImageSet, NO_AUGMENTATION, Normalization } from '../shared/data';
import { recomputeBatchNorm } from '../shared/eval/batch-norm';
import { buildModel } from '../shared/model/models';
import { readValues, statisticVariables, trainableVariables, writeValues } from '../shared/model/parameters';

before(async () => {
  await loadBackend('cpu');
});

const NORMALIZATION: Normalization = { mean: [0.5], std: [0.25] };
const SIZE = 6;
const BATCH_SIZE = 4;
const SEED = 5;

/** 12 grayscale 6x6 images with varied pixels: pixel p of image i is (37i + 11p + 5(i mod 3)p) mod 256. */
function makeSet(): ImageSet {
  const count = 12;
  const pixels = SIZE * SIZE;
  const images = new Uint8Array(count * pixels);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = (37 * i + 11 * p + 5 * (i % 3) * p) % 256;
  }
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 2);
  return { images, labels, count, height: SIZE, width: SIZE, channels: 1, numClasses: 2 };
}

/** Normalizes the images at `indices` as BatchStream does and returns them as one float tensor. */
function imagesTensor(set: ImageSet, indices: ArrayLike<number>): tf.Tensor4D {
  const pixels = SIZE * SIZE;
  const x = new Float32Array(indices.length * pixels);
  for (let i = 0; i < indices.length; i++) {
    for (let p = 0; p < pixels; p++) {
      const byte = set.images[indices[i] * pixels + p];
      x[i * pixels + p] = Math.fround((byte / 255 - NORMALIZATION.mean[0]) / NORMALIZATION.std[0]);
    }
  }
  return tf.tensor4d(x, [indices.length, SIZE, SIZE, 1]);
}

interface BatchStatistics {
  mean1: Float32Array;
  variance1: Float32Array;
  mean2: Float32Array;
  variance2: Float32Array;
}

/**
 * Batch statistics of bn1 and bn2 for one batch, computed with plain ops from
 * the cnn's weights: conv1, bn1 normalizing with this batch's own mean and
 * variance, ReLU, 2x2 max pooling, conv2. The variance is the biased one
 * (mean of squared deviations), as tf.moments gives it.
 */
function batchStatistics(model: tf.LayersModel, x: tf.Tensor4D): BatchStatistics {
  const [kernel1, gamma1, beta1, kernel2] = trainableVariables(model);
  return tf.tidy(() => {
    const conv1 = tf.conv2d(x, kernel1 as tf.Tensor4D, 1, 'same');
    const moments1 = tf.moments(conv1, [0, 1, 2]);
    const normalized = tf.batchNorm(conv1, moments1.mean, moments1.variance, beta1, gamma1, 1e-5);
    const pooled = tf.maxPool(tf.relu(normalized) as tf.Tensor4D, 2, 2, 'valid');
    const conv2 = tf.conv2d(pooled, kernel2 as tf.Tensor4D, 1, 'same');
    const moments2 = tf.moments(conv2, [0, 1, 2]);
    return {
      mean1: moments1.mean.dataSync() as Float32Array,
      variance1: moments1.variance.dataSync() as Float32Array,
      mean2: moments2.mean.dataSync() as Float32Array,
      variance2: moments2.variance.dataSync() as Float32Array,
    };
  });
}

function meanOf(arrays: Float32Array[]): number[] {
  return Array.from(arrays[0], (_, c) => arrays.reduce((sum, a) => sum + a[c], 0) / arrays.length);
}

function assertClose(actual: Float32Array, expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, label);
  for (let c = 0; c < expected.length; c++) {
    const tolerance = 1e-5 + 1e-5 * Math.abs(expected[c]);
    assert.ok(Math.abs(actual[c] - expected[c]) <= tolerance, `${label} channel ${c}: ${actual[c]} is not ${expected[c]}`);
  }
}

/** Builds a cnn whose bn1 has gamma 1.5 and beta 0.2, and whose running statistics are 7, a value no batch gives. */
function cnnWithStaleStatistics(): tf.LayersModel {
  const model = buildModel({ name: 'cnn', inputShape: [SIZE, SIZE, 1], numClasses: 2 }, 3);
  const variables = trainableVariables(model);
  writeValues([variables[1], variables[2]], [new Float32Array(32).fill(1.5), new Float32Array(32).fill(0.2)]);
  const statistics = statisticVariables(model);
  writeValues(statistics, statistics.map((s) => new Float32Array(s.size).fill(7)));
  return model;
}

describe('recomputeBatchNorm', () => {
  const set = makeSet();
  const options = { batches: 3, batchSize: BATCH_SIZE, seed: SEED };

  it('sets statistics to batch means', () => {
    const model = cnnWithStaleStatistics();
    assert.equal(recomputeBatchNorm(model, set, NORMALIZATION, options), true);

    // The stream with the same seed and batch size visits the same three batches of four in the same order.
    const order = new BatchStream(set, { batchSize: BATCH_SIZE, seed: SEED, augmentation: NO_AUGMENTATION, normalization: NORMALIZATION }).epochOrder();
    const perBatch: BatchStatistics[] = [];
    for (let b = 0; b < 3; b++) {
      const x = imagesTensor(set, order.subarray(b * BATCH_SIZE, (b + 1) * BATCH_SIZE));
      perBatch.push(batchStatistics(model, x));
      x.dispose();
    }

    const [mean1, variance1, mean2, variance2] = readValues(statisticVariables(model));
    assertClose(mean1, meanOf(perBatch.map((s) => s.mean1)), 'bn1 moving mean');
    assertClose(variance1, meanOf(perBatch.map((s) => s.variance1)), 'bn1 moving variance');
    assertClose(mean2, meanOf(perBatch.map((s) => s.mean2)), 'bn2 moving mean');
    assertClose(variance2, meanOf(perBatch.map((s) => s.variance2)), 'bn2 moving variance');
  });

  it('matches conv1 mean over the set', () => {
    // Three equal batches cover the 12 images once, so the mean of their means is conv1's mean over all
    // images in any order, and this check needs no batch order from the stream.
    const model = cnnWithStaleStatistics();
    recomputeBatchNorm(model, set, NORMALIZATION, options);

    const x = imagesTensor(set, Array.from({ length: set.count }, (_, i) => i));
    const conv1 = model.getLayer('conv1').apply(x) as tf.Tensor4D;
    const expected = tf.tidy(() => conv1.mean([0, 1, 2]));
    assertClose(readValues(statisticVariables(model))[0], Array.from(expected.dataSync()), 'bn1 moving mean');
    tf.dispose([x, conv1, expected]);
  });

  it('restores layer momentum', () => {
    const model = cnnWithStaleStatistics();
    recomputeBatchNorm(model, set, NORMALIZATION, options);
    for (const name of ['bn1', 'bn2']) {
      assert.equal((model.getLayer(name) as unknown as { momentum: number }).momentum, 0.9, name);
    }
  });

  it('leaves trainable weights alone', () => {
    const model = cnnWithStaleStatistics();
    const before = readValues(trainableVariables(model));
    recomputeBatchNorm(model, set, NORMALIZATION, options);
    const after = readValues(trainableVariables(model));
    before.forEach((values, i) => assert.deepEqual(after[i], values, `tensor ${i}`));
  });

  it('caps batches at one epoch', () => {
    // 12 images give 3 batches of 4, so asking for 50 runs the same 3 batches.
    const capped = cnnWithStaleStatistics();
    recomputeBatchNorm(capped, set, NORMALIZATION, { ...options, batches: 50 });
    const exact = cnnWithStaleStatistics();
    recomputeBatchNorm(exact, set, NORMALIZATION, options);
    const cappedStatistics = readValues(statisticVariables(capped));
    readValues(statisticVariables(exact)).forEach((values, i) => assert.deepEqual(cappedStatistics[i], values, `statistic ${i}`));
  });

  it('returns false without batch norm', () => {
    const model = buildModel({ name: 'mlp', inputShape: [SIZE, SIZE, 1], numClasses: 2 }, 3);
    const before = readValues(trainableVariables(model));
    assert.equal(recomputeBatchNorm(model, set, NORMALIZATION, options), false);
    readValues(trainableVariables(model)).forEach((values, i) => assert.deepEqual(values, before[i]));
  });
});
