/**
 * Measures the wasm kernels that registerWasmTrainingKernels installs and
 * prints one JSON line per measurement: the kernel, the shapes, the median
 * milliseconds per call and, for products and convolutions, the GFLOP/s that
 * median gives.
 *
 * Matrix products are timed on the wasm backend's original kernels first and
 * then, after registerWasmTrainingKernels, on the wrapped ones. The other
 * wrapped kernels (Tile, Sum, Mean, MaxPoolGrad, Conv2DBackpropInput and
 * Identity) are timed at the shapes of the cnn and resnet20 models, once as
 * tfjs-backend-wasm registered them and once wrapped. The wasm backend has no
 * Conv2DBackpropFilter of its own, so that kernel is timed on wasm after
 * registration only. With --cpu-reference it is also timed once per
 * layer on the cpu backend, which takes minutes because that kernel is slow
 * (about 0.01 GFLOP/s on one core of a 2-core AMD EPYC).
 *
 * Run: npx tsc -p tsconfig.json && node build/bench/kernel-bench.js [--cpu-reference]
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels } from '../shared/backend/wasm-kernels';

interface TimingOptions {
  /** Untimed calls before timing, so one-off costs (XNNPACK setup, heap growth) stay out. Default 2. */
  warmupCalls: number;
  /** Timed calls per measurement, at least; the median of them is reported. Default 5. */
  minTimedCalls: number;
  /** Timing continues past minTimedCalls until this many milliseconds have passed. Default 500. */
  minTimedMs: number;
}

const DEFAULT_TIMING: TimingOptions = { warmupCalls: 2, minTimedCalls: 5, minTimedMs: 500 };

/** A single timed call without warm-up, because the cpu kernel needs seconds per call at these shapes. */
const CPU_REFERENCE_TIMING: TimingOptions = { warmupCalls: 0, minTimedCalls: 1, minTimedMs: 0 };

interface MatMulCase {
  m: number;
  k: number;
  n: number;
}

interface ConvCase {
  name: string;
  batch: number;
  size: number;
  inChannels: number;
  outChannels: number;
  filterSize: number;
  stride: number;
  pad: 'same' | 'valid';
}

/** A call of one wrapped kernel at the shapes of one layer. */
interface WrappedKernelCase {
  kernel: string;
  layer: string;
  /** Input shapes by input name. Every input contains standard normal values. */
  inputs: Record<string, number[]>;
  attrs: tf.NamedAttrMap;
  /** Passes every input through relu first, as for a max pool that follows a relu. */
  relu?: boolean;
}

/** The wrapped kernels at batch size 128, each at the layers of the cnn and resnet20 models where it runs. */
const WRAPPED_KERNEL_CASES: WrappedKernelCase[] = [
  { kernel: tf.Tile, layer: 'cnn-bn1-gradient', inputs: { x: [1, 1, 1, 32] }, attrs: { reps: [128, 28, 28, 1] } },
  { kernel: tf.Sum, layer: 'cnn-bn1-gradient', inputs: { x: [128, 28, 28, 32] }, attrs: { axis: [0, 1, 2], keepDims: false } },
  { kernel: tf.Mean, layer: 'cnn-bn1', inputs: { x: [128, 28, 28, 32] }, attrs: { axis: [0, 1, 2], keepDims: false } },
  { kernel: tf.Identity, layer: 'cnn-conv1-saved-output', inputs: { x: [128, 28, 28, 32] }, attrs: {} },
  {
    kernel: tf.MaxPoolGrad,
    layer: 'cnn-pool1',
    inputs: { dy: [128, 14, 14, 32], input: [128, 28, 28, 32], output: [128, 14, 14, 32] },
    attrs: { filterSize: 2, strides: 2, pad: 'valid' },
    relu: true,
  },
  {
    kernel: tf.MaxPoolGrad,
    layer: 'cnn-pool2',
    inputs: { dy: [128, 7, 7, 64], input: [128, 14, 14, 64], output: [128, 7, 7, 64] },
    attrs: { filterSize: 2, strides: 2, pad: 'valid' },
    relu: true,
  },
  ...[
    { layer: 'cnn-conv1', x: [128, 28, 28, 1], filter: [3, 3, 1, 32], stride: 1 },
    { layer: 'cnn-conv2', x: [128, 14, 14, 32], filter: [3, 3, 32, 64], stride: 1 },
    { layer: 'resnet20-stage1', x: [128, 32, 32, 16], filter: [3, 3, 16, 16], stride: 1 },
    { layer: 'resnet20-stage2-stride2', x: [128, 32, 32, 16], filter: [3, 3, 16, 32], stride: 2 },
    { layer: 'resnet20-stage2-shortcut', x: [128, 32, 32, 16], filter: [1, 1, 16, 32], stride: 2 },
  ].map(({ layer, x, filter, stride }) => backpropInputCase(layer, x, filter, stride)),
];

