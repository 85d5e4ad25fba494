import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WashError } from '../errors';
import { patchMatrixSize, writePatchesByElement } from './conv-patches';
import { runWasmKernel, TemporaryTensors } from './wasm-kernel-call';

type Shape4D = [number, number, number, number];

/**
 * Computes the gradient of a 2D convolution with respect to its filter on the
 * wasm backend, which tfjs-backend-wasm 4.22 does not provide:
 *   dw[kh, kw, ic, oc] = sum over b, oh, ow of xPadded[b, oh*s + kh, ow*s + kw, ic] * dy[b, oh, ow, oc]
 * for a forward pass with stride s. Two exact rewrites run it on XNNPACK, and
 * `prefersPatchProduct` picks one: a convolution over the batch axis
 * (`filterGradientByConvolution`) or the product of the patch matrix with dy
 * (`filterGradientByPatchProduct`). Both sum in another order than the cpu
 * kernel, so results agree with it within float32 rounding.
 */
export function conv2DBackpropFilterWasm({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  checkSupported(x, dy, dataFormat, (attrs as { dilations?: number | number[] }).dilations);

  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4D, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast',
  );
  checkShapes(x, dy, filterShape, convInfo);

  const wasm = backend as BackendWasm;
  const window = coveredInput(convInfo);
  if (window.rows <= 0 || window.columns <= 0) {
    // Every filter position lies in the padding, so no input value reaches the output.
    return runWasmKernel('Fill', wasm, {}, { shape: filterShape, value: 0, dtype: 'float32' });
  }
  if (prefersPatchProduct(convInfo)) return filterGradientByPatchProduct(x, dy, convInfo, wasm);
  return filterGradientByConvolution(x, dy, convInfo, window, wasm);
}

/**
 * Chooses the patch product for strided convolutions and for fewer than 8
 * input channels, by timings at batch size 128 on one core of a 2-core AMD
 * EPYC. In tf.profile of a cnn training step, the first convolution (1 to 32
 * channels at 28x28) took 16 ms as a patch product and 28 ms as a convolution.
 * The second (32 to 64 channels at 14x14) took 55 ms against 52 ms. Timed
 * alone with a new dy for every call, as in training, ResNet-20's 3x3 stride-2
 * convolutions took 15 to 26 ms as patch products against 24 to 30 ms.
 */
function prefersPatchProduct(convInfo: tf.backend_util.Conv2DInfo): boolean {
  return convInfo.strideHeight > 1 || convInfo.strideWidth > 1 || convInfo.inChannels < 8;
}

/**
 * Computes the filter gradient as a convolution with stride 1 and dilation s.
 * Its input is xPadded transposed to [ic, H, W, b], so the batch axis becomes
 * the channel axis, and its filter is dy transposed to [outH, outW, b, oc].
 * The result, shaped [ic, kH, kW, oc], is transposed to [kH, kW, ic, oc].
 * The wasm Conv2D kernel of 4.22 hands its dilations to XNNPACK, which applies them.
 */
function filterGradientByConvolution(
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  window: InputWindow,
  wasm: BackendWasm,
): tf.TensorInfo {
  const temporaries = new TemporaryTensors(wasm);
  try {
    const input = temporaries.add(paddedInputByChannel(x, convInfo, window, wasm, temporaries));
    const filter = temporaries.add(runWasmKernel('Transpose', wasm, { x: dy }, { perm: [1, 2, 0, 3] }));
    const gradientByChannel = temporaries.add(runWasmKernel('Conv2D', wasm, { x: input, filter }, {
      strides: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
      dilations: [convInfo.strideHeight, convInfo.strideWidth],
    }));
    return runWasmKernel('Transpose', wasm, { x: gradientByChannel }, { perm: [1, 2, 0, 3] });
  } finally {
    temporaries.dispose();
  }
}

/**
 * Computes the filter gradient as the product of the patch matrix, one row
 * per patch element (kh, kw, ic) and one column per output pixel (b, oh, ow),
 * with dy seen as [batch * outHeight * outWidth, outChannels]. The rows are
 * built from x transposed to [ic, b, H, W], where each one is a run of
 * neighbouring values, and the product has the filter's layout as it is.
 */
function filterGradientByPatchProduct(
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  wasm: BackendWasm,
): tf.TensorInfo {
  const { patchCount, patchSize } = patchMatrixSize(convInfo);
  const temporaries = new TemporaryTensors(wasm);
  try {
    // With one channel, [b, H, W, 1] and [1, b, H, W] are the same values in the same order.
    const byChannel = convInfo.inChannels === 1 ? x : temporaries.add(runWasmKernel('Transpose', wasm, { x }, { perm: [3, 0, 1, 2] }));
    const patches = temporaries.add(wasm.makeOutput([patchSize, patchCount], 'float32'));
    // makeOutput can grow the heap, which detaches views made before it, so both views are made after it.
    writePatchesByElement(wasm.typedArrayFromHeap(byChannel) as Float32Array, wasm.typedArrayFromHeap(patches) as Float32Array, convInfo);
    const dyMatrix = temporaries.add(runWasmKernel('Reshape', wasm, { x: dy }, { shape: [patchCount, convInfo.outChannels] }));
    const product = temporaries.add(runWasmKernel('BatchMatMul', wasm, { a: patches, b: dyMatrix }, { transposeA: false, transposeB: false }));
    return runWasmKernel('Reshape', wasm, { x: product }, { shape: [convInfo.filterHeight, convInfo.filterWidth, convInfo.inChannels, convInfo.outChannels] });
  } finally {
    temporaries.dispose();
  }
}

