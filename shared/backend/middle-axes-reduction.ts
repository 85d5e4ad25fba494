import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type ReductionKind = 'sum' | 'mean';

/**
 * A float32 tensor seen as [outer, reduced, inner], where the reduced axes are
 * one contiguous run that does not reach the last axis, so inner > 1.
 */
interface ReductionLayout {
  outer: number;
  reduced: number;
  inner: number;
}

/**
 * Wraps the wasm kernel of Sum or Mean so that a reduction over axes that come
 * before the last one runs without a transpose.
 *
 * tfjs-backend-wasm 4.22 transposes the reduced axes to the end before it
 * reduces. For the batch-norm statistics and gradients of a [128, 28, 28, 32]
 * activation (axes 0, 1 and 2), Sum and Mean took 10 ms per call that way and
 * 2 ms here (bench/kernel-bench.ts, one core of a 2-core AMD EPYC). Each
 * output element accumulates in float64 and is rounded to float32 once, so
 * results agree with the wasm kernel's float32 sums within float32 rounding.
 * Other axes, dtypes and empty tensors go to `original`.
 */
export function withMiddleAxesReduction(original: tf.KernelFunc, kind: ReductionKind): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const layout = x.dtype === 'float32' ? reductionLayout(x.shape, axes) : undefined;
    if (layout === undefined) return original({ inputs, backend, attrs });

    const wasm = backend as BackendWasm;
    const outShape = keepDims
      ? x.shape.map((size, index) => (axes.includes(index) ? 1 : size))
      : x.shape.filter((_, index) => !axes.includes(index));
    const out = wasm.makeOutput(outShape, 'float32');
    // makeOutput can grow the heap, which detaches views made before it, so both views are made after it.
    const target = wasm.typedArrayFromHeap(out) as Float32Array;
    const source = wasm.typedArrayFromHeap(x) as Float32Array;
    reduceMiddleAxis(source, target, layout, kind === 'mean' ? layout.reduced : 1);
    return out;
  };
}

/** Returns the [outer, reduced, inner] view of `shape`, or undefined where this module does not handle `axes`. */
function reductionLayout(shape: number[], axes: number[]): ReductionLayout | undefined {
  if (axes.length === 0 || tf.util.sizeFromShape(shape) === 0) return undefined;
  const sorted = [...axes].sort((left, right) => left - right);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (last - first + 1 !== sorted.length || last === shape.length - 1) return undefined;

  const layout = {
    outer: tf.util.sizeFromShape(shape.slice(0, first)),
    reduced: tf.util.sizeFromShape(shape.slice(first, last + 1)),
    inner: tf.util.sizeFromShape(shape.slice(last + 1)),
  };
  return layout.inner > 1 ? layout : undefined;
}

/** Columns summed together in local variables, which V8 keeps in registers. */
const COLUMN_BLOCK = 8;

/** Elements of `source` summed per pass over a chunk of rows, a size that fits in the L1 cache (32 KiB of float32). */
const CHUNK_ELEMENTS = 8192;

/**
 * Writes target[o * inner + i] = (sum over r of source[(o * reduced + r) * inner + i]) / divisor,
 * with the sums and the division in float64. `divisor` is 1 for a sum and `reduced` for a mean.
 */
function reduceMiddleAxis(source: Float32Array, target: Float32Array, layout: ReductionLayout, divisor: number): void {
  const { outer, reduced, inner } = layout;
  const totals = new Float64Array(inner);
  const chunkRows = Math.max(1, Math.floor(CHUNK_ELEMENTS / inner));
  for (let o = 0; o < outer; o++) {
    totals.fill(0);
    for (let firstRow = 0; firstRow < reduced; firstRow += chunkRows) {
      const begin = (o * reduced + firstRow) * inner;
      const end = begin + Math.min(chunkRows, reduced - firstRow) * inner;
      addChunk(source, totals, begin, end, inner);
    }
    for (let i = 0; i < inner; i++) target[o * inner + i] = totals[i] / divisor;
  }
}

/**
 * Adds the rows of `inner` values in source[begin, end) into `totals`. Blocks
 * of eight columns are summed down the rows in local variables, which ran
 * three times as fast as adding each row into `totals` (Node 20, 2-core AMD EPYC).
 */
function addChunk(source: Float32Array, totals: Float64Array, begin: number, end: number, inner: number): void {
  let i = 0;
  for (; i + COLUMN_BLOCK <= inner; i += COLUMN_BLOCK) {
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    let t4 = 0;
    let t5 = 0;
    let t6 = 0;
    let t7 = 0;
    for (let offset = begin + i; offset < end; offset += inner) {
      t0 += source[offset];
      t1 += source[offset + 1];
      t2 += source[offset + 2];
      t3 += source[offset + 3];
      t4 += source[offset + 4];
      t5 += source[offset + 5];
      t6 += source[offset + 6];
      t7 += source[offset + 7];
    }
    totals[i] += t0;
    totals[i + 1] += t1;
    totals[i + 2] += t2;
    totals[i + 3] += t3;
    totals[i + 4] += t4;
    totals[i + 5] += t5;
    totals[i + 6] += t6;
    totals[i + 7] += t7;
  }
  for (; i < inner; i++) {
    let total = 0;
    for (let offset = begin + i; offset < end; offset += inner) total += source[offset];
    totals[i] += total;
  }
}
