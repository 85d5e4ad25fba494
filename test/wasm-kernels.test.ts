import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels';
import { isWashError } from '../shared/errors';
import { Rng } from '../shared/rng';
import { useBackend } from './helpers/wasm-backend';

type Shape4D = [number, number, number, number];
type Padding = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

// Importing @tensorflow/tfjs registered the cpu and webgl kernels. These are
// the registry entries as they were before registerWasmTrainingKernels ran.
const KERNELS_OF_OTHER_BACKENDS = ['cpu', 'webgl'].flatMap((backendName) =>
  [
    tf.Conv2DBackpropFilter,
    tf.BatchMatMul,
    tf._FusedMatMul,
    tf.Conv2DBackpropInput,
    tf.Identity,
    tf.MaxPoolGrad,
    tf.Sum,
    tf.Mean,
    tf.Tile,
  ].map((kernelName) => ({
    backendName,
    kernelName,
    config: tf.getKernel(kernelName, backendName),
  })),
);

before(async () => {
  registerWasmTrainingKernels();
  await useBackend('wasm');
});


/** Runs `compute` on `backend` and returns host copies of its outputs, leaving no tensor behind. */
async function computeOn(backend: 'cpu' | 'wasm', compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(backend);
  const outputs = tf.tidy(compute);
  try {
    return outputs.map((output) => output.dataSync() as Float32Array);
  } finally {
    tf.dispose(outputs);
  }
}

/** Values uniform in [-1, 1), the same in every run. */
function randomValues(shape: number[], seed: number): { values: Float32Array; shape: number[] } {
  const rng = new Rng(seed);
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = 2 * rng.nextFloat() - 1;
  return { values, shape };
}

function tensorOf(data: { values: Float32Array; shape: number[] }, absolute = false): tf.Tensor {
  const values = absolute ? data.values.map(Math.abs) : data.values;
  return tf.tensor(values, data.shape);
}

const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * Asserts that two float32 results of the same sums of products agree to
 * within float32 rounding. By the standard error bound for floating-point dot
 * products, a sum of n products computed in float32, in any order, is off from
 * the exact value by at most n * u / (1 - n * u) times the same sum over
 * absolute values, where u = 2^-24. The cpu backend sums in float64 and rounds
 * once, so the two results differ by at most about (n + 1) * u * that absolute
 * sum. The check allows twice that, for the rounding of the absolute sum itself
 * and of the denominator. A wrong index or a missing term changes an element by
 * about its own size, far above this limit.
 */
function assertWithinRounding(
  actual: Float32Array,
  expected: Float32Array,
  absoluteSums: Float32Array,
  terms: number,
  label: string,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let worst = { index: -1, ratio: 0, limit: 0 };
  for (let i = 0; i < expected.length; i++) {
    const limit = 2 * (terms + 1) * FLOAT32_UNIT_ROUNDOFF * absoluteSums[i];
    const difference = Math.abs(actual[i] - expected[i]);
    const ratio = difference === 0 ? 0 : difference / limit;
    if (ratio > worst.ratio) worst = { index: i, ratio, limit };
  }
  assert.ok(
    worst.ratio <= 1,
    `${label}: element ${worst.index} is ${actual[worst.index]} on wasm and ${expected[worst.index]} on cpu, more than the rounding limit ${worst.limit} apart`,
  );
}

