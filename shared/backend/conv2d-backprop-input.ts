import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runWasmKernel, TemporaryTensors } from './wasm-kernel-call';

type Shape4D = [number, number, number, number];

/** Zero rows and columns XNNPACK adds around dy, which may be negative where dy must be cropped. */
interface PaddingOfDy {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Wraps the wasm kernel of Conv2DBackpropInput so that the gradient runs as a
 * forward convolution on the wasm Conv2D kernel, which hands it to XNNPACK.
 *
 * tfjs-backend-wasm 4.22 computes this gradient in a plain loop, 350 ms for dy
 * [128, 14, 14, 64] and a 3x3x32x64 filter (tf.profile, one core of a 2-core
 * AMD EPYC), where the forward convolution of the same size takes 31 ms.
 *
 * With forward stride s and padding top, x row h is read by output row oh at
 * filter row kh = h + top - oh * s. So dx is the stride-1 convolution of dy,
 * with s - 1 zero rows inserted between its rows and (filterHeight - 1 - top)
 * zero rows above, by the filter turned 180 degrees with its in and out
 * channels swapped; columns work the same way. For stride 1, XNNPACK pads dy
 * itself. Otherwise, or when that padding would be negative, the spaced and
 * padded dy is built on the heap first. The sums run in another order than in
 * the wasm kernel, so results agree within float32 rounding. NCHW, non-float32
 * and empty tensors, and dy of the wrong shape go to `original`.
 */
export function withConvolutionBackpropInput(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC' || dy.dtype !== 'float32' || filter.dtype !== 'float32' || filter.shape.length !== 4) {
      return original({ inputs, backend, attrs });
    }
    const convInfo = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4D, strides, 1, pad, dimRoundingMode);
    const matchesDy = convInfo.outShape.every((size, axis) => dy.shape[axis] === size);
    if (!matchesDy || tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(inputShape) === 0) {
      return original({ inputs, backend, attrs });
    }

    const wasm = backend as BackendWasm;
    const temporaries = new TemporaryTensors(wasm);
    try {
      const turnedFilter = temporaries.add(turnFilter(filter, wasm, temporaries));
      const padding = paddingOfDy(convInfo);
      const padsInPlace = convInfo.strideHeight === 1 && convInfo.strideWidth === 1 && Object.values(padding).every((size) => size >= 0);
      const input = padsInPlace ? dy : temporaries.add(spacedAndPaddedDy(dy, convInfo, padding, wasm));
      const explicitPadding = padsInPlace ? padding : { top: 0, bottom: 0, left: 0, right: 0 };
      return runWasmKernel('Conv2D', wasm, { x: input, filter: turnedFilter }, {
        strides: [1, 1],
        pad: [[0, 0], [explicitPadding.top, explicitPadding.bottom], [explicitPadding.left, explicitPadding.right], [0, 0]],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      });
    } finally {
      temporaries.dispose();
    }
  };
}

/**
 * Returns the filter [kH, kW, in, out] turned 180 degrees in its spatial axes
 * and shaped [kH, kW, out, in]. The intermediate goes to `temporaries`.
 */
function turnFilter(filter: tf.TensorInfo, backend: BackendWasm, temporaries: TemporaryTensors): tf.TensorInfo {
  const reversed = temporaries.add(runWasmKernel('Reverse', backend, { x: filter }, { dims: [0, 1] }));
  return runWasmKernel('Transpose', backend, { x: reversed }, { perm: [0, 1, 3, 2] });
}

/**
 * Computes the zero padding that turns the spaced dy, of (outHeight - 1) *
 * strideHeight + 1 rows, into the (inHeight + filterHeight - 1) rows that a
 * 'valid' convolution needs for inHeight output rows, and the same for columns.
 */
function paddingOfDy(convInfo: tf.backend_util.Conv2DInfo): PaddingOfDy {
  const spacedHeight = (convInfo.outHeight - 1) * convInfo.strideHeight + 1;
  const spacedWidth = (convInfo.outWidth - 1) * convInfo.strideWidth + 1;
  const top = convInfo.filterHeight - 1 - convInfo.padInfo.top;
  const left = convInfo.filterWidth - 1 - convInfo.padInfo.left;
  return {
    top,
    bottom: convInfo.inHeight + convInfo.filterHeight - 1 - spacedHeight - top,
    left,
    right: convInfo.inWidth + convInfo.filterWidth - 1 - spacedWidth - left,
  };
}

/**
 * Returns dy with strideHeight - 1 zero rows between its rows (and the same for
 * columns), padded with zeros by `padding`, where a negative size crops the
 * rows or columns that no output element reads.
 */
function spacedAndPaddedDy(
  dy: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  padding: PaddingOfDy,
  backend: BackendWasm,
): tf.TensorInfo {
  const [batch, dyHeight, dyWidth, channels] = dy.shape;
  const height = convInfo.inHeight + convInfo.filterHeight - 1;
  const width = convInfo.inWidth + convInfo.filterWidth - 1;
  const out = backend.makeOutput([batch, height, width, channels], 'float32');
  // makeOutput can grow the heap, which detaches views made before it, so both views are made after it.
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const source = backend.typedArrayFromHeap(dy) as Float32Array;
  target.fill(0);

  for (let b = 0; b < batch; b++) {
    for (let dyRow = 0; dyRow < dyHeight; dyRow++) {
      const row = padding.top + dyRow * convInfo.strideHeight;
      if (row < 0 || row >= height) continue;
      for (let dyColumn = 0; dyColumn < dyWidth; dyColumn++) {
        const column = padding.left + dyColumn * convInfo.strideWidth;
        if (column < 0 || column >= width) continue;
        const from = ((b * dyHeight + dyRow) * dyWidth + dyColumn) * channels;
        const to = ((b * height + row) * width + column) * channels;
        for (let c = 0; c < channels; c++) target[to + c] = source[from + c];
      }
    }
  }
  return out;
}
