import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels';
import { buildModel, ModelSpec } from '../shared/model/models';
import { Member } from '../shared/train/member';
import { Rng } from '../shared/rng';
import { useBackend } from './helpers/wasm-backend';

/** The wasm kernels that registerWasmTrainingKernels wraps, as tfjs-backend-wasm registered them on import. */
const ORIGINAL_WASM_KERNELS = [tf.Tile, tf.Sum, tf.Mean, tf.MaxPoolGrad, tf.Conv2DBackpropInput, tf.Identity, tf.BatchMatMul, tf._FusedMatMul].map(
  (kernelName) => {
    const config = tf.getKernel(kernelName, 'wasm');
    assert.ok(config !== undefined, `tfjs-backend-wasm registers ${kernelName}`);
    return config;
  },
);

before(async () => {
  registerWasmTrainingKernels();
  await useBackend('wasm');
});


/** Runs `compute` with the original wasm kernels registered in place of the wrappers, then puts the wrappers back. */
function withOriginalWasmKernels<T>(compute: () => T): T {
  const installed = ORIGINAL_WASM_KERNELS.map(({ kernelName }) => tf.getKernel(kernelName, 'wasm'));
  const register = (configs: Array<tf.KernelConfig | undefined>): void => {
    for (const config of configs) {
      assert.ok(config !== undefined, 'every swapped kernel is registered');
      tf.unregisterKernel(config.kernelName, 'wasm');
      tf.registerKernel(config);
    }
  };
  register(ORIGINAL_WASM_KERNELS);
  try {
    return compute();
  } finally {
    register(installed);
  }
}

/**
 * Builds the model of `spec` with fixed weights and returns the gradients of
 * its softmax cross-entropy loss in training mode on a fixed batch, as host
 * copies in the order of the model's trainable weights.
 */
function modelGradients(spec: ModelSpec, batchSize: number): Float32Array[] {
  const model = buildModel(spec, 7);
  try {
    return tf.tidy(() => {
      const rng = new Rng(3000);
      const images = Float32Array.from({ length: batchSize * tf.util.sizeFromShape(spec.inputShape) }, () => 2 * rng.nextFloat() - 1);
      const x = tf.tensor4d(images, [batchSize, ...spec.inputShape]);
      const labels = tf.tensor1d(Array.from({ length: batchSize }, (_, i) => (3 * i + 1) % spec.numClasses), 'int32');
      const y = tf.oneHot(labels, spec.numClasses);
      const weights = model.trainableWeights.map((weight) => weight.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, weights);
      return weights.map((weight) => grads[weight.name].dataSync() as Float32Array);
    });
  } finally {
    model.dispose();
  }
}

/**
 * Asserts that each gradient on the left is within `tolerance` times the
 * largest element of the same gradient on the right.
 */
