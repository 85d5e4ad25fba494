import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { isWashError } from '../shared/errors';
import { Augmentation, NO_AUGMENTATION } from '../shared/data/augment';
import { BatchStream, evalBatches, TrainingBatch } from '../shared/data/batches';
import { ImageSet } from '../shared/data/image-set';
import { Normalization } from '../shared/data/normalization';

before(async () => {
  await tf.setBackend('cpu');
});

/** With mean 0 and std 1 a byte v becomes float32(v / 255), so bytes can be read back from x. */
const PLAIN: Normalization = { mean: [0], std: [1] };

/**
 * `count` grayscale images of `size`x`size` with one class per image, so the
 * one-hot target names the source image. Pixel p of image i is
 * 1 + (31 * i + 7 * p) mod 255, never 0, so padding cannot be mistaken for a pixel.
 */
function makeSet(count: number, size: number): ImageSet {
  const images = new Uint8Array(count * size * size);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < size * size; p++) images[i * size * size + p] = 1 + ((31 * i + 7 * p) % 255);
  }
  const labels = Uint8Array.from({ length: count }, (_, i) => i);
  return { images, labels, count, height: size, width: size, channels: 1, numClasses: count };
}

/** Takes one batch, returns its image numbers (from the one-hot targets) and pixels as bytes, and frees its tensors. */
function takeBatch(stream: BatchStream): { indices: number[]; bytes: number[][] } {
  const batch: TrainingBatch = stream.next();
  try {
    const [batchSize, height, width] = batch.x.shape;
    const x = batch.x.dataSync();
    const y = batch.y.dataSync();
    const numClasses = batch.y.shape[1];
    const indices: number[] = [];
    const bytes: number[][] = [];
    for (let i = 0; i < batchSize; i++) {
      const targets = Array.from(y.subarray(i * numClasses, (i + 1) * numClasses));
      indices.push(targets.indexOf(Math.max(...targets)));
      bytes.push(Array.from(x.subarray(i * height * width, (i + 1) * height * width), (value) => Math.round(value * 255)));
    }
    return { indices, bytes };
  } finally {
    batch.x.dispose();
    batch.y.dispose();
  }
}

function epochIndices(stream: BatchStream): number[] {
  const indices: number[] = [];
  for (let step = 0; step < stream.batchesPerEpoch; step++) indices.push(...takeBatch(stream).indices);
  return indices;
}

function stream(set: ImageSet, seed: number, batchSize = 8, augmentation: Augmentation = NO_AUGMENTATION): BatchStream {
  return new BatchStream(set, { batchSize, seed, augmentation, normalization: PLAIN });
}

/** Image `index` of a grayscale set shifted by (dy, dx) and optionally mirrored, with zero padding, as bytes. */
function shiftedImage(set: ImageSet, index: number, dy: number, dx: number, flip: boolean): number[] {
  const { height, width } = set;
  const out: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sy = y + dy;
      const sx = (flip ? width - 1 - x : x) + dx;
      const inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
      out.push(inside ? set.images[index * height * width + sy * width + sx] : 0);
    }
  }
  return out;
}

describe('BatchStream order', () => {
  const set = makeSet(64, 4);

  it('repeats the order for the same seed', () => {
    assert.deepEqual(epochIndices(stream(set, 7)), epochIndices(stream(set, 7)));
  });

  it('differs between seeds', () => {
    assert.notDeepEqual(epochIndices(stream(set, 7)), epochIndices(stream(set, 8)));
  });

  it('covers every image once per epoch', () => {
    const members = stream(set, 3);
    for (let epoch = 0; epoch < 3; epoch++) {
      const indices = epochIndices(members);
      assert.deepEqual([...indices].sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i));
    }
  });

  it('reshuffles each epoch', () => {
    const members = stream(set, 3);
    assert.notDeepEqual(epochIndices(members), epochIndices(members));
  });

  it('drops the last incomplete batch', () => {
    const members = stream(makeSet(10, 4), 1, 3);
    assert.equal(members.batchesPerEpoch, 3);
    const indices = epochIndices(members);
    assert.equal(indices.length, 9);
    assert.equal(new Set(indices).size, 9);
    assert.equal(members.epoch, 1);
  });

  it('counts epochs and steps', () => {
    const members = stream(makeSet(10, 4), 1, 4);
    assert.deepEqual([members.epoch, members.stepInEpoch], [0, 0]);
    takeBatch(members);
    assert.deepEqual([members.epoch, members.stepInEpoch], [0, 1]);
    takeBatch(members);
    assert.deepEqual([members.epoch, members.stepInEpoch], [1, 0]);
    takeBatch(members);
    assert.deepEqual([members.epoch, members.stepInEpoch], [1, 1]);
  });

  it('reports the order it serves', () => {
    const members = stream(set, 9);
    const order = Array.from(members.epochOrder()).slice(0, 16);
    assert.deepEqual([...takeBatch(members).indices, ...takeBatch(members).indices], order);
  });
});

