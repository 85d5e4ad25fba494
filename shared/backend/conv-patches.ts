import * as tf from '@tensorflow/tfjs';

/**
 * Loops between convolution patches and NHWC images ("im2col" and "col2im"),
 * for the convolution that `info` describes. A patch is the
 * filterHeight x filterWidth x inChannels block of the zero-padded image that
 * one output pixel reads, flattened in (kh, kw, ic) order, the order of the
 * filter's first three axes. Patches are numbered in (b, oh, ow) order, the
 * order of dy's first three axes.
 */

/** Returns the patch matrix's size: one patch per output pixel, one element per filter position and input channel. */
export function patchMatrixSize(info: tf.backend_util.Conv2DInfo): { patchCount: number; patchSize: number } {
  return {
    patchCount: info.batchSize * info.outHeight * info.outWidth,
    patchSize: info.filterHeight * info.filterWidth * info.inChannels,
  };
}

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

/**
 * Writes the patches of an image, given channel-major as [inChannels, batch,
 * inHeight, inWidth], one patch element per row. `target` is shaped
 * [filterHeight * filterWidth * inChannels, batch * outHeight * outWidth], and
 * its row (kh, kw, ic) contains that element of every patch in (b, oh, ow)
 * order, with zeros where the patch reads padding. This matrix times dy, seen
 * as [batch * outHeight * outWidth, outChannels], is the filter gradient.
 */
export function writePatchesByElement(imageByChannel: Float32Array, target: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const planeSize = batchSize * inHeight * inWidth;
  let position = 0;
  for (let kh = 0; kh < info.filterHeight; kh++) {
    const rows = insideRange(kh, strideHeight, top, inHeight, outHeight);
    for (let kw = 0; kw < info.filterWidth; kw++) {
      const columns = insideRange(kw, strideWidth, left, inWidth, outWidth);
      for (let ic = 0; ic < inChannels; ic++) {
        for (let b = 0; b < batchSize; b++) {
          for (let oh = 0; oh < outHeight; oh++) {
            if (oh < rows.begin || oh >= rows.end) {
              target.fill(0, position, position + outWidth);
              position += outWidth;
              continue;
            }
            const imageRow = ic * planeSize + (b * inHeight + oh * strideHeight + kh - top) * inWidth + kw - left;
            for (let ow = 0; ow < columns.begin; ow++) target[position++] = 0;
            for (let ow = columns.begin; ow < columns.end; ow++) target[position++] = imageByChannel[imageRow + ow * strideWidth];
            for (let ow = columns.end; ow < outWidth; ow++) target[position++] = 0;
          }
        }
      }
    }
  }
}
