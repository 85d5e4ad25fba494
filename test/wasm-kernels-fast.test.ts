import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels';
import { Rng } from '../shared/rng';
import { useBackend } from './helpers/wasm-backend';

// Each wrapper below must give what the wasm kernel it replaces gives. These
// are the kernels that tfjs-backend-wasm registered on import, before
// registerWasmTrainingKernels wrapped them.
const ORIGINAL_WASM_KERNELS = new Map(
  [tf.Tile, tf.Sum, tf.Mean, tf.MaxPoolGrad, tf.Conv2DBackpropInput, tf.Identity].map((kernelName) => {
    const config = tf.getKernel(kernelName, 'wasm');
    assert.ok(config !== undefined, `tfjs-backend-wasm registers ${kernelName}`);
    return [kernelName, config.kernelFunc];
  }),
);

before(async () => {
  registerWasmTrainingKernels();
  await useBackend('wasm');
});


function wasmBackend(): BackendWasm {
  return tf.engine().findBackend('wasm') as BackendWasm;
}

/** Values uniform in [-1, 1), the same in every run. */
function randomValues(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const values = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < values.length; i++) values[i] = 2 * rng.nextFloat() - 1;
  return values;
}

/**
 * Runs a kernel on wasm, first as registered now and then as tfjs-backend-wasm
 * registered it, and returns both outputs as host copies.
 */
function runBothWasmKernels(
  kernelName: string,
  inputs: Record<string, tf.Tensor>,
  attrs: tf.NamedAttrMap,
): { wrapped: tf.TypedArray; original: tf.TypedArray; shapes: [number[], number[]] } {
  const backend = wasmBackend();
  const original = ORIGINAL_WASM_KERNELS.get(kernelName);
  assert.ok(original !== undefined, `original wasm ${kernelName} was captured`);
  const wrapped = tf.getKernel(kernelName, 'wasm');
  assert.ok(wrapped !== undefined, `${kernelName} is registered on wasm`);
  assert.notEqual(wrapped.kernelFunc, original, `${kernelName} is wrapped on wasm`);

  const readAndFree = (kernelFunc: tf.KernelFunc): { values: tf.TypedArray; shape: number[] } => {
    const out = kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
    try {
      return { values: (backend.readSync(out.dataId) as tf.TypedArray).slice(), shape: out.shape };
    } finally {
      backend.disposeData(out.dataId);
    }
  };
  const fromWrapper = readAndFree(wrapped.kernelFunc);
  const fromOriginal = readAndFree(original);
  return { wrapped: fromWrapper.values, original: fromOriginal.values, shapes: [fromWrapper.shape, fromOriginal.shape] };
}

