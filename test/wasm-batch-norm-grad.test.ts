import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels';
import { Rng } from '../shared/rng';
import { useBackend } from './helpers/wasm-backend';

before(async () => {
  registerWasmTrainingKernels();
  await useBackend('wasm');
});

interface BatchNormCase {
  name: string;
  x: number[];
  /** Shape of mean, variance, offset and scale. */
  statistics: number[];
}

function values(shape: number[], seed: number, low: number, high: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => low + (high - low) * rng.nextFloat()), shape);
}

/** Gradients of sum(batchNorm(...) * w) for a fixed w, with respect to x, mean, variance, offset and scale, as host copies. */
async function batchNormGradients(backend: 'cpu' | 'wasm', batchNormCase: BatchNormCase): Promise<Float32Array[]> {
  await useBackend(backend);
  const grads = tf.tidy(() => {
    const x = values(batchNormCase.x, 1, -2, 3);
    const mean = values(batchNormCase.statistics, 2, -0.5, 0.5);
    const variance = values(batchNormCase.statistics, 3, 0.2, 2);
    const offset = values(batchNormCase.statistics, 4, -1, 1);
    const scale = values(batchNormCase.statistics, 5, 0.5, 1.5);
    const weights = values(batchNormCase.x, 6, -1, 1);
    const inputs = [x, mean, variance, offset, scale];
    const loss = (...args: tf.Tensor[]): tf.Tensor => {
      const normalized = tf.batchNorm(args[0], args[1], args[2], args[3], args[4], 1e-3);
      return tf.sum(tf.mul(normalized, weights));
    };
    return tf.grads(loss)(inputs);
  });
  try {
    return grads.map((grad) => grad.dataSync() as Float32Array);
  } finally {
    tf.dispose(grads);
  }
}

/** Asserts that every element is within 1e-5 of the largest element of the same cpu gradient. */
function assertClose(onWasm: Float32Array[], onCpu: Float32Array[], label: string): void {
  assert.equal(onWasm.length, onCpu.length, `${label}: gradient count`);
  onCpu.forEach((reference, index) => {
    const largest = reference.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    const worst = onWasm[index].reduce((max, value, i) => Math.max(max, Math.abs(value - reference[i])), 0);
    assert.ok(worst <= 1e-5 * largest, `${label}: gradient ${index} differs by ${worst}, more than 1e-5 of ${largest}`);
  });
}

describe('wasm batch-norm gradient', () => {
  const CASES: BatchNormCase[] = [
    { name: 'channels-last 4D', x: [4, 5, 5, 3], statistics: [3] },
    { name: '2D', x: [6, 4], statistics: [4] },
    // Statistics of the full shape are not per channel, so the original gradient runs.
    { name: 'statistics of the full shape', x: [2, 3, 4], statistics: [2, 3, 4] },
  ];

  for (const batchNormCase of CASES) {
    it(`matches cpu: ${batchNormCase.name}`, async () => {
      const onWasm = await batchNormGradients('wasm', batchNormCase);
      const onCpu = await batchNormGradients('cpu', batchNormCase);
      assertClose(onWasm, onCpu, batchNormCase.name);
    });
  }

  it('runs without tiling on wasm', async () => {
    await useBackend('wasm');
    const x = values([4, 5, 5, 3], 1, -2, 3);
    const statistics = [2, 3, 4, 5].map((seed) => values([3], seed, 0.5, 1.5));
    try {
      // The original gradient tiles the per-channel factor to x's shape, and the wasm one multiplies it broadcast.
      const profile = await tf.profile(() => {
        const gradient = tf.grad((input: tf.Tensor) => tf.sum(tf.batchNorm(input, statistics[0], statistics[1], statistics[2], statistics[3])))(x);
        gradient.dispose();
      });
      const kernels = profile.kernels.map((kernel) => kernel.name);
      assert.ok(kernels.includes('FusedBatchNorm'), `profile lists ${kernels.join(', ')}`);
      assert.ok(!kernels.includes('Tile'), `profile lists ${kernels.join(', ')}`);
    } finally {
      tf.dispose([x, ...statistics]);
    }
  });
});
