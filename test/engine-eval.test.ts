import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { DatasetSplits, ImageSet } from '../shared/data';
import { evaluateEnsemble } from '../shared/eval/ensemble';
import { recomputeBatchNorm } from '../shared/eval/batch-norm';
import { accuracyOf, meanProbabilities, predictProbabilities } from '../shared/eval/predict';
import { averageWeights, meanTensors, MemberWeights, readMemberWeights, writeMemberWeights } from '../shared/eval/weights';
import { buildModel, ModelSpec } from '../shared/model/models';

before(async () => {
  await loadBackend('cpu');
});

/** Compares float32 results with decimal values worked out by hand. */
function assertClose(actual: ArrayLike<number>, expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, label);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-6, `${label} [${i}]: ${actual[i]} is not ${expected[i]}`);
  }
}

describe('accuracyOf', () => {
  // Rows [0.9, 0.1], [0.4, 0.6], [0.5, 0.5] predict 0, 1 and 0 (a tie goes to the lower class).
  const probabilities = Float32Array.from([0.9, 0.1, 0.4, 0.6, 0.5, 0.5]);

  it('counts argmax hits', () => {
    // Labels 0, 0, 0: rows 1 and 3 hit, 2/3.
    assert.equal(accuracyOf(probabilities, Uint8Array.from([0, 0, 0]), 2), 2 / 3);
    // Labels 0, 1, 1: rows 1 and 2 hit, 2/3.
    assert.equal(accuracyOf(probabilities, Uint8Array.from([0, 1, 1]), 2), 2 / 3);
    // Labels 1, 0, 1: no row hits.
    assert.equal(accuracyOf(probabilities, Uint8Array.from([1, 0, 1]), 2), 0);
  });

  it('returns zero for no rows', () => {
    assert.equal(accuracyOf(new Float32Array(0), new Uint8Array(0), 2), 0);
  });
});

describe('ensemble of probabilities', () => {
  // Labels 0, 0, 1.
  // A: [0.9, 0.1], [0.4, 0.6], [0.5, 0.5] predicts 0, 1, 0: 1/3.
  // B: [0.2, 0.8], [0.9, 0.1], [0.3, 0.7] predicts 1, 0, 1: 2/3.
  // Mean: [0.55, 0.45], [0.65, 0.35], [0.4, 0.6] predicts 0, 0, 1: 3/3.
  const labels = Uint8Array.from([0, 0, 1]);
  const a = Float32Array.from([0.9, 0.1, 0.4, 0.6, 0.5, 0.5]);
  const b = Float32Array.from([0.2, 0.8, 0.9, 0.1, 0.3, 0.7]);

  it('averages member probabilities', () => {
    assertClose(meanProbabilities([a, b]), [0.55, 0.45, 0.65, 0.35, 0.4, 0.6], 'mean');
    assertClose(meanProbabilities([a]), Array.from(a), 'one member');
  });

  it('beats both members here', () => {
    assert.equal(accuracyOf(a, labels, 2), 1 / 3);
    assert.equal(accuracyOf(b, labels, 2), 2 / 3);
    assert.equal(accuracyOf(meanProbabilities([a, b]), labels, 2), 1);
  });
});

describe('averageWeights', () => {
  it('takes the element-wise mean', () => {
    // ([1, 2] + [3, 6]) / 2 = [2, 4]; ([3] + [-3]) / 2 = [0]; statistics ([0.5] + [1.5]) / 2 = [1].
    const first: MemberWeights = { parameters: [Float32Array.from([1, 2]), Float32Array.from([3])], statistics: [Float32Array.from([0.5])] };
    const second: MemberWeights = { parameters: [Float32Array.from([3, 6]), Float32Array.from([-3])], statistics: [Float32Array.from([1.5])] };
    const average = averageWeights([first, second]);
    assert.deepEqual(average.parameters.map((t) => Array.from(t)), [[2, 4], [0]]);
    assert.deepEqual(average.statistics.map((t) => Array.from(t)), [[1]]);
    // Inputs are not modified.
    assert.deepEqual(Array.from(first.parameters[0]), [1, 2]);
  });

  it('divides by the member count', () => {
    // (1 + 2 + 6) / 3 = 3 and (0 + 0 + 0.3) / 3 = 0.1.
    const mean = meanTensors([[Float32Array.from([1, 0])], [Float32Array.from([2, 0])], [Float32Array.from([6, 0.3])]]);
    assertClose(mean[0], [3, 0.1], 'mean');
  });

  it('rejects an empty member list', () => {
    assert.throws(() => meanTensors([]), /empty set of members/);
  });
});