interface ConvCase {
  name: string;
  x: Shape4D;
  filter: Shape4D;
  strides: number | [number, number];
  pad: Padding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Computes dy's shape and the number of products in one filter gradient element, batch * outHeight * outWidth. */
function termsPerFilterElement(convCase: ConvCase): { dyShape: Shape4D; terms: number } {
  const info = tf.backend_util.computeConv2DInfo(
    convCase.x, convCase.filter, convCase.strides, 1, convCase.pad, convCase.dimRoundingMode,
  );
  return { dyShape: info.outShape, terms: info.batchSize * info.outHeight * info.outWidth };
}

describe('wasm Conv2DBackpropFilter', () => {
  const GRADIENT_CASES: ConvCase[] = [
    { name: '7x7, batch 1, 1 channel, stride 1, same', x: [1, 7, 7, 1], filter: [3, 3, 1, 2], strides: 1, pad: 'same' },
    { name: '7x7, batch 2, 3 channels, stride 2, same', x: [2, 7, 7, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
    { name: '7x7, batch 3, 3 channels, stride 2, valid', x: [3, 7, 7, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'valid' },
    { name: '28x28, batch 2, 1 channel, stride 1, same', x: [2, 28, 28, 1], filter: [3, 3, 1, 4], strides: 1, pad: 'same' },
    // The last filter position ends on row 27, so row 28 of x is never read.
    { name: '28x28, batch 2, 3 channels, stride 2, valid', x: [2, 28, 28, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
    { name: '28x28, batch 1, 5x5 filter, stride 2, same', x: [1, 28, 28, 1], filter: [5, 5, 1, 2], strides: 2, pad: 'same' },
    // 'same' with a 1x1 filter pads nothing and never reads the last row and column.
    { name: '8x8, 1x1 filter, stride 2, same', x: [2, 8, 8, 3], filter: [1, 1, 3, 4], strides: 2, pad: 'same' },
    { name: '7x5, 3x2 filter, strides [2, 1], valid', x: [2, 7, 5, 3], filter: [3, 2, 3, 2], strides: [2, 1], pad: 'valid' },
    { name: 'explicit padding, stride 2', x: [1, 7, 6, 2], filter: [3, 3, 2, 2], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    { name: 'numeric padding 1, stride 2', x: [2, 7, 7, 1], filter: [3, 3, 1, 3], strides: 2, pad: 1 },
    // Stride 1 with 8 or more input channels takes the convolution over the batch axis, the rest the patch product.
    { name: '6x6, 8 channels, stride 1, same', x: [2, 6, 6, 8], filter: [3, 3, 8, 4], strides: 1, pad: 'same' },
    { name: '7x6, 9 channels, stride 1, valid', x: [3, 7, 6, 9], filter: [3, 2, 9, 2], strides: 1, pad: 'valid' },
  ];

  GRADIENT_CASES.forEach((convCase, caseIndex) => {
    it(`tf.grad matches cpu: ${convCase.name}`, async () => {
      const { dyShape, terms } = termsPerFilterElement(convCase);
      const x = randomValues(convCase.x, 100 + caseIndex);
      const filter = randomValues(convCase.filter, 200 + caseIndex);
      const dy = randomValues(dyShape, 300 + caseIndex);
      const filterGradient = (absolute: boolean): tf.Tensor[] => {
        const xTensor = tensorOf(x, absolute) as tf.Tensor4D;
        const convolve = (f: tf.Tensor) => tf.conv2d(xTensor, f as tf.Tensor4D, convCase.strides, convCase.pad);
        return [tf.grad(convolve)(tensorOf(filter), tensorOf(dy, absolute))];
      };

      const [onWasm] = await computeOn('wasm', () => filterGradient(false));
      const [onCpu] = await computeOn('cpu', () => filterGradient(false));
      const [absoluteSums] = await computeOn('cpu', () => filterGradient(true));

      assertWithinRounding(onWasm, onCpu, absoluteSums, terms, 'filter gradient');
    });
  });

  // The forward Conv2D kernel of either backend may not support these
  // paddings, so the backprop kernel is called directly.
  const KERNEL_CASES: ConvCase[] = [
    // outHeight = ceil((8 + 2 - 3) / 2 + 1) = 5, so the last filter position
    // reads row 8 of the padded input, one past its bottom padding row.
    { name: 'numeric padding with ceil rounding', x: [1, 8, 8, 2], filter: [3, 3, 2, 2], strides: 2, pad: 1, dimRoundingMode: 'ceil' },
    // The only filter position lies in the top-left padding: the gradient is zero.
    { name: 'filter reading padding only', x: [1, 1, 1, 1], filter: [1, 1, 1, 1], strides: 4, pad: [[0, 0], [2, 0], [2, 0], [0, 0]] },
  ];

  KERNEL_CASES.forEach((convCase, caseIndex) => {
    it(`kernel matches cpu: ${convCase.name}`, async () => {
      const { dyShape, terms } = termsPerFilterElement(convCase);
      const x = randomValues(convCase.x, 400 + caseIndex);
      const dy = randomValues(dyShape, 500 + caseIndex);
      const attrs = {
        strides: convCase.strides,
        pad: convCase.pad,
        dataFormat: 'NHWC',
        filterShape: convCase.filter,
        ...(convCase.dimRoundingMode === undefined ? {} : { dimRoundingMode: convCase.dimRoundingMode }),
      };
      const filterGradient = (absolute: boolean): tf.Tensor[] => [
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: tensorOf(x, absolute), dy: tensorOf(dy, absolute) }, attrs) as tf.Tensor,
      ];

      const [onWasm] = await computeOn('wasm', () => filterGradient(false));
      const [onCpu] = await computeOn('cpu', () => filterGradient(false));
      const [absoluteSums] = await computeOn('cpu', () => filterGradient(true));

      assertWithinRounding(onWasm, onCpu, absoluteSums, terms, 'filter gradient');
    });
  });

  // x is 4x4 with x[r][c] = 4r + c + 1, dy is 2x2 of ones, the filter 3x3, stride 2, 'same'.
  // outHeight = ceil(4 / 2) = 2 and the total padding is max((2 - 1) * 2 + 3 - 4, 0) = 1,
  // all of it at the bottom (and right), so filter row kh reads rows {kh, kh + 2} of x,
  // row 4 being padding:  kh = 0 -> {0, 2},  kh = 1 -> {1, 3},  kh = 2 -> {2}.
  // dw[kh][kw] sums x over those rows and columns, for example
  //   dw[0][0] = x[0][0] + x[0][2] + x[2][0] + x[2][2] = 1 + 3 + 9 + 11 = 24,
  //   dw[1][2] = x[1][2] + x[3][2] = 7 + 15 = 22,   dw[2][2] = x[2][2] = 11.
  it('matches hand-worked stride 2 same example', async () => {
    const expected = [24, 28, 14, 40, 44, 22, 20, 22, 11];
    const filterGradient = (): tf.Tensor[] => {
      const x = tf.range(1, 17).reshape([1, 4, 4, 1]) as tf.Tensor4D;
      const convolve = (f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 2, 'same');
      return [tf.grad(convolve)(tf.zeros([3, 3, 1, 1]), tf.ones([1, 2, 2, 1]))];
    };

    const [onWasm] = await computeOn('wasm', filterGradient);
    const [onCpu] = await computeOn('cpu', filterGradient);

    assert.deepEqual(Array.from(onWasm), expected);
    assert.deepEqual(Array.from(onCpu), expected);
  });

  it('rejects NCHW with WASH_ERR_CONFIG', async () => {
    await useBackend('wasm');
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [1, 1, 2, 2] };
    tf.tidy(() => {
      const x = tf.zeros([1, 2, 3, 3]);
      const dy = tf.zeros([1, 2, 3, 3]);
      assert.throws(
        () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs),
        (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG') && /'NCHW'/.test(error.message),
      );
    });
  });

  it('rejects forward dilations above 1', async () => {
    await useBackend('wasm');
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [1, 1, 1, 1], dilations: [2, 2] };
    tf.tidy(() => {
      const x = tf.zeros([1, 3, 3, 1]);
      const dy = tf.zeros([1, 3, 3, 1]);
      assert.throws(
        () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs),
        (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG') && /dilations/.test(error.message),
      );
    });
  });

  it('rejects dy of the wrong shape', async () => {
    await useBackend('wasm');
    const attrs = { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 1] };
    tf.tidy(() => {
      const x = tf.zeros([1, 5, 5, 1]);
      const dy = tf.zeros([1, 5, 5, 1]);
      assert.throws(
        () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs),
        (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG') && /dy \[1,3,3,1\]/.test(error.message),
      );
    });
  });
});

describe('wasm BatchMatMul with transposes', () => {
  const M = 37;
  const K = 19;
  const N = 23;
  const FLAG_COMBINATIONS = [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const;

  FLAG_COMBINATIONS.forEach(([transposeA, transposeB], caseIndex) => {
    it(`tf.grads match cpu: transposeA ${transposeA}, transposeB ${transposeB}`, async () => {
      const a = randomValues(transposeA ? [K, M] : [M, K], 600 + caseIndex);
      const b = randomValues(transposeB ? [N, K] : [K, N], 700 + caseIndex);
      const dy = randomValues([M, N], 800 + caseIndex);
      const productAndGradients = (absolute: boolean): tf.Tensor[] => {
        const multiply = (left: tf.Tensor, right: tf.Tensor) => tf.matMul(left, right, transposeA, transposeB);
        const product = multiply(tensorOf(a, absolute), tensorOf(b, absolute));
        const gradients = tf.grads(multiply)([tensorOf(a, absolute), tensorOf(b, absolute)], tensorOf(dy, absolute));
        return [product, ...gradients];
      };

      const onWasm = await computeOn('wasm', () => productAndGradients(false));
      const onCpu = await computeOn('cpu', () => productAndGradients(false));
      const absoluteSums = await computeOn('cpu', () => productAndGradients(true));

      // The product sums K terms, the gradient of a sums N and that of b sums M.
      assertWithinRounding(onWasm[0], onCpu[0], absoluteSums[0], K, 'product');
      assertWithinRounding(onWasm[1], onCpu[1], absoluteSums[1], N, 'gradient of a');
      assertWithinRounding(onWasm[2], onCpu[2], absoluteSums[2], M, 'gradient of b');
    });

    it(`fused product with bias matches cpu: transposeA ${transposeA}, transposeB ${transposeB}`, async () => {
      const a = randomValues(transposeA ? [1, K, M] : [1, M, K], 900 + caseIndex);
      const b = randomValues(transposeB ? [1, N, K] : [1, K, N], 1000 + caseIndex);
      const bias = randomValues([N], 1100 + caseIndex);
      const fusedProduct = (absolute: boolean): tf.Tensor[] => [
        tf.fused.matMul({
          a: tensorOf(a, absolute) as tf.Tensor3D,
          b: tensorOf(b, absolute) as tf.Tensor3D,
          bias: tensorOf(bias, absolute),
          transposeA,
          transposeB,
        }),
      ];

      const [onWasm] = await computeOn('wasm', () => fusedProduct(false));
      const [onCpu] = await computeOn('cpu', () => fusedProduct(false));
      const [absoluteSums] = await computeOn('cpu', () => fusedProduct(true));

      // K products plus the bias.
      assertWithinRounding(onWasm, onCpu, absoluteSums, K + 1, 'fused product');
    });
  });

  // Batched products skip the copy and run on the original kernel.
  it('batched product with transposes matches cpu', async () => {
    const a = randomValues([3, K, M], 1200);
    const b = randomValues([3, N, K], 1201);
    const product = (absolute: boolean): tf.Tensor[] => [tf.matMul(tensorOf(a, absolute), tensorOf(b, absolute), true, true)];

    const [onWasm] = await computeOn('wasm', () => product(false));
    const [onCpu] = await computeOn('cpu', () => product(false));
    const [absoluteSums] = await computeOn('cpu', () => product(true));

    assertWithinRounding(onWasm, onCpu, absoluteSums, K, 'batched product');
  });
});

describe('small conv net on wasm', () => {
  // conv 3x3 stride 1 'same' -> relu -> conv 3x3 stride 2 'same' -> relu ->
  // maxPool 2x2 -> dense -> softmax cross-entropy, on 8x8x1 images.
  const BATCH = 4;
  const CLASSES = 3;
  const SHAPES: Record<string, number[]> = {
    conv1: [3, 3, 1, 4],
    conv2: [3, 3, 4, 6],
    dense: [2 * 2 * 6, CLASSES],
    bias: [CLASSES],
  };

  // The gradients pass through relu, maxPool and softmax, so the sums-of-products
  // bound above does not apply. Forward values differ between backends by a few
  // float32 ulps (about 1e-7 relative), and each layer can enlarge that relative
  // difference by a small factor. A limit of 1e-4 of the largest element leaves a
  // wide margin, while a misplaced term moves elements by about the largest element.
  // A relu input or maxPool tie within rounding of its switching point would
  // break this, and the fixed data below has none.
  const RELATIVE_TOLERANCE = 1e-4;

  it('variableGrads match cpu', async () => {
    const images = randomValues([BATCH, 8, 8, 1], 1300);
    const labels = [0, 2, 1, 2];
    const initial = Object.entries(SHAPES).map(([name, shape], index) => ({ name, data: randomValues(shape, 1400 + index) }));
    const gradientsOfLoss = (): tf.Tensor[] => {
      const variables = Object.fromEntries(initial.map(({ name, data }) => [name, tf.variable(tensorOf(data), true, `${name}_${tf.getBackend()}`)]));
      const loss = (): tf.Scalar => {
        const x = tensorOf(images) as tf.Tensor4D;
        const hidden1 = tf.relu(tf.conv2d(x, variables.conv1 as tf.Tensor4D, 1, 'same'));
        const hidden2 = tf.relu(tf.conv2d(hidden1, variables.conv2 as tf.Tensor4D, 2, 'same'));
        const pooled = tf.maxPool(hidden2, 2, 2, 'valid').reshape([BATCH, -1]);
        const logits = tf.add(tf.matMul(pooled, variables.dense), variables.bias);
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES), logits) as tf.Scalar;
      };
      const { grads } = tf.variableGrads(loss, Object.values(variables));
      const ordered = initial.map(({ name }) => grads[variables[name].name]);
      Object.values(variables).forEach((variable) => variable.dispose());
      return ordered;
    };

    const onWasm = await computeOn('wasm', gradientsOfLoss);
    const onCpu = await computeOn('cpu', gradientsOfLoss);

    initial.forEach(({ name }, index) => {
      const largest = onCpu[index].reduce((max, value) => Math.max(max, Math.abs(value)), 0);
      assert.ok(largest > 0, `${name}: gradient is all zeros on cpu`);
      const worst = onWasm[index].reduce((max, value, i) => Math.max(max, Math.abs(value - onCpu[index][i])), 0);
      assert.ok(worst <= RELATIVE_TOLERANCE * largest, `${name}: wasm and cpu gradients differ by ${worst}, more than ${RELATIVE_TOLERANCE} of ${largest}`);
    });
  });
});

describe('registerWasmTrainingKernels', () => {
  it('keeps cpu and webgl kernels', () => {
    for (const { backendName, kernelName, config } of KERNELS_OF_OTHER_BACKENDS) {
      assert.ok(config !== undefined, `${kernelName} for ${backendName} was registered before the test`);
      assert.equal(tf.getKernel(kernelName, backendName), config, `${kernelName} for ${backendName}`);
    }
  });

  it('is safe to call twice', async () => {
    const wrapped = tf.getKernel(tf.BatchMatMul, 'wasm');
    const conv = tf.getKernel(tf.Conv2DBackpropFilter, 'wasm');
    const tile = tf.getKernel(tf.Tile, 'wasm');
    registerWasmTrainingKernels();
    assert.equal(tf.getKernel(tf.BatchMatMul, 'wasm'), wrapped);
    assert.equal(tf.getKernel(tf.Conv2DBackpropFilter, 'wasm'), conv);
    assert.equal(tf.getKernel(tf.Tile, 'wasm'), tile);

    // [[1, 2], [3, 4]]^T [[1, 0], [0, 1]] = [[1, 3], [2, 4]].
    const [product] = await computeOn('wasm', () => [tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.eye(2), true, false)]);
    assert.deepEqual(Array.from(product), [1, 3, 2, 4]);
  });
});

