import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWashError } from '../shared/errors';
import { Rng } from '../shared/rng';
import {
  checkAugmentation,
  drawTransform,
  GRAYSCALE_CROP_PADDING_CHOICES,
  ImageTransform,
  LABEL_SMOOTHING_CHOICES,
  memberAugmentation,
  NO_AUGMENTATION,
  writeImage,
  writeTargets,
} from '../shared/data/augment';
import { DATASET_NAMES } from '../shared/data/datasets';
import { ImageSet } from '../shared/data/image-set';
import { normalizationTable } from '../shared/data/normalization';

/**
 * A 3x3 grayscale image:
 *   10 20 30
 *   40 50 60
 *   70 80 90
 */
const grid: ImageSet = {
  images: Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90]),
  labels: new Uint8Array(1),
  count: 1,
  height: 3,
  width: 3,
  channels: 1,
  numClasses: 1,
};

/** With mean 0 and std 1 each byte v becomes float32(v / 255), so expected rows can be written as bytes. */
const plainTable = normalizationTable({ mean: [0], std: [1] }, 1);

function transformGrid(transform: ImageTransform): number[] {
  const out = new Float32Array(9);
  writeImage(grid, 0, transform, plainTable, out, 0);
  return Array.from(out, (value) => Math.round(value * 255));
}

