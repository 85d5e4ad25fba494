import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WashError } from '../errors';
import { writeTransposedPatches } from './conv-patches';
import { runWasmKernel, TemporaryTensors } from './wasm-kernel-call';

type Shape4D = [number, number, number, number];

/**
 * Computes the gradient of a 2D convolution with respect to its filter on the
 * wasm backend, which tfjs-backend-wasm 4.22 does not provide.
 *
 * For a forward pass with strides sh and sw, the filter gradient is
 *   dw[kh, kw, ic, oc] = sum over b, oh, ow of xPadded[b, oh*sh + kh, ow*sw + kw, ic] * dy[b, oh, ow, oc],
 * the product P^T dy of the transposed patch matrix P^T, shaped
 * [kH * kW * inChannels, batch * outHeight * outWidth], and dy seen as
 * [batch * outHeight * outWidth, outChannels]. P^T is written on the heap in
 * one pass, and the product runs on the wasm BatchMatMul kernel, which hands
 * it to XNNPACK because neither operand is transposed. Each output is a sum
 * of float32 products, so results agree with any exact summation within
 * float32 rounding. Rows and columns past the end of x, as with
 * dimRoundingMode 'ceil', count as zeros, as in the cpu backend's kernel.
 *
 * For the 3x3 convolutions of the cnn model at batch size 128 this took 43 ms
 * (32 to 64 channels at 14x14) and 5 ms (1 to 32 channels at 28x28), where
 * a convolution of x by dy on the wasm Conv2D kernel took 53 ms and 28 ms
 * (bench/kernel-bench.ts, one core of a 2-core AMD EPYC).
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
  const patchCount = convInfo.batchSize * convInfo.outHeight * convInfo.outWidth;
  const patchSize = convInfo.filterHeight * convInfo.filterWidth * convInfo.inChannels;
  if (patchCount === 0 || patchSize === 0 || convInfo.outChannels === 0) {
    return runWasmKernel('Fill', wasm, {}, { shape: filterShape, value: 0, dtype: 'float32' });
  }

  const temporaries = new TemporaryTensors(wasm);
  try {
    const transposedPatches = temporaries.add(wasm.makeOutput([patchSize, patchCount], 'float32'));
    const dyMatrix = temporaries.add(wasm.makeOutput([patchCount, convInfo.outChannels], 'float32'));
    // makeOutput can grow the heap, which detaches views made before it, so all views are made after both calls.
    writeTransposedPatches(heapFloats(wasm, x), heapFloats(wasm, transposedPatches), convInfo);
    // dy is copied, not reshaped, because XNNPACK caches the weights it packs
    // from b by b's tensor id, and a reshape shares dy's id, which other products may use with another shape.
    heapFloats(wasm, dyMatrix).set(heapFloats(wasm, dy));

    const product = runWasmKernel('BatchMatMul', wasm, { a: transposedPatches, b: dyMatrix }, { transposeA: false, transposeB: false });
    return { ...product, shape: [...filterShape] };
  } finally {
    temporaries.dispose();
  }
}

function heapFloats(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
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