/** Asserts bit-for-bit equality, telling NaN, +0 and -0 apart. */
function assertSameValues(actual: tf.TypedArray, expected: tf.TypedArray, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${label}: element ${i} is ${actual[i]} from the wrapper and ${expected[i]} from the original kernel`);
    }
  }
}

const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * Asserts that two float32 results of the same sum of `terms` terms agree
 * within float32 rounding: a float32 sum in any order is off from the exact
 * sum by at most terms * u times the sum of absolute values (u = 2^-24), so
 * two such sums differ by at most twice that. A float64 sum is closer still.
 * A wrong index or a missing term moves an element by about its own size.
 */
function assertWithinRounding(actual: Float32Array, expected: Float32Array, absoluteSums: Float32Array, terms: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const limit = 2 * (terms + 1) * FLOAT32_UNIT_ROUNDOFF * absoluteSums[i];
    if (!(Math.abs(actual[i] - expected[i]) <= limit)) {
      assert.fail(`${label}: element ${i} is ${actual[i]} against ${expected[i]}, more than the rounding limit ${limit} apart`);
    }
  }
}

describe('wasm Tile', () => {
  const CASES: Array<{ name: string; shape: number[]; reps: number[]; dtype?: 'float32' | 'int32' | 'bool' }> = [
    // The batch-norm gradient of the cnn's first layer.
    { name: 'channel vector to activation shape', shape: [1, 1, 1, 32], reps: [128, 28, 28, 1] },
    { name: 'every axis repeated', shape: [2, 3, 4], reps: [3, 2, 5] },
    { name: 'odd reps on a vector', shape: [5], reps: [7] },
    { name: 'reps of one only', shape: [3, 4], reps: [1, 1] },
    { name: 'int32 values', shape: [2, 1, 3], reps: [2, 4, 3], dtype: 'int32' },
    { name: 'bool values', shape: [3, 2], reps: [5, 2], dtype: 'bool' },
    // 4096 rows of one element, each repeated twice: the block copy moves one element per call.
    { name: 'many one-element rows', shape: [4096, 1], reps: [1, 2] },
    { name: 'empty input', shape: [0, 3], reps: [2, 2] },
  ];

  CASES.forEach(({ name, shape, reps, dtype = 'float32' }, caseIndex) => {
    it(`matches original bit for bit: ${name}`, () => {
      const values = randomValues(shape, 2000 + caseIndex).map((value) => (dtype === 'float32' ? value : Math.round(4 * value)));
      const x = tf.tidy(() => (dtype === 'bool' ? tf.tensor(values, shape).greater(0) : tf.tensor(values, shape, dtype)));
      try {
        const { wrapped, original, shapes } = runBothWasmKernels(tf.Tile, { x }, { reps });
        assert.deepEqual(shapes[0], shapes[1], 'output shape');
        assertSameValues(wrapped, original, 'tile');
      } finally {
        x.dispose();
      }
    });
  });

  // [[1, 2], [3, 4]] tiled [2, 3] repeats each row three times and the block twice.
  it('matches hand-worked example', () => {
    const tiled = tf.tidy(() => tf.tile(tf.tensor2d([[1, 2], [3, 4]]), [2, 3]).arraySync());
    assert.deepEqual(tiled, [
      [1, 2, 1, 2, 1, 2],
      [3, 4, 3, 4, 3, 4],
      [1, 2, 1, 2, 1, 2],
      [3, 4, 3, 4, 3, 4],
    ]);
  });
});

describe('wasm Sum and Mean', () => {
  const CASES: Array<{ name: string; shape: number[]; axis: number[]; keepDims: boolean }> = [
    { name: 'batch-norm axes of the cnn', shape: [128, 28, 28, 32], axis: [0, 1, 2], keepDims: false },
    { name: 'middle axes with keepDims', shape: [3, 5, 7, 11], axis: [1, 2], keepDims: true },
    { name: 'negative axes', shape: [4, 6, 9], axis: [-3, -2], keepDims: false },
    { name: 'first axis of a matrix', shape: [1000, 3], axis: [0], keepDims: false },
    { name: 'odd column count', shape: [2, 50, 13], axis: [1], keepDims: true },
    { name: 'last axis, left to the original', shape: [6, 10], axis: [1], keepDims: false },
    { name: 'axes not adjacent, left to the original', shape: [3, 4, 5], axis: [0, 2], keepDims: false },
  ];

  for (const kernelName of [tf.Sum, tf.Mean]) {
    CASES.forEach(({ name, shape, axis, keepDims }, caseIndex) => {
      it(`${kernelName} matches original: ${name}`, () => {
        // An offset that grows along the last axis gives each output its own size, as batch-norm
        // activations have, so a sum taken from the wrong column exceeds the rounding limit.
        const lastAxis = shape[shape.length - 1];
        const values = randomValues(shape, 2100 + caseIndex).map((value, i) => value + (i % lastAxis) + 1);
        const x = tf.tensor(values, shape);
        const absoluteX = tf.tensor(values.map(Math.abs), shape);
        try {
          const { wrapped, original, shapes } = runBothWasmKernels(kernelName, { x }, { axis, keepDims });
          const absoluteSums = runBothWasmKernels(kernelName, { x: absoluteX }, { axis, keepDims }).original;
          const terms = tf.util.sizeFromShape(shape) / wrapped.length;
          assert.deepEqual(shapes[0], shapes[1], 'output shape');
          assertWithinRounding(wrapped as Float32Array, original as Float32Array, absoluteSums as Float32Array, terms, kernelName);
        } finally {
          tf.dispose([x, absoluteX]);
        }
      });
    });
  }

  // Column sums of [[1, 2], [3, 4], [5, 6]] are [9, 12] and the column means [3, 4].
  it('sums and means hand-worked matrix', () => {
    const [sums, means] = tf.tidy(() => {
      const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
      return [tf.sum(x, 0).arraySync(), tf.mean(x, 0).arraySync()];
    });
    assert.deepEqual(sums, [9, 12]);
    assert.deepEqual(means, [3, 4]);
  });
});

describe('wasm MaxPoolGrad', () => {
  const CASES: Array<{ name: string; x: number[]; filterSize: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number; relu?: boolean }> = [
    { name: 'cnn first pool after relu', x: [128, 28, 28, 32], filterSize: 2, strides: 2, pad: 'valid', relu: true },
    { name: 'overlapping 3x3 stride 2 same', x: [2, 7, 7, 3], filterSize: 3, strides: 2, pad: 'same' },
    { name: 'overlapping 2x2 stride 1 valid', x: [1, 5, 5, 2], filterSize: 2, strides: 1, pad: 'valid' },
    { name: 'odd size 2x2 stride 2 same', x: [1, 7, 7, 4], filterSize: 2, strides: 2, pad: 'same', relu: true },
    { name: 'negative values only', x: [2, 4, 4, 3], filterSize: 2, strides: 2, pad: 'valid' },
    // Whole 2x2 windows that leave x's last row and column unread.
    { name: 'odd size 2x2 stride 2 valid', x: [2, 7, 5, 3], filterSize: 2, strides: 2, pad: 'valid', relu: true },
    { name: 'numeric padding', x: [1, 6, 5, 2], filterSize: [3, 2], strides: [1, 2], pad: 1 },
  ];

  CASES.forEach((poolCase, caseIndex) => {
    it(`matches original bit for bit: ${poolCase.name}`, () => {
      const values = randomValues(poolCase.x, 2200 + caseIndex).map((value) => {
        if (poolCase.name === 'negative values only') return -Math.abs(value);
        // Rounding to a quarter makes ties common, so the choice among equal maxima is tested too.
        const rounded = Math.round(4 * value) / 4;
        return poolCase.relu ? Math.max(rounded, 0) : rounded;
      });
      const info = tf.backend_util.computePool2DInfo(poolCase.x as [number, number, number, number], poolCase.filterSize, poolCase.strides, 1, poolCase.pad);
      const input = tf.tensor(values, poolCase.x);
      const dy = tf.tensor(randomValues(info.outShape, 2300 + caseIndex), info.outShape);
      const output = tf.zeros(info.outShape);
      try {
        const attrs = { filterSize: poolCase.filterSize, strides: poolCase.strides, pad: poolCase.pad };
        const { wrapped, original } = runBothWasmKernels(tf.MaxPoolGrad, { dy, input, output }, attrs);
        assertSameValues(wrapped, original, 'dx');
      } finally {
        tf.dispose([input, dy, output]);
      }
    });
  });

  it('matches original for NaN and infinite dy', () => {
    const input = tf.tensor4d(randomValues([1, 4, 4, 1], 2400), [1, 4, 4, 1]);
    const dy = tf.tensor4d([NaN, Infinity, -Infinity, 2, 3, 4, 5, 6, 7], [1, 3, 3, 1]);
    const output = tf.zeros([1, 3, 3, 1]);
    try {
      const { wrapped, original } = runBothWasmKernels(tf.MaxPoolGrad, { dy, input, output }, { filterSize: 2, strides: 1, pad: 'valid' });
      assertSameValues(wrapped, original, 'dx');
    } finally {
      tf.dispose([input, dy, output]);
    }
  });

  it('matches original for NaN dy in 2x2 windows', () => {
    const input = tf.tensor4d(randomValues([1, 4, 4, 2], 2500), [1, 4, 4, 2]);
    const dy = tf.tensor4d([NaN, 1, Infinity, 2, -Infinity, 3, 4, NaN], [1, 2, 2, 2]);
    const output = tf.zeros([1, 2, 2, 2]);
    try {
      const { wrapped, original } = runBothWasmKernels(tf.MaxPoolGrad, { dy, input, output }, { filterSize: 2, strides: 2, pad: 'valid' });
      assertSameValues(wrapped, original, 'dx');
    } finally {
      tf.dispose([input, dy, output]);
    }
  });

  // x rows:  -1 -2 -3 -1 /  0  0  0  0 /  5  5  5  2 / 1e-39 0 0 0, pooled 2x2 stride 2, dy [1, 2, 3, 4].
  // Window 0 (-1, -2, 0, 0) has no value >= 2^-126, so its dy goes to element 0, which it contains.
  // Window 1 (-3, -1, 0, 0) has none either and does not contain element 0, so its dy is dropped.
  // Window 2 (5, 5, 1e-39, 0) ties at 5, and the later one, element 9, gets 3.
  // Window 3 (5, 2, 0, 0) has its maximum at element 10, which gets 4.
  it('keeps wasm choice of maximum', async () => {
    const x = [-1, -2, -3, -1, 0, 0, 0, 0, 5, 5, 5, 2, 1e-39, 0, 0, 0];
    await useBackend('wasm');
    const dx = tf.tidy(() => {
      const pool = (t: tf.Tensor): tf.Tensor => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid');
      return tf.grad(pool)(tf.tensor4d(x, [1, 4, 4, 1]), tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]));
    });
    const values = Array.from(dx.dataSync());
    dx.dispose();

    assert.deepEqual(values, [1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
  });
});

describe('wasm Conv2DBackpropInput', () => {
  type Shape4D = [number, number, number, number];
  const CASES: Array<{ name: string; x: Shape4D; filter: Shape4D; strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dimRoundingMode?: 'ceil' }> = [
    { name: 'cnn second conv, batch 4', x: [4, 14, 14, 32], filter: [3, 3, 32, 64], strides: 1, pad: 'same' },
    { name: 'cnn first conv, one channel', x: [4, 28, 28, 1], filter: [3, 3, 1, 32], strides: 1, pad: 'same' },
    { name: '7x7, batch 1, stride 2, same', x: [1, 7, 7, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
    { name: '7x7, stride 2, valid', x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: 2, pad: 'valid' },
    { name: '28x28, stride 2, valid, last row unread', x: [1, 28, 28, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
    { name: '1x1 shortcut, stride 2', x: [2, 8, 8, 4], filter: [1, 1, 4, 6], strides: 2, pad: 'same' },
    { name: '5x5 filter, stride 1, valid', x: [2, 9, 9, 3], filter: [5, 5, 3, 2], strides: 1, pad: 'valid' },
    { name: 'strides [2, 1], 3x2 filter', x: [2, 7, 5, 3], filter: [3, 2, 3, 2], strides: [2, 1], pad: 'valid' },
    { name: 'explicit padding', x: [1, 7, 6, 2], filter: [3, 3, 2, 2], strides: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    // Padding 4 exceeds filterSize - 1 = 2, so the outer dy rows reach no x row.
    { name: 'padding wider than the filter', x: [1, 5, 5, 2], filter: [3, 3, 2, 3], strides: 1, pad: 4 },
    // outHeight = ceil((8 + 2 - 3) / 2 + 1) = 5: the last output row reads padding below x.
    { name: 'ceil rounding', x: [1, 8, 8, 2], filter: [3, 3, 2, 2], strides: 2, pad: 1, dimRoundingMode: 'ceil' },
  ];

  CASES.forEach((convCase, caseIndex) => {
    it(`matches original and cpu: ${convCase.name}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(convCase.x, convCase.filter, convCase.strides, 1, convCase.pad, convCase.dimRoundingMode);
      const dyValues = randomValues(info.outShape, 2500 + caseIndex);
      const filterValues = randomValues(convCase.filter, 2600 + caseIndex);
      const attrs = {
        strides: convCase.strides,
        pad: convCase.pad,
        dataFormat: 'NHWC',
        inputShape: convCase.x,
        ...(convCase.dimRoundingMode === undefined ? {} : { dimRoundingMode: convCase.dimRoundingMode }),
      };
      const runOn = async (backendName: 'cpu' | 'wasm', absolute: boolean): Promise<Float32Array> => {
        await useBackend(backendName);
        const values = (data: Float32Array): Float32Array => (absolute ? data.map(Math.abs) : data);
        return tf.tidy(() => {
          const inputs = { dy: tf.tensor(values(dyValues), info.outShape), filter: tf.tensor(values(filterValues), convCase.filter) };
          return (tf.engine().runKernel(tf.Conv2DBackpropInput, inputs, attrs) as tf.Tensor).dataSync() as Float32Array;
        });
      };

      const onWasm = await runOn('wasm', false);
      const onCpu = await runOn('cpu', false);
      const absoluteSums = await runOn('cpu', true);
      await useBackend('wasm');
      const dy = tf.tensor(dyValues, info.outShape);
      const filter = tf.tensor(filterValues, convCase.filter);
      const { original } = runBothWasmKernels(tf.Conv2DBackpropInput, { dy, filter }, attrs);
      tf.dispose([dy, filter]);

      // Each dx element sums at most filterHeight * filterWidth * outChannels products.
      const terms = convCase.filter[0] * convCase.filter[1] * convCase.filter[3];
      assertWithinRounding(onWasm, onCpu, absoluteSums, terms, 'dx against cpu');
      assertWithinRounding(onWasm, original as Float32Array, absoluteSums, terms, 'dx against original wasm');
    });
  });
});

describe('wasm Identity', () => {
  it('shares data and frees it once', () => {
    const backend = wasmBackend();
    const dataIdsBefore = backend.numDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const copy = tf.clone(x);

    assert.equal(backend.numDataIds(), dataIdsBefore + 1, 'the clone adds no buffer');
    x.dispose();
    assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3], 'the clone outlives its source');
    copy.dispose();
    assert.equal(backend.numDataIds(), dataIdsBefore, 'the buffer is freed with its last tensor');
  });

  it('copies string tensors through original', () => {
    const x = tf.tensor1d(['a', 'bc']);
    const copy = tf.clone(x);
    try {
      assert.deepEqual(copy.arraySync(), ['a', 'bc']);
    } finally {
      tf.dispose([x, copy]);
    }
  });
});
