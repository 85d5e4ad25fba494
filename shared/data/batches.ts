import * as tf from '@tensorflow/tfjs';
import { WashError } from '../errors';
import { deriveSeed, Rng } from '../rng';
import { Augmentation, checkAugmentation, drawTransform, IDENTITY_TRANSFORM, writeImage, writeTargets } from './augment';
import { imageSize, ImageSet } from './image-set';
import { Normalization, normalizationTable } from './normalization';

export interface BatchStreamOptions {
  /** Images per batch. The last incomplete batch of each epoch is dropped. */
  batchSize: number;
  /** Seed of this member's data order and per-image augmentation draws. */
  seed: number;
  augmentation: Augmentation;
  normalization: Normalization;
}

export interface TrainingBatch {
  /** Normalized, augmented images: float32, shape [batchSize, height, width, channels]. */
  x: tf.Tensor4D;
  /** Smoothed one-hot targets: float32, shape [batchSize, numClasses]. */
  y: tf.Tensor2D;
}

/**
 * Training batches for one ensemble member. Each epoch visits every image
 * once, except the tail that does not fill a batch, in an order shuffled
 * from the member's seed and the epoch number. The order of epoch e therefore
 * does not depend on how many batches came before it.
 */
export class BatchStream {
  readonly batchesPerEpoch: number;
  readonly batchSize: number;
  readonly #set: ImageSet;
  readonly #seed: number;
  readonly #augmentation: Augmentation;
  readonly #table: Float32Array;
  readonly #order: Int32Array;
  #augmentRng!: Rng;
  #epoch = 0;
  #stepInEpoch = 0;

  constructor(set: ImageSet, options: BatchStreamOptions) {
    const { batchSize, seed, augmentation, normalization } = options;
    checkBatchSize(batchSize);
    if (batchSize > set.count) {
      throw new WashError(
        'WASH_ERR_CONFIG',
        `batch size ${batchSize} is larger than the ${set.count} images in the set, so an epoch would have no full batch`,
      );
    }
    if (!Number.isInteger(seed)) {
      throw new WashError('WASH_ERR_CONFIG', `invalid batch stream seed ${seed}: expected an integer`);
    }
    checkAugmentation(augmentation, set);

    this.#set = set;
    this.#seed = seed;
    this.#augmentation = { ...augmentation };
    this.#table = normalizationTable(normalization, set.channels);
    this.#order = new Int32Array(set.count);
    this.batchSize = batchSize;
    this.batchesPerEpoch = Math.floor(set.count / batchSize);
    this.#startEpoch();
  }

  /** Number of completed epochs, which is also the epoch the next batch comes from (0-based). */
  get epoch(): number {
    return this.#epoch;
  }

  /** Number of batches already taken from the current epoch. */
  get stepInEpoch(): number {
    return this.#stepInEpoch;
  }

  /** Builds the next batch. The caller owns and disposes both tensors. */
  next(): TrainingBatch {
    const set = this.#set;
    const { batchSize } = this;
    const size = imageSize(set);
    const x = new Float32Array(batchSize * size);
    const y = new Float32Array(batchSize * set.numClasses);
    const first = this.#stepInEpoch * batchSize;
    for (let i = 0; i < batchSize; i++) {
      const index = this.#order[first + i];
      const transform = drawTransform(this.#augmentation, this.#augmentRng);
      writeImage(set, index, transform, this.#table, x, i * size);
      writeTargets(set.labels[index], set.numClasses, this.#augmentation.labelSmoothing, y, i * set.numClasses);
    }

    this.#stepInEpoch++;
    if (this.#stepInEpoch === this.batchesPerEpoch) {
      this.#epoch++;
      this.#stepInEpoch = 0;
      this.#startEpoch();
    }
    return {
      x: tf.tensor4d(x, [batchSize, set.height, set.width, set.channels], 'float32'),
      y: tf.tensor2d(y, [batchSize, set.numClasses], 'float32'),
    };
  }

  /** Returns a copy of the current epoch's image order, for tests and logging. */
  epochOrder(): Int32Array {
    return this.#order.slice();
  }

  #startEpoch(): void {
    // Reset to the identity before shuffling, so an epoch's order depends only on the seed and the epoch number.
    for (let i = 0; i < this.#order.length; i++) this.#order[i] = i;
    new Rng(deriveSeed(this.#seed, 'order', this.#epoch)).shuffle(this.#order);
    this.#augmentRng = new Rng(deriveSeed(this.#seed, 'augment', this.#epoch));
  }
}

export interface EvalBatch {
  /** Normalized images: float32, shape [count, height, width, channels]. */
  x: tf.Tensor4D;
  /** The labels of these images, a copy. */
  labels: Uint8Array;
  count: number;
}

/**
 * Yields the set in order, in batches of `batchSize` with a smaller last batch
 * when the count is not a multiple, without augmentation. The caller owns and
 * disposes each `x`, and a tensor is made only when its batch is requested.
 */
export function* evalBatches(set: ImageSet, batchSize: number, normalization: Normalization): Generator<EvalBatch> {
  checkBatchSize(batchSize);
  const table = normalizationTable(normalization, set.channels);
  const size = imageSize(set);
  for (let first = 0; first < set.count; first += batchSize) {
    const count = Math.min(batchSize, set.count - first);
    const x = new Float32Array(count * size);
    for (let i = 0; i < count; i++) writeImage(set, first + i, IDENTITY_TRANSFORM, table, x, i * size);
    yield {
      x: tf.tensor4d(x, [count, set.height, set.width, set.channels], 'float32'),
      labels: new Uint8Array(set.labels.subarray(first, first + count)),
      count,
    };
  }
}

function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new WashError('WASH_ERR_CONFIG', `invalid batch size ${batchSize}: expected a positive integer`);
  }
}