function backpropInputCase(layer: string, x: number[], filter: number[], stride: number): WrappedKernelCase {
  const convInfo = tf.backend_util.computeConv2DInfo(x as [number, number, number, number], filter as [number, number, number, number], stride, 1, 'same');
  return {
    kernel: tf.Conv2DBackpropInput,
    layer,
    inputs: { dy: convInfo.outShape, filter },
    attrs: { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape: x },
  };
}

/** The first dense layer of an MNIST network at batch size 128. */
const MATMUL: MatMulCase = { m: 128, k: 784, n: 256 };

/**
 * The two convolutions of a small MNIST CNN, then the first stride-2
 * convolution of ResNet-20 on CIFAR-10, all at batch size 128.
 */
const CONVS: ConvCase[] = [
  { name: 'cnn-conv1', batch: 128, size: 28, inChannels: 1, outChannels: 32, filterSize: 3, stride: 1, pad: 'same' },
  { name: 'cnn-conv2', batch: 128, size: 14, inChannels: 32, outChannels: 64, filterSize: 3, stride: 1, pad: 'same' },
  { name: 'resnet20-stage2-stride2', batch: 128, size: 32, inChannels: 16, outChannels: 32, filterSize: 3, stride: 2, pad: 'same' },
];

async function main(): Promise<void> {
  require('@tensorflow/tfjs-backend-wasm');
  await useBackend('wasm');
  benchMatMuls('original');
  const originals = new Map(WRAPPED_KERNEL_CASES.map(({ kernel }) => [kernel, registeredWasmKernel(kernel)]));

  registerWasmTrainingKernels();
  benchMatMuls('wrapped');
  for (const kernelCase of WRAPPED_KERNEL_CASES) benchWrappedKernel(kernelCase, originals);
  for (const conv of CONVS) benchConv2DBackpropFilter(conv, 'wasm', DEFAULT_TIMING);

  if (process.argv.includes('--cpu-reference')) {
    await useBackend('cpu');
    for (const conv of CONVS) benchConv2DBackpropFilter(conv, 'cpu', CPU_REFERENCE_TIMING);
  }
}

async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

function benchMatMuls(variant: 'original' | 'wrapped'): void {
  const { m, k, n } = MATMUL;
  const flopsPerCall = 2 * m * k * n;
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      const a = tf.randomNormal(transposeA ? [k, m] : [m, k], 0, 1, 'float32', 1);
      const b = tf.randomNormal(transposeB ? [n, k] : [k, n], 0, 1, 'float32', 2);
      const a3d = a.expandDims(0) as tf.Tensor3D;
      const b3d = b.expandDims(0) as tf.Tensor3D;
      const shapes = `${m}x${k}·${k}x${n}`;

      const plainMs = medianMs(() => tf.matMul(a, b, transposeA, transposeB));
      report({ kernel: tf.BatchMatMul, backend: 'wasm', variant, shapes, transposeA, transposeB }, plainMs, flopsPerCall);

      const fusedMs = medianMs(() => tf.fused.matMul({ a: a3d, b: b3d, transposeA, transposeB }));
      report({ kernel: tf._FusedMatMul, backend: 'wasm', variant, shapes, transposeA, transposeB }, fusedMs, flopsPerCall);

      tf.dispose([a, b, a3d, b3d]);
    }
  }
}

