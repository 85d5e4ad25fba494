import { WashError } from '../errors';

/**
 * Images and labels kept as bytes, as the data set files store them. Floats are
 * made per batch, so a whole training set stays at one byte per pixel.
 */
export interface ImageSet {
  /** Pixels 0..255 in NHWC order: image, row, column, channel. */
  images: Uint8Array;
  /** One class index per image, each below `numClasses`. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
}

/** Number of bytes one image takes in `images`. */
export function imageSize(set: ImageSet): number {
  return set.height * set.width * set.channels;
}

/** Returns a view of the first `limit` images, or the set itself when it has no more than that. */
export function takeFirst(set: ImageSet, limit: number): ImageSet {
  if (limit >= set.count) return set;
  return {
    ...set,
    images: set.images.subarray(0, limit * imageSize(set)),
    labels: set.labels.subarray(0, limit),
    count: limit,
  };
}

/** Copies the images at `indices`, in that order, into a new set. */
export function selectImages(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = imageSize(set);
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    images.set(set.images.subarray(index * size, (index + 1) * size), i * size);
    labels[i] = set.labels[index];
  }
  return { ...set, images, labels, count: indices.length };
}

/**
 * Raises WASH_ERR_DATA_LABEL at the first label that is not below `numClasses`.
 * `source` names the file the labels came from.
 */
export function checkLabelRange(labels: Uint8Array, numClasses: number, source: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= numClasses) {
      throw new WashError(
        'WASH_ERR_DATA_LABEL',
        `label ${labels[i]} at index ${i} in ${source} is out of range: expected 0..${numClasses - 1} (${numClasses} classes)`,
      );
    }
  }
}