/**
 * Returns the weights of a hand-set mlp on 4x4 images and 2 classes. dense1 unit 0 takes the mean
 * pixel m (kernel column 0 is 1/16 everywhere), dense2 unit 0 copies it, and
 * the logits are [-m + 0.5, m - 0.5] plus `extraBias`. With no extra bias the
 * model predicts class 1 exactly when m > 0.5; every other unit is zero.
 */
function thresholdWeights(extraBias: [number, number]): MemberWeights {
  const dense1 = new Float32Array(16 * 256);
  for (let i = 0; i < 16; i++) dense1[i * 256] = 1 / 16;
  const dense2 = new Float32Array(256 * 128);
  dense2[0] = 1;
  const logits = new Float32Array(128 * 2);
  logits[0] = -1;
  logits[1] = 1;
  return {
    parameters: [dense1, new Float32Array(256), dense2, new Float32Array(128), logits, Float32Array.from([0.5 + extraBias[0], -0.5 + extraBias[1]])],
    statistics: [],
  };
}

const SPEC: ModelSpec = { name: 'mlp', inputShape: [4, 4, 1], numClasses: 2 };
const DARK = 51; // 51 / 255 = 0.2
const BRIGHT = 204; // 204 / 255 = 0.8

/** 4x4 images of one uniform byte each, with their labels. */
function uniformSet(pixels: number[], labels: number[]): ImageSet {
  const images = new Uint8Array(pixels.length * 16);
  pixels.forEach((value, i) => images.fill(value, i * 16, (i + 1) * 16));
  return { images, labels: Uint8Array.from(labels), count: pixels.length, height: 4, width: 4, channels: 1, numClasses: 2 };
}

/** With mean 0 and std 1 a byte v normalizes to v / 255, so the mean pixel m is 0.2 or 0.8. */
const SPLITS: DatasetSplits = {
  name: 'fashion-mnist',
  train: uniformSet([DARK, BRIGHT, DARK, BRIGHT], [0, 1, 0, 1]),
  validation: uniformSet([DARK, BRIGHT, DARK, BRIGHT], [0, 1, 0, 1]),
  // The last image is bright but labelled 0, so the threshold model gets 4 of 5.
  test: uniformSet([DARK, DARK, BRIGHT, BRIGHT, BRIGHT], [0, 0, 1, 1, 0]),
  normalization: { mean: [0], std: [1] },
};

/** Test accuracy of each member and of their mean softmax, computed with model.predict instead of predictProbabilities. */
function directAccuracies(members: MemberWeights[], set: ImageSet): { members: number[]; ensemble: number } {
  const model = buildModel(SPEC, 0);
  const x = tf.tensor4d(Float32Array.from(set.images, (byte) => byte / 255), [set.count, 4, 4, 1]);
  const probabilities = members.map((weights) => {
    const tensors = weights.parameters.map((values, i) => tf.tensor(values, model.weights[i].shape as number[]));
    model.setWeights(tensors);
    tf.dispose(tensors);
    return tf.tidy(() => tf.softmax(model.predict(x) as tf.Tensor2D).arraySync() as number[][]);
  });
  x.dispose();
  model.dispose();

  const accuracy = (rows: number[][]): number => rows.filter((row, i) => (row[1] > row[0] ? 1 : 0) === set.labels[i]).length / set.count;
  const mean = probabilities[0].map((_, row) => [0, 1].map((c) => probabilities.reduce((sum, p) => sum + p[row][c], 0) / members.length));
  return { members: probabilities.map(accuracy), ensemble: accuracy(mean) };
}