describe('wasm kernels leak test', () => {
  const WARMUP_STEPS = 20;
  const MEASURED_STEPS = 300;

  function trainingStep(): void {
    tf.tidy(() => {
      const x = tf.ones([2, 7, 7, 3]) as tf.Tensor4D;
      const filterGradient = tf.grad((f: tf.Tensor) => tf.conv2d(x, f as tf.Tensor4D, 2, 'same'))(tf.ones([3, 3, 3, 4]), tf.ones([2, 4, 4, 4]));
      const a = tf.ones([5, 3]);
      const b = tf.ones([4, 5]);
      const matMulGradients = tf.grads((left: tf.Tensor, right: tf.Tensor) => tf.matMul(left, right, true, true))([a, b], tf.ones([3, 4]));
      const fused = tf.fused.matMul({ a: a.expandDims(0) as tf.Tensor3D, b: b.expandDims(0) as tf.Tensor3D, transposeA: true, transposeB: true, bias: tf.ones([4]) });
      // Reading the results back makes sure every kernel ran. The tidy frees them all.
      for (const tensor of [filterGradient, ...matMulGradients, fused]) tensor.dataSync();
    });
  }

  /** Returns the size of the wasm memory. The Emscripten module has HEAPU8, though its TypeScript type omits it. */
  function heapBytes(backend: BackendWasm): number {
    return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.length;
  }

  it('keeps tensor, data id and heap counts flat', async () => {
    await useBackend('wasm');
    const backend = tf.backend() as BackendWasm;
    for (let step = 0; step < WARMUP_STEPS; step++) trainingStep();
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = backend.numDataIds();
    const heapBytesBefore = heapBytes(backend);

    for (let step = 0; step < MEASURED_STEPS; step++) trainingStep();

    assert.equal(tf.memory().numTensors, tensorsBefore, 'tf.memory().numTensors');
    assert.equal(backend.numDataIds(), dataIdsBefore, 'wasm backend numDataIds()');
    // XNNPACK operators live in the C++ heap, outside both counts above. Heap
    // growth catches their leaks only once they outgrow the free heap.
    assert.equal(heapBytes(backend), heapBytesBefore, 'wasm heap bytes');
  });
});
