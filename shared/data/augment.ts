import { WashError } from '../errors';
import { deriveSeed, Rng } from '../rng';
import type { DatasetName } from './datasets';
import { ImageSet } from './image-set';

/**
 * Per-member settings that perturb training batches. Members of an ensemble
 * get different settings (see memberAugmentation), so they see different
 * views of the same data.
 */
export interface Augmentation {
  /** Zero pixels added on each side before a random crop back to the original size. 0 turns cropping off. */
  cropPadding: number;
  /** Whether each image is mirrored left-right with probability 0.5. */
  horizontalFlip: boolean;
  /** Share of the target mass spread evenly over all classes: targets are `onehot * (1 - s) + s / numClasses`. */
  labelSmoothing: number;
}

export const NO_AUGMENTATION: Readonly<Augmentation> = Object.freeze({
  cropPadding: 0,
  horizontalFlip: false,
  labelSmoothing: 0,
});

/** Label smoothing values that members draw from. */
export const LABEL_SMOOTHING_CHOICES: readonly number[] = [0, 0.05, 0.1];

/** Crop padding for CIFAR, the usual 4 pixels around a 32x32 image. */
export const CIFAR_CROP_PADDING = 4;

/** Crop paddings that Fashion-MNIST and MNIST members draw from, in pixels around a 28x28 image. */
export const GRAYSCALE_CROP_PADDING_CHOICES: readonly number[] = [0, 1, 2];

/**
 * Chooses one member's augmentation from its seed. CIFAR members all crop
 * with padding 4 and flip, and differ in label smoothing and in their per-image
 * draws. Fashion-MNIST and MNIST members draw a crop padding of 0 to 2 and a
 * label smoothing. They never flip, because a mirrored digit is a different
 * glyph and Fashion-MNIST keeps the same policy as MNIST.
 */
export function memberAugmentation(dataset: DatasetName, memberSeed: number): Augmentation {
  const rng = new Rng(deriveSeed(memberSeed, 'augmentation'));
  const labelSmoothing = LABEL_SMOOTHING_CHOICES[rng.nextInt(LABEL_SMOOTHING_CHOICES.length)];
  switch (dataset) {
    case 'cifar10':
    case 'cifar100':
      return { cropPadding: CIFAR_CROP_PADDING, horizontalFlip: true, labelSmoothing };
    case 'fashion-mnist':
    case 'mnist': {
      const cropPadding = GRAYSCALE_CROP_PADDING_CHOICES[rng.nextInt(GRAYSCALE_CROP_PADDING_CHOICES.length)];
      return { cropPadding, horizontalFlip: false, labelSmoothing };
    }
    default:
      throw new WashError('WASH_ERR_CONFIG', `unknown data set "${String(dataset)}" for augmentation`);
  }
}

/** Raises WASH_ERR_CONFIG unless `augmentation` is usable on images of `set`'s size. */
export function checkAugmentation(augmentation: Augmentation, set: ImageSet): void {
  const { cropPadding, horizontalFlip, labelSmoothing } = augmentation;
  const maxPadding = Math.min(set.height, set.width);
  if (!Number.isInteger(cropPadding) || cropPadding < 0 || cropPadding > maxPadding) {
    throw new WashError(
      'WASH_ERR_CONFIG',
      `invalid cropPadding ${cropPadding}: expected an integer from 0 to ${maxPadding} for ${set.height}x${set.width} images`,
    );
  }
  if (typeof horizontalFlip !== 'boolean') {
    throw new WashError('WASH_ERR_CONFIG', `invalid horizontalFlip ${String(horizontalFlip)}: expected true or false`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new WashError('WASH_ERR_CONFIG', `invalid labelSmoothing ${labelSmoothing}: expected a number in [0, 1)`);
  }
}

/** The random choices for one image: a shift of the crop window and whether to mirror. */
export interface ImageTransform {
  /** Row offset of the crop window: output row y reads source row y + shiftY. */
  shiftY: number;
  /** Column offset of the crop window: cropped column x reads source column x + shiftX, and mirroring comes after the crop. */
  shiftX: number;
  flip: boolean;
}

export const IDENTITY_TRANSFORM: Readonly<ImageTransform> = Object.freeze({ shiftY: 0, shiftX: 0, flip: false });

/**
 * Draws one image's transform. A crop at offset `o` in 0..2p of the image padded
 * by `p` equals a shift of `o - p`, so each shift is uniform in -p..p.
 */
export function drawTransform(augmentation: Augmentation, rng: Rng): ImageTransform {
  const padding = augmentation.cropPadding;
  const shiftY = padding > 0 ? rng.nextInt(2 * padding + 1) - padding : 0;
  const shiftX = padding > 0 ? rng.nextInt(2 * padding + 1) - padding : 0;
  const flip = augmentation.horizontalFlip && rng.nextFloat() < 0.5;
  return { shiftY, shiftX, flip };
}

/**
 * Writes image `index` of `set` into `out` at `outOffset` as normalized HWC
 * floats, cropped and mirrored by `transform`. Pixels that the crop takes
 * from the padding are byte 0 before normalization, as with zero padding
 * ahead of the usual normalize step. `table` comes from normalizationTable.
 */
export function writeImage(
  set: ImageSet,
  index: number,
  transform: ImageTransform,
  table: Float32Array,
  out: Float32Array,
  outOffset: number,
): void {
  const { height, width, channels, images } = set;
  const rowLength = width * channels;
  const imageStart = index * height * rowLength;
  const { shiftY, shiftX, flip } = transform;
  let o = outOffset;
  for (let y = 0; y < height; y++) {
    const sourceY = y + shiftY;
    const rowInside = sourceY >= 0 && sourceY < height;
    const rowStart = imageStart + sourceY * rowLength;
    for (let x = 0; x < width; x++) {
      const sourceX = (flip ? width - 1 - x : x) + shiftX;
      if (rowInside && sourceX >= 0 && sourceX < width) {
        const pixel = rowStart + sourceX * channels;
        for (let channel = 0; channel < channels; channel++) out[o++] = table[channel * 256 + images[pixel + channel]];
      } else {
        for (let channel = 0; channel < channels; channel++) out[o++] = table[channel * 256];
      }
    }
  }
}

/** Writes smoothed one-hot targets: `1 - s + s / k` for the label and `s / k` for every other class. */
export function writeTargets(label: number, numClasses: number, labelSmoothing: number, out: Float32Array, outOffset: number): void {
  const off = labelSmoothing / numClasses;
  out.fill(off, outOffset, outOffset + numClasses);
  out[outOffset + label] = 1 - labelSmoothing + off;
}
