import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Shape4D = [number, number, number, number];

/**
 * The running maximum a pooling window starts from in the wasm MaxPoolGrad of
 * tfjs-backend-wasm 4.22: C++ `std::numeric_limits<float>::min()`, the smallest
 * positive normal float32 (2^-126), not the lowest float.
 */
const WASM_MAX_POOL_START = 2 ** -126;

/**
 * Wraps the wasm kernel of MaxPoolGrad with a loop over the pooling windows
 * that reads and writes the heap directly.
 *
 * tfjs-backend-wasm 4.22 visits every element of dx and, for each pooling
 * window that covers it, compares its offset with that window's maximum. For
 * a [128, 28, 28, 32] input with 2x2 windows that took about 65 ms. Here each
 * window is scanned once and its dy value is added at its maximum, which took
 * 25 ms (bench/kernel-bench.ts, one core of a 2-core AMD EPYC).
 *
 * The result is bit-for-bit that of the wasm kernel, whose choice of maximum
 * differs from the cpu backend's in two ways that this code keeps:
 * - among equal maxima it takes the last in row-major order (`>=`), where the
 *   cpu backend takes the first;
 * - a window whose values are all below 2^-126 (zeros, as after a ReLU, or
 *   negatives) has no maximum, so its dy is dropped, except that it goes to
 *   dx element 0 when the window contains that element.
 * Overlapping windows add into dx in the same order as the wasm kernel, and a
 * non-finite dy value spreads NaN over its window as the kernel's `dy * 0` does.
 * Non-float32 or empty tensors, and dy of the wrong shape, go to `original`.
 */
export function withWindowScanMaxPoolGrad(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
    const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
    if (dy.dtype !== 'float32' || input.dtype !== 'float32' || input.shape.length !== 4) {
      return original({ inputs, backend, attrs });
    }
    const poolInfo = tf.backend_util.computePool2DInfo(input.shape as Shape4D, filterSize, strides, 1, pad, dimRoundingMode);
    const matchesDy = poolInfo.outShape.every((size, axis) => dy.shape[axis] === size);
    if (!matchesDy || tf.util.sizeFromShape(input.shape) === 0 || tf.util.sizeFromShape(dy.shape) === 0) {
      return original({ inputs, backend, attrs });
    }

    const wasm = backend as BackendWasm;
    const dx = wasm.makeOutput(input.shape, 'float32');
    // makeOutput can grow the heap, which detaches views made before it, so all views are made after it.
    const dxValues = wasm.typedArrayFromHeap(dx) as Float32Array;
    dxValues.fill(0);
    const scatter = hasWholeTwoByTwoWindows(poolInfo) ? scatterToTwoByTwoMaxima : scatterToWindowMaxima;
    scatter(wasm.typedArrayFromHeap(input) as Float32Array, wasm.typedArrayFromHeap(dy) as Float32Array, dxValues, poolInfo);
    return dx;
  };
}

/**
 * Rows (or columns) of x that each pooling window covers, clipped to x:
 * window i covers [begin[i], end[i]).
 */
interface WindowRanges {
  begin: Int32Array;
  end: Int32Array;
}

function windowRanges(outSize: number, stride: number, padBefore: number, filterSize: number, inSize: number): WindowRanges {
  const ranges = { begin: new Int32Array(outSize), end: new Int32Array(outSize) };
  for (let i = 0; i < outSize; i++) {
    const corner = i * stride - padBefore;
    ranges.begin[i] = Math.max(corner, 0);
    ranges.end[i] = Math.min(corner + filterSize, inSize);
  }
  return ranges;
}