describe('BatchStream values', () => {
  it('normalizes with the exact per-channel formula', () => {
    // One RGB pixel (0, 51, 255) = (0, 0.2, 1) in 0..1 units:
    // (0 - 0.2) / 0.4 = -0.5, (0.2 - 0.1) / 0.1 = 1, (1 - 0.5) / 0.25 = 2.
    const set: ImageSet = { images: Uint8Array.from([0, 51, 255]), labels: Uint8Array.from([0]), count: 1, height: 1, width: 1, channels: 3, numClasses: 2 };
    const members = new BatchStream(set, {
      batchSize: 1,
      seed: 0,
      augmentation: NO_AUGMENTATION,
      normalization: { mean: [0.2, 0.1, 0.5], std: [0.4, 0.1, 0.25] },
    });
    const batch = members.next();
    assert.deepEqual(batch.x.shape, [1, 1, 1, 3]);
    assert.equal(batch.x.dtype, 'float32');
    assert.deepEqual(Array.from(batch.x.dataSync()), [-0.5, 1, 2]);
    assert.deepEqual(Array.from(batch.y.dataSync()), [1, 0]);
    tf.dispose([batch.x, batch.y]);
  });

  it('applies label smoothing to the targets', () => {
    // 4 classes, smoothing 0.1: 0.1 / 4 = 0.025 off the label, 1 - 0.1 + 0.025 = 0.925 on it.
    const set = makeSet(4, 2);
    const members = stream(set, 2, 4, { cropPadding: 0, horizontalFlip: false, labelSmoothing: 0.1 });
    const batch = members.next();
    const y = batch.y.dataSync();
    const order = Array.from(new BatchStream(set, { batchSize: 4, seed: 2, augmentation: NO_AUGMENTATION, normalization: PLAIN }).epochOrder());
    for (let i = 0; i < 4; i++) {
      const expected = [0, 1, 2, 3].map((c) => Math.fround(c === order[i] ? 0.925 : 0.025));
      assert.deepEqual(Array.from(y.subarray(i * 4, i * 4 + 4)), expected);
    }
    tf.dispose([batch.x, batch.y]);
  });

  it('shifts images by the random crop', () => {
    // Every image must equal its source shifted by some (dy, dx) in -1..1, and over 4 epochs of
    // 64 images every one of the 9 shifts should appear.
    const set = makeSet(64, 5);
    const members = stream(set, 5, 16, { cropPadding: 1, horizontalFlip: false, labelSmoothing: 0 });
    const seen = new Set<string>();
    for (let step = 0; step < 16; step++) {
      const { indices, bytes } = takeBatch(members);
      indices.forEach((index, i) => {
        const shifts: string[] = [];
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            if (JSON.stringify(shiftedImage(set, index, dy, dx, false)) === JSON.stringify(bytes[i])) shifts.push(`${dy},${dx}`);
          }
        }
        assert.equal(shifts.length, 1, `image ${index} matches ${shifts.length} shifts`);
        seen.add(shifts[0]);
      });
    }
    assert.equal(seen.size, 9);
  });

  it('flips some images and not others', () => {
    const set = makeSet(64, 4);
    const { indices, bytes } = takeBatch(stream(set, 6, 64, { cropPadding: 0, horizontalFlip: true, labelSmoothing: 0 }));
    let flipped = 0;
    indices.forEach((index, i) => {
      const plain = JSON.stringify(bytes[i]) === JSON.stringify(shiftedImage(set, index, 0, 0, false));
      const mirrored = JSON.stringify(bytes[i]) === JSON.stringify(shiftedImage(set, index, 0, 0, true));
      assert.ok(plain !== mirrored, `image ${index} is neither the source nor its mirror`);
      if (mirrored) flipped++;
    });
    assert.ok(flipped > 10, `${flipped} of 64 flipped`);
    assert.ok(flipped < 54, `${flipped} of 64 flipped`);
  });

  it('draws different crops for different seeds', () => {
    const set = makeSet(64, 5);
    const augmentation = { cropPadding: 2, horizontalFlip: false, labelSmoothing: 0 };
    const byIndex = (seed: number): string[] => {
      const { indices, bytes } = takeBatch(stream(set, seed, 64, augmentation));
      const images: string[] = [];
      indices.forEach((index, i) => (images[index] = JSON.stringify(bytes[i])));
      return images;
    };
    assert.deepEqual(byIndex(1), byIndex(1));
    assert.notDeepEqual(byIndex(1), byIndex(2));
  });
});