/** Rows and columns of x, counted from its top-left corner, that some filter position reads. */
interface InputWindow {
  rows: number;
  columns: number;
  /** Rows of zeros the padded input needs below the kept rows. */
  padBottom: number;
  /** Columns of zeros the padded input needs right of the kept columns. */
  padRight: number;
}

/**
 * Finds the part of x the forward pass reads. The last filter position ends at
 * row (outHeight - 1) * strideHeight + filterHeight of the padded input. That
 * can stop short of the padded height, as with 'valid' padding and stride 2 on
 * an even size, or pass it, as with dimRoundingMode 'ceil'. Rows past the end of
 * x count as zeros, as in the cpu backend's kernel.
 */
function coveredInput(convInfo: tf.backend_util.Conv2DInfo): InputWindow {
  const neededHeight = (convInfo.outHeight - 1) * convInfo.strideHeight + convInfo.filterHeight;
  const neededWidth = (convInfo.outWidth - 1) * convInfo.strideWidth + convInfo.filterWidth;
  const rows = Math.min(convInfo.inHeight, neededHeight - convInfo.padInfo.top);
  const columns = Math.min(convInfo.inWidth, neededWidth - convInfo.padInfo.left);
  return {
    rows,
    columns,
    padBottom: neededHeight - convInfo.padInfo.top - rows,
    padRight: neededWidth - convInfo.padInfo.left - columns,
  };
}

/**
 * Returns x cropped to `window`, transposed to [inChannels, height, width, batch]
 * and padded with zeros as the forward pass padded it. Intermediates go to
 * `temporaries`, and the caller frees the returned tensor.
 */
function paddedInputByChannel(
  x: tf.TensorInfo,
  convInfo: tf.backend_util.Conv2DInfo,
  window: InputWindow,
  backend: BackendWasm,
  temporaries: TemporaryTensors,
): tf.TensorInfo {
  const [batch, height, width, channels] = x.shape;
  let cropped = x;
  if (window.rows < height || window.columns < width) {
    cropped = temporaries.add(runWasmKernel('Slice', backend, { x }, {
      begin: [0, 0, 0, 0],
      size: [batch, window.rows, window.columns, channels],
    }));
  }

  const { top, left } = convInfo.padInfo;
  const byChannel = runWasmKernel('Transpose', backend, { x: cropped }, { perm: [3, 1, 2, 0] });
  if (top === 0 && left === 0 && window.padBottom === 0 && window.padRight === 0) return byChannel;

  temporaries.add(byChannel);
  return runWasmKernel('PadV2', backend, { x: byChannel }, {
    paddings: [[0, 0], [top, window.padBottom], [left, window.padRight], [0, 0]],
    constantValue: 0,
  });
}

function checkSupported(
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  dataFormat: string,
  dilations: number | number[] | undefined,
): void {
  if (dataFormat !== 'NHWC') {
    throw new WashError('WASH_ERR_CONFIG', `the wasm Conv2DBackpropFilter kernel supports dataFormat 'NHWC' only, got '${dataFormat}'. Build the model channels-last (NHWC) or use the cpu backend`);
  }
  // tfjs-core 4.22 rejects dilated convolutions in the Conv2D gradient before
  // this kernel runs, and passes no dilations attribute. This check catches any other caller.
  const dilationValues = dilations === undefined ? [] : [dilations].flat();
  if (dilationValues.some((value) => value !== 1)) {
    throw new WashError('WASH_ERR_CONFIG', `the wasm Conv2DBackpropFilter kernel supports forward dilations of 1 only, got ${JSON.stringify(dilations)}`);
  }
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new WashError('WASH_ERR_CONFIG', `the wasm Conv2DBackpropFilter kernel supports float32 only, got x ${x.dtype} and dy ${dy.dtype}`);
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new WashError('WASH_ERR_CONFIG', `Conv2DBackpropFilter expects rank-4 x and dy, got shapes [${x.shape}] and [${dy.shape}]`);
  }
}

function checkShapes(x: tf.TensorInfo, dy: tf.TensorInfo, filterShape: Shape4D, convInfo: tf.backend_util.Conv2DInfo): void {
  const expectedDy = convInfo.outShape;
  const matches = expectedDy.every((size, axis) => dy.shape[axis] === size);
  if (!matches || filterShape[2] !== x.shape[3]) {
    throw new WashError('WASH_ERR_CONFIG', `Conv2DBackpropFilter got x [${x.shape}], dy [${dy.shape}] and filterShape [${filterShape}], but the forward pass would give dy [${expectedDy}] and needs filterShape[2] = ${x.shape[3]}`);
  }
}