describe('writeImage', () => {
  it('copies the image without a transform', () => {
    assert.deepEqual(transformGrid({ shiftY: 0, shiftX: 0, flip: false }), [10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('shifts the crop window and pads with zeros', () => {
    // Output (y, x) reads source (y + 1, x - 1); column -1 and row 3 are padding.
    assert.deepEqual(transformGrid({ shiftY: 1, shiftX: -1, flip: false }), [0, 40, 50, 0, 70, 80, 0, 0, 0]);
  });

  it('shifts up and left', () => {
    // Output (y, x) reads source (y - 1, x + 1).
    assert.deepEqual(transformGrid({ shiftY: -1, shiftX: 1, flip: false }), [0, 0, 0, 20, 30, 0, 50, 60, 0]);
  });

  it('mirrors each row', () => {
    assert.deepEqual(transformGrid({ shiftY: 0, shiftX: 0, flip: true }), [30, 20, 10, 60, 50, 40, 90, 80, 70]);
  });

  it('mirrors after cropping', () => {
    // The crop reads columns 1, 2, 3 (padding); mirroring reverses them to padding, 3, 2.
    assert.deepEqual(transformGrid({ shiftY: 0, shiftX: 1, flip: true }), [0, 30, 20, 0, 60, 50, 0, 90, 80]);
  });

  it('keeps channel order when mirroring', () => {
    const rgb: ImageSet = { ...grid, images: Uint8Array.from([1, 2, 3, 4, 5, 6]), height: 1, width: 2, channels: 3 };
    const table = normalizationTable({ mean: [0, 0, 0], std: [1, 1, 1] }, 3);
    const out = new Float32Array(6);
    writeImage(rgb, 0, { shiftY: 0, shiftX: 0, flip: true }, table, out, 0);
    assert.deepEqual(Array.from(out, (value) => Math.round(value * 255)), [4, 5, 6, 1, 2, 3]);
  });

  it('writes padding as normalized zero', () => {
    // Byte 0 with mean 0.5 and std 0.25 is (0 - 0.5) / 0.25 = -2.
    const table = normalizationTable({ mean: [0.5], std: [0.25] }, 1);
    const out = new Float32Array(9);
    writeImage(grid, 0, { shiftY: 3, shiftX: 0, flip: false }, table, out, 0);
    assert.deepEqual(Array.from(out), new Array(9).fill(-2));
  });

  it('writes at the given offset only', () => {
    const out = new Float32Array(12).fill(7);
    writeImage(grid, 0, { shiftY: 0, shiftX: 0, flip: false }, plainTable, out, 2);
    assert.equal(out[0], 7);
    assert.equal(out[1], 7);
    assert.equal(out[2], Math.fround(10 / 255));
    assert.equal(out[10], Math.fround(90 / 255));
    assert.equal(out[11], 7);
  });
});

describe('drawTransform', () => {
  it('draws every shift from -p to p', () => {
    const rng = new Rng(3);
    const seenY = new Set<number>();
    const seenX = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const transform = drawTransform({ cropPadding: 2, horizontalFlip: false, labelSmoothing: 0 }, rng);
      seenY.add(transform.shiftY);
      seenX.add(transform.shiftX);
      assert.equal(transform.flip, false);
    }
    assert.deepEqual([...seenY].sort(), [-1, -2, 0, 1, 2].sort());
    assert.deepEqual([...seenX].sort(), [-1, -2, 0, 1, 2].sort());
  });

  it('flips about half the images', () => {
    const rng = new Rng(4);
    let flips = 0;
    for (let i = 0; i < 1000; i++) {
      if (drawTransform({ cropPadding: 0, horizontalFlip: true, labelSmoothing: 0 }, rng).flip) flips++;
    }
    // Binomial(1000, 0.5) has std 15.8, so the count falls in 400..600 unless the draw is broken.
    assert.ok(flips > 400, `${flips} flips in 1000`);
    assert.ok(flips < 600, `${flips} flips in 1000`);
  });

  it('leaves images alone without augmentation', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 20; i++) assert.deepEqual(drawTransform(NO_AUGMENTATION, rng), { shiftY: 0, shiftX: 0, flip: false });
  });
});

describe('writeTargets', () => {
  it('smooths one-hot targets', () => {
    // 4 classes, smoothing 0.1: every class gets 0.1 / 4 = 0.025, the label 1 - 0.1 + 0.025 = 0.925.
    const out = new Float32Array(8);
    writeTargets(2, 4, 0.1, out, 4);
    assert.deepEqual(Array.from(out), [0, 0, 0, 0, Math.fround(0.025), Math.fround(0.025), Math.fround(0.925), Math.fround(0.025)]);
  });

  it('writes plain one-hot without smoothing', () => {
    const out = new Float32Array(3);
    writeTargets(0, 3, 0, out, 0);
    assert.deepEqual(Array.from(out), [1, 0, 0]);
  });
});

describe('memberAugmentation', () => {
  it('repeats for the same seed', () => {
    for (const name of DATASET_NAMES) assert.deepEqual(memberAugmentation(name, 42), memberAugmentation(name, 42));
  });

  it('crops and flips CIFAR with padding 4', () => {
    for (let seed = 0; seed < 20; seed++) {
      for (const name of ['cifar10', 'cifar100'] as const) {
        const augmentation = memberAugmentation(name, seed);
        assert.equal(augmentation.cropPadding, 4);
        assert.equal(augmentation.horizontalFlip, true);
        assert.ok(LABEL_SMOOTHING_CHOICES.includes(augmentation.labelSmoothing));
      }
    }
  });

  it('never flips Fashion-MNIST or MNIST', () => {
    for (let seed = 0; seed < 50; seed++) {
      for (const name of ['fashion-mnist', 'mnist'] as const) {
        const augmentation = memberAugmentation(name, seed);
        assert.equal(augmentation.horizontalFlip, false);
        assert.ok(GRAYSCALE_CROP_PADDING_CHOICES.includes(augmentation.cropPadding), `padding ${augmentation.cropPadding}`);
        assert.ok(LABEL_SMOOTHING_CHOICES.includes(augmentation.labelSmoothing));
      }
    }
  });

  it('varies across member seeds', () => {
    const paddings = new Set<number>();
    const smoothings = new Set<number>();
    for (let seed = 0; seed < 30; seed++) {
      const augmentation = memberAugmentation('fashion-mnist', seed);
      paddings.add(augmentation.cropPadding);
      smoothings.add(augmentation.labelSmoothing);
    }
    assert.equal(paddings.size, GRAYSCALE_CROP_PADDING_CHOICES.length);
    assert.equal(smoothings.size, LABEL_SMOOTHING_CHOICES.length);
  });

  it('rejects an unknown data set', () => {
    assert.throws(() => memberAugmentation('svhn' as 'mnist', 1), (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG'));
  });
});

describe('checkAugmentation', () => {
  const invalid = [
    { cropPadding: -1, horizontalFlip: false, labelSmoothing: 0 },
    { cropPadding: 1.5, horizontalFlip: false, labelSmoothing: 0 },
    { cropPadding: 4, horizontalFlip: false, labelSmoothing: 0 },
    { cropPadding: 0, horizontalFlip: false, labelSmoothing: 1 },
    { cropPadding: 0, horizontalFlip: false, labelSmoothing: Number.NaN },
    { cropPadding: 0, horizontalFlip: 'yes' as unknown as boolean, labelSmoothing: 0 },
  ];
  for (const augmentation of invalid) {
    it(`rejects ${JSON.stringify(augmentation)} for 3x3 images`, () => {
      assert.throws(() => checkAugmentation(augmentation, grid), (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG'));
    });
  }

  it('accepts padding up to the image size', () => {
    assert.doesNotThrow(() => checkAugmentation({ cropPadding: 3, horizontalFlip: true, labelSmoothing: 0.1 }, grid));
  });
});