function registeredWasmKernel(kernelName: string): tf.KernelFunc {
  const config = tf.getKernel(kernelName, 'wasm');
  if (config === undefined) throw new Error(`kernel '${kernelName}' is not registered for backend 'wasm'`);
  return config.kernelFunc;
}

/** Times the kernel of `kernelCase` as tfjs-backend-wasm registered it and as registered now, calling each kernel function directly. */
function benchWrappedKernel(kernelCase: WrappedKernelCase, originals: Map<string, tf.KernelFunc>): void {
  const backend = tf.backend();
  const inputs = Object.fromEntries(
    Object.entries(kernelCase.inputs).map(([name, shape], index) => {
      const values = tf.randomNormal(shape, 0, 1, 'float32', 10 + index);
      if (!kernelCase.relu) return [name, values];
      const rectified = tf.relu(values);
      values.dispose();
      return [name, rectified];
    }),
  );
  const original = originals.get(kernelCase.kernel);
  if (original === undefined) throw new Error(`no original wasm kernel was recorded for '${kernelCase.kernel}'`);
  const variants: Array<['original' | 'wrapped', tf.KernelFunc]> = [
    ['original', original],
    ['wrapped', registeredWasmKernel(kernelCase.kernel)],
  ];
  for (const [variant, kernelFunc] of variants) {
    const ms = medianCallMs(() => {
      const out = kernelFunc({ inputs, backend, attrs: kernelCase.attrs }) as tf.TensorInfo;
      backend.disposeData(out.dataId);
    });
    const line = { bench: 'kernel', kernel: kernelCase.kernel, backend: 'wasm', variant, layer: kernelCase.layer, shapes: kernelCase.inputs, attrs: kernelCase.attrs, ms: round(ms) };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  tf.dispose(Object.values(inputs));
}

function benchConv2DBackpropFilter(conv: ConvCase, backend: string, timing: TimingOptions): void {
  const x = tf.randomNormal([conv.batch, conv.size, conv.size, conv.inChannels], 0, 1, 'float32', 3);
  const filterShape: [number, number, number, number] = [conv.filterSize, conv.filterSize, conv.inChannels, conv.outChannels];
  const convInfo = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, conv.stride, 1, conv.pad);
  const dy = tf.randomNormal(convInfo.outShape, 0, 1, 'float32', 4);
  const attrs = { strides: conv.stride, pad: conv.pad, dataFormat: 'NHWC', filterShape };

  // Each filter weight is a sum of batch * outHeight * outWidth products.
  const flopsPerCall = 2 * conv.batch * convInfo.outHeight * convInfo.outWidth * conv.filterSize * conv.filterSize * conv.inChannels * conv.outChannels;
  const ms = medianMs(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs) as tf.Tensor, timing);
  report({
    kernel: tf.Conv2DBackpropFilter,
    backend,
    layer: conv.name,
    x: x.shape,
    dy: dy.shape,
    filter: filterShape,
    stride: conv.stride,
    pad: conv.pad,
  }, ms, flopsPerCall);
  tf.dispose([x, dy]);
}

/** Times `run`, reading each result back so the work is finished, and returns the median milliseconds. */
function medianMs(run: () => tf.Tensor, timing: TimingOptions = DEFAULT_TIMING): number {
  return medianCallMs(() => readAndDispose(run()), timing);
}

/** Times `call` and returns the median milliseconds. The wasm backend runs kernels synchronously, so each call has finished on return. */
function medianCallMs(call: () => void, timing: TimingOptions = DEFAULT_TIMING): number {
  for (let i = 0; i < timing.warmupCalls; i++) call();

  const samples: number[] = [];
  const started = performance.now();
  while (samples.length < timing.minTimedCalls || performance.now() - started < timing.minTimedMs) {
    const callStarted = performance.now();
    call();
    samples.push(performance.now() - callStarted);
  }
  samples.sort((left, right) => left - right);
  return samples[Math.floor(samples.length / 2)];
}

function readAndDispose(result: tf.Tensor): void {
  result.dataSync();
  result.dispose();
}

function report(fields: Record<string, unknown>, ms: number, flopsPerCall: number): void {
  const gflops = flopsPerCall / (ms * 1e6);
  const line = { bench: 'kernel', ...fields, ms: round(ms), gflops: round(gflops) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
