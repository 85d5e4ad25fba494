import * as tf from '@tensorflow/tfjs';

/**
 * The loop from a matrix of convolution patches back to an NHWC image
 * ("col2im"), for the convolution that `info` describes. A patch is the
 * filterHeight x filterWidth x inChannels block of the zero-padded image that
 * one output pixel reads, flattened in (kh, kw, ic) order, the order of the
 * filter's first three axes. Patches are numbered in (b, oh, ow) order, the
 * order of dy's first three axes.
 */

/** Rows (or columns) of output pixels whose patch element at filter offset k lies inside the image. */
interface OutputRange {
  begin: number;
  end: number;
}

/**
 * Computes the output rows oh with 0 <= oh * stride + k - padBefore < inSize,
 * which are the rows whose patch element at filter row k is not padding.
 */
function insideRange(k: number, stride: number, padBefore: number, inSize: number, outSize: number): OutputRange {
  const offset = k - padBefore;
  const begin = Math.max(0, Math.ceil(-offset / stride));
  const end = Math.min(outSize, Math.floor((inSize - 1 - offset) / stride) + 1);
  return { begin, end: Math.max(begin, end) };
}

/**
 * Adds each patch of `patches`, shaped [batch * outHeight * outWidth,
 * filterHeight * filterWidth * inChannels], into `image` at the positions it
 * was read from, skipping padding: the adjoint of taking patches. `image` must
 * start as zeros. Each element of `image` receives its terms in (oh, ow, kh, kw) order.
 */
export function addPatchesToImage(patches: Float32Array, image: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const patchSize = info.filterHeight * info.filterWidth * inChannels;
  const rowRanges = Array.from({ length: info.filterHeight }, (_, kh) => insideRange(kh, strideHeight, info.padInfo.top, inHeight, outHeight));
  const columnRanges = Array.from({ length: info.filterWidth }, (_, kw) => insideRange(kw, strideWidth, info.padInfo.left, inWidth, outWidth));

  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const patch = ((b * outHeight + oh) * outWidth + ow) * patchSize;
        for (let kh = 0; kh < info.filterHeight; kh++) {
          if (oh < rowRanges[kh].begin || oh >= rowRanges[kh].end) continue;
          const imageRow = (b * inHeight + oh * strideHeight + kh - info.padInfo.top) * inWidth;
          for (let kw = 0; kw < info.filterWidth; kw++) {
            if (ow < columnRanges[kw].begin || ow >= columnRanges[kw].end) continue;
            const destination = (imageRow + ow * strideWidth + kw - info.padInfo.left) * inChannels;
            const source = patch + (kh * info.filterWidth + kw) * inChannels;
            for (let ic = 0; ic < inChannels; ic++) image[destination + ic] += patches[source + ic];
          }
        }
      }
    }
  }
}
