import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { readValues } from '../shared/model/parameters';
import { gatherCoordinates, scatterCoordinates } from '../shared/train/coordinates';
import { Member } from '../shared/train/member';
import { cosineLearningRate } from '../shared/train/schedule';
import { SgdMomentum } from '../shared/train/sgd';

before(async () => {
  await loadBackend('cpu');
});

/** Allowed gap between float32 results and the decimal working in the comments, which differ by a few ulps. */
const TOLERANCE = 1e-6;

function assertClose(actual: ArrayLike<number>, expected: number[], message?: string): void {
  assert.equal(actual.length, expected.length, message);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= TOLERANCE, `${message ?? ''} [${i}]: ${actual[i]} is not ${expected[i]}`);
  }
}

/** Applies one update with host gradients and frees them. */
function step(sgd: SgdMomentum, gradients: number[][], lr: number): void {
  const tensors = gradients.map((g, i) => tf.tensor(g, sgd.variables[i].shape));
  try {
    sgd.apply(tensors, lr);
  } finally {
    tf.dispose(tensors);
  }
}

describe('SgdMomentum', () => {
  // momentum m = 0.9, weight decay wd = 0.1, lr = 0.5, w0 = [1, -2].
  // step 1, g = [0.5, 1]:   v = 0 + g + wd*w = [0.5 + 0.1, 1 - 0.2] = [0.6, 0.8]
  //                         w = w - lr*v = [1 - 0.3, -2 - 0.4] = [0.7, -2.4]
  // step 2, g = [-1, 0.5]:  g + wd*w = [-1 + 0.07, 0.5 - 0.24] = [-0.93, 0.26]
  //                         v = 0.9*[0.6, 0.8] + [-0.93, 0.26] = [-0.39, 0.98]
  //                         w = [0.7 + 0.195, -2.4 - 0.49] = [0.895, -2.89]
  it('matches two hand-worked steps', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new SgdMomentum([w], { momentum: 0.9, weightDecay: 0.1 });
    try {
      assertClose(sgd.buffers[0].dataSync(), [0, 0], 'initial v');

      step(sgd, [[0.5, 1]], 0.5);
      assertClose(sgd.buffers[0].dataSync(), [0.6, 0.8], 'v after step 1');
      assertClose(w.dataSync(), [0.7, -2.4], 'w after step 1');

      step(sgd, [[-1, 0.5]], 0.5);
      assertClose(sgd.buffers[0].dataSync(), [-0.39, 0.98], 'v after step 2');
      assertClose(w.dataSync(), [0.895, -2.89], 'w after step 2');
    } finally {
      sgd.dispose();
      w.dispose();
    }
  });

  // Without weight decay and momentum 0.5, lr 0.1, a = [[1, 2], [3, 4]], b = [10]:
  // step 1, ga = [[1, 1], [1, 1]], gb = [2]: va = ga, a = a - 0.1 = [[0.9, 1.9], [2.9, 3.9]]; vb = [2], b = [9.8]
  // step 2, ga = 0, gb = 0:  va = 0.5*1 = 0.5 each, a = a - 0.05 = [[0.85, 1.85], [2.85, 3.85]];
  //                          vb = [1], b = [9.7]
  it('keeps one buffer per variable', () => {
    const a = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
    const b = tf.variable(tf.tensor1d([10]));
    const sgd = new SgdMomentum([a, b], { momentum: 0.5, weightDecay: 0 });
    try {
      step(sgd, [[1, 1, 1, 1], [2]], 0.1);
      step(sgd, [[0, 0, 0, 0], [0]], 0.1);
      assertClose(a.dataSync(), [0.85, 1.85, 2.85, 3.85], 'a');
      assertClose(b.dataSync(), [9.7], 'b');
      assertClose(sgd.buffers[0].dataSync(), [0.5, 0.5, 0.5, 0.5], 'va');
      assertClose(sgd.buffers[1].dataSync(), [1], 'vb');
      assert.deepEqual(sgd.buffers[0].shape, [2, 2]);
    } finally {
      sgd.dispose();
      tf.dispose([a, b]);
    }
  });

  // Continues the first case: after two steps v = [-0.39, 0.98] and w = [0.895, -2.89].
  // Scattering 5 into v[0] and stepping with g = [0, 0]:
  //   g + wd*w = [0.0895, -0.289]; v = 0.9*[5, 0.98] + that = [4.5895, 0.593]
  //   w = [0.895 - 0.5*4.5895, -2.89 - 0.5*0.593] = [-1.39975, -3.1865]
  it('uses buffers written by scatter', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const sgd = new SgdMomentum([w], { momentum: 0.9, weightDecay: 0.1 });
    try {
      step(sgd, [[0.5, 1]], 0.5);
      step(sgd, [[-1, 0.5]], 0.5);
      assertClose(gatherCoordinates(sgd.buffers[0], Int32Array.from([1, 0])), [0.98, -0.39], 'gathered v');

      scatterCoordinates(sgd.buffers[0], Int32Array.from([0]), Float32Array.from([5]));
      assertClose(sgd.buffers[0].dataSync(), [5, 0.98], 'v after scatter');

      step(sgd, [[0, 0]], 0.5);
      assertClose(sgd.buffers[0].dataSync(), [4.5895, 0.593], 'v after step 3');
      assertClose(w.dataSync(), [-1.39975, -3.1865], 'w after step 3');
    } finally {
      sgd.dispose();
      w.dispose();
    }
  });
});