describe('evaluateEnsemble', () => {
  // Rank 1 is the threshold model: validation 4/4 = 1, test 4/5 = 0.8.
  // Rank 0 is broken: +1000 on class 1's bias makes it always predict 1, so validation 2/4 = 0.5 and
  // test 2/5 = 0.4 (labels 0, 0, 1, 1, 0).
  // Ensemble: rank 0 gives p1 = 1, so the mean has p1 >= 0.5 >= p0, equal only if rank 1 gave p1 = 0,
  // which it never does (its smallest p1 is sigmoid(2 * 0.2 - 1) = 0.35); it predicts 1 everywhere: 0.4.
  // Naive average: the class-1 bias becomes (-0.5 + 999.5) / 2 = 499.5, again always 1: 0.4. No batch
  // norm, so recomputing changes nothing and the averaged model also scores 0.4.
  // Greedy soup: rank 1 first (validation 1), adding rank 0 drops validation to 0.5, so the soup is
  // rank 1 alone: validation 1, test 0.8.
  const good = thresholdWeights([0, 0]);
  const broken = thresholdWeights([0, 1000]);
  const recompute = { batches: 2, batchSize: 2, seed: 0 };

  it('matches hand-worked accuracies', () => {
    const { evaluation } = evaluateEnsemble(buildModel(SPEC, 9), [broken, good], SPLITS, recompute);
    assert.deepEqual(evaluation.members, [0.4, 0.8]);
    assert.deepEqual(evaluation.membersValidation, [0.5, 1]);
    assert.equal(evaluation.ensemble, 0.4);
    assert.equal(evaluation.naiveAverage, 0.4);
    assert.equal(evaluation.averaged, 0.4);
  });

  it('matches direct predictions', () => {
    const { evaluation } = evaluateEnsemble(buildModel(SPEC, 9), [broken, good], SPLITS, recompute);
    const direct = directAccuracies([broken, good], SPLITS.test);
    assert.deepEqual(evaluation.members, direct.members);
    assert.equal(evaluation.ensemble, direct.ensemble);
  });

  it('leaves broken member out of soup', () => {
    const { evaluation } = evaluateEnsemble(buildModel(SPEC, 9), [broken, good], SPLITS, recompute);
    assert.deepEqual(evaluation.greedySoup, { accuracy: 0.8, validation: 1, ranks: [1] });
  });

  it('returns the averaged weights', () => {
    const scratch = buildModel(SPEC, 9);
    const { averaged } = evaluateEnsemble(scratch, [broken, good], SPLITS, recompute);
    const expected = averageWeights([broken, good]);
    assert.deepEqual(averaged, expected);
    // The class-1 bias, worked out above.
    assert.deepEqual(Array.from(averaged.parameters[5]), [0.5, 499.5]);
    // The scratch model's weights are overwritten, here last by the greedy soup (rank 1 alone).
    assert.deepEqual(readMemberWeights(scratch).parameters[5], good.parameters[5]);
  });

  it('keeps a member that ties in soup', () => {
    // Two copies of the threshold model: the soup of both equals each, validation stays 1, so both are kept.
    const { evaluation } = evaluateEnsemble(buildModel(SPEC, 9), [good, good], SPLITS, recompute);
    assert.deepEqual(evaluation.members, [0.8, 0.8]);
    assert.equal(evaluation.ensemble, 0.8);
    assert.deepEqual(evaluation.greedySoup, { accuracy: 0.8, validation: 1, ranks: [0, 1] });
  });

  it('recomputes statistics of the average', () => {
    // For a cnn the averaged model must carry statistics recomputed for the averaged weights, not the mean of the
    // members' statistics. The reference applies the same two steps by hand to another model.
    const cnn: ModelSpec = { name: 'cnn', inputShape: [4, 4, 1], numClasses: 2 };
    const members = [1, 2].map((seed) => readMemberWeights(buildModel(cnn, seed)));
    const { evaluation, averaged } = evaluateEnsemble(buildModel(cnn, 9), members, SPLITS, recompute);

    const naive = averageWeights(members);
    const reference = buildModel(cnn, 10);
    writeMemberWeights(reference, naive);
    recomputeBatchNorm(reference, SPLITS.train, SPLITS.normalization, recompute);
    const expected = readMemberWeights(reference);

    assert.deepEqual(averaged.parameters, naive.parameters);
    assert.deepEqual(averaged.statistics, expected.statistics);
    // Fresh members have moving mean 0 and variance 1; batch statistics of these images are not those.
    assert.notDeepEqual(averaged.statistics, naive.statistics);
    const probabilities = predictProbabilities(reference, SPLITS.test, SPLITS.normalization);
    assert.equal(evaluation.averaged, accuracyOf(probabilities, SPLITS.test.labels, 2));
  });
});
