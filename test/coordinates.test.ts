import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { gatherCoordinates, scatterCoordinates } from '../shared/train/coordinates';
import { useBackend } from './helpers/wasm-backend';

before(async () => {
  await loadBackend('wasm');
});

// Both host-memory backends read and write the variable's storage directly. Each must behave like a gather and a scatter kernel.
for (const backend of ['cpu', 'wasm'] as const) {
  describe(`coordinates on ${backend}`, () => {
    before(() => useBackend(backend));

    it('gathers row-major positions', () => {
      const v = tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
      try {
        assert.deepEqual(Array.from(gatherCoordinates(v, Int32Array.from([5, 0, 4]))), [6, 1, 5]);
        assert.deepEqual(gatherCoordinates(v, new Int32Array(0)), new Float32Array(0));
      } finally {
        v.dispose();
      }
    });

    it('gathers a copy, not a view', () => {
      const v = tf.variable(tf.tensor1d([1, 2, 3]));
      try {
        const gathered = gatherCoordinates(v, Int32Array.from([0, 2]));
        scatterCoordinates(v, Int32Array.from([0, 2]), Float32Array.from([7, 9]));
        assert.deepEqual(Array.from(gathered), [1, 3]);
      } finally {
        v.dispose();
      }
    });

    it('scatters row-major positions and keeps the shape', () => {
      const v = tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
      try {
        scatterCoordinates(v, Int32Array.from([1, 3]), Float32Array.from([-1, -4]));
        assert.deepEqual(v.shape, [2, 3]);
        assert.deepEqual(Array.from(v.dataSync()), [1, -1, 3, -4, 5, 6]);

        scatterCoordinates(v, new Int32Array(0), new Float32Array(0));
        assert.deepEqual(Array.from(v.dataSync()), [1, -1, 3, -4, 5, 6]);
      } finally {
        v.dispose();
      }
    });

    it('scatter reaches the next kernel', () => {
      const v = tf.variable(tf.tensor1d([1, 2, 3]));
      try {
        scatterCoordinates(v, Int32Array.from([1]), Float32Array.from([10]));
        const sum = tf.sum(v);
        assert.equal(sum.dataSync()[0], 14);
        sum.dispose();
      } finally {
        v.dispose();
      }
    });

    it('keeps shared data unchanged', () => {
      // tf.variable keeps the initial tensor's data id, so both refer to the same storage until one is written.
      const initial = tf.tensor1d([1, 2, 3]);
      const v = tf.variable(initial);
      try {
        scatterCoordinates(v, Int32Array.from([0]), Float32Array.from([5]));
        assert.deepEqual(Array.from(v.dataSync()), [5, 2, 3]);
        assert.deepEqual(Array.from(initial.dataSync()), [1, 2, 3]);
      } finally {
        v.dispose();
        initial.dispose();
      }
    });

    it('rejects out-of-range coordinates', () => {
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'small');
      try {
        assert.throws(() => gatherCoordinates(v, Int32Array.from([3])), /coordinate 3 is outside small, which has 3 values/);
        assert.throws(() => scatterCoordinates(v, Int32Array.from([0, -1]), Float32Array.from([9, 9])), /coordinate -1 is outside small/);
        assert.deepEqual(Array.from(v.dataSync()), [1, 2, 3]);
      } finally {
        v.dispose();
      }
    });

    it('rejects mismatched value count', () => {
      const v = tf.variable(tf.tensor1d([1, 2, 3]));
      try {
        assert.throws(() => scatterCoordinates(v, Int32Array.from([0, 1]), Float32Array.from([9])), /2 indices but 1 values/);
        assert.deepEqual(Array.from(v.dataSync()), [1, 2, 3]);
      } finally {
        v.dispose();
      }
    });
  });
}