/** Adds each dy value to dx at its window's maximum in x, with the wasm kernel's choice of maximum. */
function scatterToWindowMaxima(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rows = windowRanges(outHeight, info.strideHeight, info.padInfo.top, info.filterHeight, inHeight);
  const columns = windowRanges(outWidth, info.strideWidth, info.padInfo.left, info.filterWidth, inWidth);
  const rowLength = inWidth * channels;

  for (let b = 0; b < batchSize; b++) {
    const image = b * inHeight * rowLength;
    for (let outRow = 0; outRow < outHeight; outRow++) {
      const rowBegin = rows.begin[outRow];
      const rowEnd = rows.end[outRow];
      for (let outColumn = 0; outColumn < outWidth; outColumn++) {
        const columnBegin = columns.begin[outColumn];
        const columnEnd = columns.end[outColumn];
        const dyPixel = ((b * outHeight + outRow) * outWidth + outColumn) * channels;
        // The wasm kernel's maximum offset starts at 0, so a window with no value
        // at or above the start keeps 0, which lies in the window only here.
        const containsFirstElement = b === 0 && rowBegin === 0 && columnBegin === 0 && rowEnd > 0 && columnEnd > 0;

        for (let c = 0; c < channels; c++) {
          let best = WASM_MAX_POOL_START;
          let target = c === 0 && containsFirstElement ? 0 : -1;
          for (let row = rowBegin; row < rowEnd; row++) {
            const rowStart = image + row * rowLength + c;
            for (let column = columnBegin; column < columnEnd; column++) {
              const offset = rowStart + column * channels;
              const value = x[offset];
              if (value >= best) {
                best = value;
                target = offset;
              }
            }
          }

          const gradient = dy[dyPixel + c];
          if (Number.isFinite(gradient)) {
            if (target >= 0) dx[target] += gradient;
          } else {
            const window = { rowBegin, rowEnd, columnBegin, columnEnd };
            spreadNonFinite(dx, gradient, target, window, image + c, inWidth, channels);
          }
        }
      }
    }
  }
}

/** Checks that the windows are 2x2 with stride 2, start at x's corner and lie inside x, as in the cnn's pooling. */
function hasWholeTwoByTwoWindows(info: tf.backend_util.Conv2DInfo): boolean {
  const twoByTwo = info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2;
  const inside = info.padInfo.top === 0 && info.padInfo.left === 0 && 2 * info.outHeight <= info.inHeight && 2 * info.outWidth <= info.inWidth;
  return twoByTwo && inside;
}

/**
 * Scatters as `scatterToWindowMaxima` does, for whole 2x2 windows with stride
 * 2, with the window's four offsets written out. It makes the same comparisons
 * in the same order, so the result is the same. In tf.profile of a cnn
 * training step, the two max-pool gradients took 29 ms this way and 37 ms in the general loop.
 */
function scatterToTwoByTwoMaxima(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const rowLength = inWidth * channels;
  let dyOffset = 0;
  for (let b = 0; b < batchSize; b++) {
    const image = b * inHeight * rowLength;
    for (let outRow = 0; outRow < outHeight; outRow++) {
      for (let outColumn = 0; outColumn < outWidth; outColumn++) {
        const corner = image + 2 * outRow * rowLength + 2 * outColumn * channels;
        for (let c = 0; c < channels; c++, dyOffset++) {
          const topLeft = corner + c;
          const topRight = topLeft + channels;
          const bottomLeft = topLeft + rowLength;
          const bottomRight = bottomLeft + channels;
          // As in the general loop, only the first window of the first image can fall back to element 0.
          let target = topLeft === 0 ? 0 : -1;
          let best = WASM_MAX_POOL_START;
          if (x[topLeft] >= best) {
            best = x[topLeft];
            target = topLeft;
          }
          if (x[topRight] >= best) {
            best = x[topRight];
            target = topRight;
          }
          if (x[bottomLeft] >= best) {
            best = x[bottomLeft];
            target = bottomLeft;
          }
          if (x[bottomRight] >= best) target = bottomRight;

          const gradient = dy[dyOffset];
          if (Number.isFinite(gradient)) {
            if (target >= 0) dx[target] += gradient;
          } else {
            const window = { rowBegin: 2 * outRow, rowEnd: 2 * outRow + 2, columnBegin: 2 * outColumn, columnEnd: 2 * outColumn + 2 };
            spreadNonFinite(dx, gradient, target, window, image + c, inWidth, channels);
          }
        }
      }
    }
  }
}

/** Rows [rowBegin, rowEnd) and columns [columnBegin, columnEnd) of x that one pooling window covers. */
interface PoolWindow {
  rowBegin: number;
  rowEnd: number;
  columnBegin: number;
  columnEnd: number;
}

/**
 * Adds a NaN or infinite `gradient` as the wasm kernel does: every element of
 * the window in the channel at `channelBase` gets `gradient * 0`, which is
 * NaN, and the maximum, at offset `target`, gets `gradient`.
 */
function spreadNonFinite(
  dx: Float32Array,
  gradient: number,
  target: number,
  window: PoolWindow,
  channelBase: number,
  inWidth: number,
  channels: number,
): void {
  for (let row = window.rowBegin; row < window.rowEnd; row++) {
    for (let column = window.columnBegin; column < window.columnEnd; column++) {
      const offset = channelBase + (row * inWidth + column) * channels;
      dx[offset] += offset === target ? gradient : gradient * 0;
    }
  }
}
