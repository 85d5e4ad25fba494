import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { addPatchesToImage, patchMatrixSize } from './conv-patches';
import { runWasmKernel, TemporaryTensors } from './wasm-kernel-call';

type Shape4D = [number, number, number, number];

/** Zero rows and columns that XNNPACK adds around dy for the stride-1 convolution. */
interface PaddingOfDy {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Wraps the wasm kernel of Conv2DBackpropInput so that the gradient runs on
 * XNNPACK, through the wasm Conv2D or BatchMatMul kernel.
 *
 * tfjs-backend-wasm 4.22 computes this gradient in a plain loop, 350 ms for dy
 * [128, 14, 14, 64] and a 3x3x32x64 filter (tf.profile, one core of a 2-core
 * AMD EPYC), where the forward convolution of the same size takes 31 ms.
 * Two exact rewrites replace it, and `prefersPatchProduct` picks one by the
 * timings of bench/kernel-bench.ts. The convolution needs stride 1 and
 * padding of at most filterSize - 1, so the patch product takes every other
 * case. Both sum in another order than the wasm kernel, so results agree with
 * it within float32 rounding. NCHW, non-float32 and empty tensors, and dy of
 * the wrong shape go to `original`.
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
    const padding = paddingOfDy(convInfo);
    if (prefersPatchProduct(convInfo) || Object.values(padding).some((size) => size < 0)) {
      return backpropInputByPatchProduct(dy, filter, convInfo, wasm);
    }
    return backpropInputByConvolution(dy, filter, padding, wasm);
  };
}

/**
 * Chooses the patch product for strided convolutions and for a single input
 * channel, by timings at batch size 128. For the 3x3 stride-2 convolution of
 * ResNet-20 from 16 to 32 channels at 32x32, the patch product took 26 ms and
 * a convolution of dy spaced out with zeros 44 ms. Its 1x1 stride-2 shortcut
 * took 3 ms against 8 ms, and the cnn's first convolution (1 to 32 channels
 * at 28x28) 12 ms against 17 ms. The convolution won for stride 1 with 3 or
 * more input channels, as in 20 ms against 80 ms at 16 channels.
 */
function prefersPatchProduct(convInfo: tf.backend_util.Conv2DInfo): boolean {
  return convInfo.strideHeight > 1 || convInfo.strideWidth > 1 || convInfo.inChannels === 1;
}

/**
 * Computes dx for stride 1 as a forward convolution. With padding top, x row h
 * is read by output row oh at filter row kh = h + top - oh. So dx is the
 * convolution of dy, padded with (filterHeight - 1 - top) zero rows above, by
 * the filter turned 180 degrees with its in and out channels swapped, and
 * columns work the same way. XNNPACK adds the padding itself.
 */
function backpropInputByConvolution(
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  padding: PaddingOfDy,
  wasm: BackendWasm,
): tf.TensorInfo {
  const temporaries = new TemporaryTensors(wasm);
  try {
    const turnedFilter = temporaries.add(turnFilter(filter, wasm, temporaries));
    return runWasmKernel('Conv2D', wasm, { x: dy, filter: turnedFilter }, {
      strides: [1, 1],
      pad: [[0, 0], [padding.top, padding.bottom], [padding.left, padding.right], [0, 0]],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    });
  } finally {
    temporaries.dispose();
  }
}

/**
 * Computes dx from the product of dy, seen as [batch * outHeight * outWidth,
 * outChannels], and the filter, seen as [outChannels, kH * kW * inChannels].
 * Row (b, oh, ow) of the product is the gradient of the patch that output
 * pixel (b, oh, ow) read, and `addPatchesToImage` adds each row into dx where
 * its patch came from. XNNPACK packs the second operand of a product as its
 * weights, so that operand is the small filter, transposed into a new tensor.
 */
function backpropInputByPatchProduct(
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  wasm: BackendWasm,
): tf.TensorInfo {
  const { patchCount, patchSize } = patchMatrixSize(convInfo);
  const temporaries = new TemporaryTensors(wasm);
  try {
    const dyMatrix = temporaries.add(runWasmKernel('Reshape', wasm, { x: dy }, { shape: [patchCount, convInfo.outChannels] }));
    const filterMatrix = temporaries.add(runWasmKernel('Reshape', wasm, { x: filter }, { shape: [patchSize, convInfo.outChannels] }));
    const filterByOutChannel = temporaries.add(runWasmKernel('Transpose', wasm, { x: filterMatrix }, { perm: [1, 0] }));
    const patchGradients = temporaries.add(runWasmKernel('BatchMatMul', wasm, { a: dyMatrix, b: filterByOutChannel }, {
      transposeA: false,
      transposeB: false,
    }));

    const dx = wasm.makeOutput(convInfo.inShape, 'float32');
    // makeOutput can grow the heap, which detaches views made before it, so both views are made after it.
    const dxValues = wasm.typedArrayFromHeap(dx) as Float32Array;
    dxValues.fill(0);
    addPatchesToImage(wasm.typedArrayFromHeap(patchGradients) as Float32Array, dxValues, convInfo);
    return dx;
  } finally {
    temporaries.dispose();
  }
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
 * Computes the zero padding around dy for which a stride-1 'valid' convolution
 * gives inHeight x inWidth outputs: (filterHeight - 1 - top) rows above, and
 * below whatever makes up inHeight + filterHeight - 1 rows. Only the stride-1
 * case uses it. A negative size means that some dy rows reach no x row, which
 * happens only with padding larger than filterSize - 1.
 */
function paddingOfDy(convInfo: tf.backend_util.Conv2DInfo): PaddingOfDy {
  const top = convInfo.filterHeight - 1 - convInfo.padInfo.top;
  const left = convInfo.filterWidth - 1 - convInfo.padInfo.left;
  return {
    top,
    bottom: convInfo.inHeight + convInfo.filterHeight - 1 - convInfo.outHeight - top,
    left,
    right: convInfo.inWidth + convInfo.filterWidth - 1 - convInfo.outWidth - left,
  };
}