describe('BatchStream options', () => {
  const set = makeSet(8, 4);
  const invalid: Array<[string, () => unknown]> = [
    ['batch size 0', () => stream(set, 1, 0)],
    ['batch size above the count', () => stream(set, 1, 9)],
    ['fractional seed', () => stream(set, 1.5)],
    ['padding larger than the image', () => stream(set, 1, 4, { cropPadding: 5, horizontalFlip: false, labelSmoothing: 0 })],
    ['normalization for 3 channels', () => new BatchStream(set, { batchSize: 4, seed: 1, augmentation: NO_AUGMENTATION, normalization: { mean: [0, 0, 0], std: [1, 1, 1] } })],
    ['zero std', () => new BatchStream(set, { batchSize: 4, seed: 1, augmentation: NO_AUGMENTATION, normalization: { mean: [0], std: [0] } })],
  ];
  for (const [title, build] of invalid) {
    it(`rejects ${title}`, () => {
      assert.throws(build, (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG'));
    });
  }
});

describe('evalBatches', () => {
  it('yields every image in order with a partial last batch', () => {
    const set = makeSet(10, 3);
    const counts: number[] = [];
    const labels: number[] = [];
    for (const batch of evalBatches(set, 4, PLAIN)) {
      counts.push(batch.count);
      labels.push(...batch.labels);
      assert.deepEqual(batch.x.shape, [batch.count, 3, 3, 1]);
      const first = labels.length - batch.count;
      const expected = Array.from(set.images.subarray(first * 9, (first + batch.count) * 9));
      assert.deepEqual(Array.from(batch.x.dataSync(), (value) => Math.round(value * 255)), expected);
      batch.x.dispose();
    }
    assert.deepEqual(counts, [4, 4, 2]);
    assert.deepEqual(labels, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('returns label copies', () => {
    const set = makeSet(4, 2);
    const [batch] = evalBatches(set, 4, PLAIN);
    batch.x.dispose();
    batch.labels[0] = 99;
    assert.equal(set.labels[0], 0);
  });

  it('rejects batch size 0', () => {
    assert.throws(() => evalBatches(makeSet(4, 2), 0, PLAIN).next(), (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG'));
  });
});

describe('batch tensors', () => {
  it('leave no live tensors once disposed', () => {
    const set = makeSet(32, 4);
    const liveBefore = tf.memory().numTensors;
    const members = stream(set, 1, 8, { cropPadding: 1, horizontalFlip: true, labelSmoothing: 0.05 });
    for (let step = 0; step < 50; step++) takeBatch(members);
    for (const batch of evalBatches(set, 5, PLAIN)) batch.x.dispose();
    for (const batch of evalBatches(set, 5, PLAIN)) {
      batch.x.dispose();
      break;
    }
    assert.equal(tf.memory().numTensors, liveBefore);
  });

  it('builds a 128-image 28x28 batch in a few milliseconds', (t) => {
    const set = makeSet(256, 28);
    const members = stream({ ...set, numClasses: 256 }, 1, 128, { cropPadding: 2, horizontalFlip: false, labelSmoothing: 0.1 });
    for (let step = 0; step < 20; step++) tf.dispose(Object.values(members.next()));
    const steps = 200;
    const started = performance.now();
    for (let step = 0; step < steps; step++) tf.dispose(Object.values(members.next()));
    const perBatch = (performance.now() - started) / steps;
    t.diagnostic(`${perBatch.toFixed(3)} ms per batch of 128, including tensor creation and disposal`);
    // A loose bound so that a slow machine passes but an accidental per-pixel allocation or tensor op fails.
    assert.ok(perBatch < 5, `${perBatch} ms per batch`);
  });
});
