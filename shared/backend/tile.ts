import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Dtypes whose wasm data lives on the heap, where `typedArrayFromHeap` can view it. */
const HEAP_DTYPES: ReadonlySet<tf.DataType> = new Set(['float32', 'int32', 'bool']);

/**
 * Wraps the wasm kernel of Tile with a block copy on the output's heap view.
 *
 * tfjs-backend-wasm 4.22 computes the source index of every output element
 * separately. The batch-norm gradient of tfjs-core 4.22 tiles a [1, 1, 1, C]
 * vector to the full activation shape, and at [128, 28, 28, 32] that took
 * 200 ms per call, about 60 ns per element. The block copy moves whole runs
 * with `copyWithin` and repeats each run by doubling, which took 0.3 ms
 * (bench/kernel-bench.ts, one core of a 2-core AMD EPYC). Even one-element
 * runs, as in tiling a [65536, 1] tensor by [1, 2], took a third of the wasm
 * kernel's time. The copy is bit-exact. Strings, scalars and empty tensors go
 * to `original`.
 */
export function withBlockCopyTile(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const { reps } = attrs as unknown as tf.TileAttrs;
    if (!suitsBlockCopy(x, reps)) return original({ inputs, backend, attrs });

    const wasm = backend as BackendWasm;
    const outShape = x.shape.map((size, axis) => size * reps[axis]);
    const out = wasm.makeOutput(outShape, x.dtype);
    // makeOutput can grow the heap, which detaches views made before it, so both views are made after it.
    const source = wasm.typedArrayFromHeap(x);
    const target = wasm.typedArrayFromHeap(out);
    tileInPlace(source, target, x.shape, reps);
    return out;
  };
}

function suitsBlockCopy(x: tf.TensorInfo, reps: number[]): boolean {
  if (!HEAP_DTYPES.has(x.dtype) || x.shape.length === 0 || reps.length !== x.shape.length) return false;
  return x.shape.every((size, axis) => size * reps[axis] > 0);
}

/**
 * Writes the tiling of `source` (shape `shape`) into `target`, which has room
 * for the tiled shape.
 *
 * `source` goes to the start of `target` first. Then each axis, from the last
 * to the first, is expanded in place. Before axis k is expanded, the data has
 * shape [shape[0], ..., shape[k], out[k + 1], ..., out[n - 1]], so it is `outer`
 * slabs of `slab` contiguous elements each. Slab i moves to i * slab * reps[k]
 * and is then repeated by doubling the filled part. Slabs are taken from the
 * last to the first, so no slab is overwritten before it has moved.
 */
function tileInPlace(source: tf.TypedArray, target: tf.TypedArray, shape: number[], reps: number[]): void {
  target.set(source, 0);
  let expandedInner = 1;
  let outer = source.length;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    outer /= shape[axis];
    const slab = shape[axis] * expandedInner;
    const expandedSlab = slab * reps[axis];
    if (reps[axis] > 1) {
      for (let i = outer - 1; i >= 0; i--) {
        repeatSlab(target, i * slab, i * expandedSlab, slab, expandedSlab);
      }
    }
    expandedInner = expandedSlab;
  }
}

function repeatSlab(target: tf.TypedArray, from: number, to: number, slab: number, expandedSlab: number): void {
  if (from !== to) target.copyWithin(to, from, from + slab);
  let filled = slab;
  while (filled < expandedSlab) {
    const count = Math.min(filled, expandedSlab - filled);
    target.copyWithin(to + filled, to, to + count);
    filled += count;
  }
}