function assertGradientsAgree(actual: Float32Array[], expected: Float32Array[], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: gradient count`);
  expected.forEach((reference, index) => {
    const largest = reference.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    assert.ok(largest > 0, `${label}: gradient ${index} is all zeros`);
    const worst = actual[index].reduce((max, value, i) => Math.max(max, Math.abs(value - reference[i])), 0);
    assert.ok(worst <= tolerance * largest, `${label}: gradient ${index} differs by ${worst}, more than ${tolerance} of its largest element ${largest}`);
  });
}

// The gradients pass through batch norm, relu, max pooling and softmax, so no
// sums-of-products bound applies. Kernels that sum in another order differ by a
// few float32 ulps (about 1e-7 relative), and each layer can enlarge that by a
// small factor. A limit of 1e-4 of the largest element leaves a wide margin,
// while a misplaced term moves elements by about the largest element. A relu
// input or max-pool tie within rounding of its switching point would break
// this, and the fixed data here has none.
const RELATIVE_TOLERANCE = 1e-4;

describe('cnn gradients on wasm', () => {
  const CNN: ModelSpec = { name: 'cnn', inputShape: [28, 28, 1], numClasses: 10 };

  it('match original wasm kernels', async () => {
    await useBackend('wasm');
    const wrapped = modelGradients(CNN, 8);
    const original = withOriginalWasmKernels(() => modelGradients(CNN, 8));

    assertGradientsAgree(wrapped, original, RELATIVE_TOLERANCE, 'cnn, wrapped against original');
  });

  // The cpu backend needs seconds per image for the cnn, so the batch is small.
  it('match cpu backend', async () => {
    await useBackend('wasm');
    const onWasm = modelGradients(CNN, 2);
    await useBackend('cpu');
    const onCpu = modelGradients(CNN, 2);
    await useBackend('wasm');

    assertGradientsAgree(onWasm, onCpu, RELATIVE_TOLERANCE, 'cnn, wasm against cpu');
  });
});

describe('resnet20 gradients on wasm', () => {
  it('match original wasm kernels', async () => {
    const spec: ModelSpec = { name: 'resnet20', inputShape: [32, 32, 3], numClasses: 10 };
    await useBackend('wasm');
    const wrapped = modelGradients(spec, 4);
    const original = withOriginalWasmKernels(() => modelGradients(spec, 4));

    assertGradientsAgree(wrapped, original, RELATIVE_TOLERANCE, 'resnet20, wrapped against original');
  });

  // 8x8 images keep the cpu backend to about a second, and still pass through both stride-2 stages.
  it('match cpu backend on 8x8 images', async () => {
    const spec: ModelSpec = { name: 'resnet20', inputShape: [8, 8, 3], numClasses: 10 };
    await useBackend('wasm');
    const onWasm = modelGradients(spec, 2);
    await useBackend('cpu');
    const onCpu = modelGradients(spec, 2);
    await useBackend('wasm');

    assertGradientsAgree(onWasm, onCpu, RELATIVE_TOLERANCE, 'resnet20, wasm against cpu');
  });
});

describe('wrapped wasm kernels leak test', () => {
  const WARMUP_STEPS = 3;
  const MEASURED_STEPS = 20;

  /** Returns the size of the wasm memory. The Emscripten module has HEAPU8, though its TypeScript type omits it. */
  function heapBytes(backend: BackendWasm): number {
    return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.length;
  }

  // A cnn step runs every wrapper: Tile, Sum and Mean in batch norm, MaxPoolGrad,
  // Identity for saved tensors, and both Conv2DBackpropInput paths (one input channel, then 32).
  it('keeps tensor, data id and heap counts flat over cnn steps', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const spec: ModelSpec = { name: 'cnn', inputShape: [12, 12, 1], numClasses: 3 };
    const member = new Member(spec, 1);
    const x = tf.randomNormal([4, 12, 12, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3).toFloat() as tf.Tensor2D);
    try {
      for (let step = 0; step < WARMUP_STEPS; step++) member.trainStep(x, y, 0.01);
      const tensorsBefore = tf.memory().numTensors;
      const dataIdsBefore = backend.numDataIds();
      const heapBytesBefore = heapBytes(backend);

      for (let step = 0; step < MEASURED_STEPS; step++) member.trainStep(x, y, 0.01);

      assert.equal(tf.memory().numTensors, tensorsBefore, 'tf.memory().numTensors');
      assert.equal(backend.numDataIds(), dataIdsBefore, 'wasm backend numDataIds()');
      assert.equal(heapBytes(backend), heapBytesBefore, 'wasm heap bytes');
    } finally {
      member.dispose();
      tf.dispose([x, y]);
    }
  });

  // Stride-2 convolutions take the patch product for their input gradient.
  it('keeps counts flat over strided convolution gradients', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    const step = (): void => {
      tf.tidy(() => {
        const x = tf.ones([2, 8, 8, 4]) as tf.Tensor4D;
        const filter = tf.ones([3, 3, 4, 6]) as tf.Tensor4D;
        const convolve = (input: tf.Tensor): tf.Tensor => tf.conv2d(input as tf.Tensor4D, filter, 2, 'same');
        tf.grad(convolve)(x, tf.ones([2, 4, 4, 6])).dataSync();
      });
    };
    for (let i = 0; i < WARMUP_STEPS; i++) step();
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = backend.numDataIds();
    const heapBytesBefore = heapBytes(backend);

    for (let i = 0; i < 10 * MEASURED_STEPS; i++) step();

    assert.equal(tf.memory().numTensors, tensorsBefore, 'tf.memory().numTensors');
    assert.equal(backend.numDataIds(), dataIdsBefore, 'wasm backend numDataIds()');
    assert.equal(heapBytes(backend), heapBytesBefore, 'wasm heap bytes');
  });
});