describe('Member.trainStep', () => {
  it('moves each variable by lr times its buffer', () => {
    // From zero buffers, one step sets v = g + wd*w and w' = w - lr*v, so w - w' = lr * v for every coordinate.
    const member = new Member({ name: 'mlp', inputShape: [4, 4, 1], numClasses: 3 }, 5, { momentum: 0.9, weightDecay: 5e-4 });
    const x = tf.randomNormal([6, 4, 4, 1], 0, 1, 'float32', 11) as tf.Tensor4D;
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3).toFloat() as tf.Tensor2D;
    try {
      const before = readValues(member.variables);
      const loss = member.trainStep(x, y, 0.25);
      const after = readValues(member.variables);
      const buffers = readValues(member.optimizer.buffers);

      // Softmax cross-entropy at a random start is near ln 3 = 1.0986.
      assert.ok(loss > 0.5, `loss ${loss}`);
      assert.ok(loss < 3, `loss ${loss}`);
      assert.ok(buffers.some((v) => v.some((value) => value !== 0)), 'some buffer moved');
      before.forEach((w, t) => {
        for (let i = 0; i < w.length; i++) {
          const moved = w[i] - after[t][i];
          assert.ok(Math.abs(moved - 0.25 * buffers[t][i]) <= 1e-6 + 1e-5 * Math.abs(moved), `tensor ${t} [${i}]`);
        }
      });
    } finally {
      member.dispose();
      tf.dispose([x, y]);
    }
  });
});

describe('cosineLearningRate', () => {
  it('falls from base to zero', () => {
    // 0.5 * 0.1 * (1 + cos(pi * t)): t = 0 gives 0.1, t = 0.5 gives 0.05, t = 1 gives 0.
    assert.equal(cosineLearningRate(0.1, 0, 100), 0.1);
    assert.ok(Math.abs(cosineLearningRate(0.1, 50, 100) - 0.05) < 1e-15);
    assert.ok(Math.abs(cosineLearningRate(0.1, 100, 100)) < 1e-15);
    // t = 0.25: 0.05 * (1 + 0.70710678) = 0.0853553
    assert.ok(Math.abs(cosineLearningRate(0.1, 25, 100) - 0.0853553390593) < 1e-12);
  });

  it('clamps outside the run', () => {
    assert.ok(Math.abs(cosineLearningRate(0.1, 150, 100)) < 1e-15);
    assert.equal(cosineLearningRate(0.1, -5, 100), 0.1);
    assert.equal(cosineLearningRate(0.1, 10, 0), 0.1);
  });
});
