import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { isWashError } from '../shared/errors';
import { encodeCifarRecords } from '../shared/data/cifar';
import { DATA_DIR_ENV, DEFAULT_FASHION_MNIST_DIR, loadDataset, resolveDataDir } from '../shared/data/datasets';
import { encodeIdx } from '../shared/data/idx';
import { ImageSet } from '../shared/data/image-set';
import { computeNormalization } from '../shared/data/normalization';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wash-datasets-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  const dir = path.join(root, String(dirCount++));
  fs.mkdirSync(dir);
  return dir;
}

/**
 * Writes an MNIST-style directory. Image i carries its own number in pixels 0
 * and 1 (low byte, high byte) and, in the test files, 200 in pixel 2, so any
 * loaded image can be traced back to its file and index.
 */
function writeIdxDataset(options: { trainCount: number; testCount: number; size?: number; gzip?: boolean }): string {
  const dir = freshDir();
  const size = options.size ?? 28;
  const write = (prefix: string, count: number): void => {
    const pixels = new Uint8Array(count * size * size);
    for (let i = 0; i < count; i++) {
      pixels[i * size * size] = i & 0xff;
      pixels[i * size * size + 1] = i >> 8;
      pixels[i * size * size + 2] = prefix === 't10k' ? 200 : 0;
    }
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
    const suffix = options.gzip ? '.gz' : '';
    const encode = (bytes: Uint8Array): Uint8Array => (options.gzip ? zlib.gzipSync(bytes) : bytes);
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte${suffix}`), encode(encodeIdx([count, size, size], pixels)));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte${suffix}`), encode(encodeIdx([count], labels)));
  };
  write('train', options.trainCount);
  write('t10k', options.testCount);
  return dir;
}

/** Reads back the number written into pixels 0 and 1 of each image. */
function imageNumbers(set: ImageSet): number[] {
  const size = set.height * set.width * set.channels;
  return Array.from({ length: set.count }, (_, i) => set.images[i * size] + 256 * set.images[i * size + 1]);
}

async function withDataDirEnv<T>(value: string | undefined, body: () => Promise<T>): Promise<T> {
  const saved = process.env[DATA_DIR_ENV];
  if (value === undefined) delete process.env[DATA_DIR_ENV];
  else process.env[DATA_DIR_ENV] = value;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env[DATA_DIR_ENV];
    else process.env[DATA_DIR_ENV] = saved;
  }
}

describe('loadDataset with IDX files', () => {
  it('holds out 5% of the training images by default', async () => {
    const dir = writeIdxDataset({ trainCount: 200, testCount: 30, gzip: true });
    const splits = await loadDataset({ name: 'mnist', dir });
    assert.equal(splits.name, 'mnist');
    assert.equal(splits.validation.count, 10);
    assert.equal(splits.train.count, 190);
    assert.equal(splits.test.count, 30);
    for (const set of [splits.train, splits.validation, splits.test]) {
      assert.equal(set.height, 28);
      assert.equal(set.width, 28);
      assert.equal(set.channels, 1);
      assert.equal(set.numClasses, 10);
      assert.equal(set.images.length, set.count * 784);
      assert.equal(set.labels.length, set.count);
    }
  });

  it('splits validation disjoint from train', async () => {
    const dir = writeIdxDataset({ trainCount: 300, testCount: 10 });
    const splits = await loadDataset({ name: 'mnist', dir, validationShare: 0.2, splitSeed: 5 });
    const train = imageNumbers(splits.train);
    const validation = imageNumbers(splits.validation);
    assert.equal(validation.length, 60);
    assert.ok(validation.every((n) => !train.includes(n)), 'an image is in both train and validation');
    assert.deepEqual([...train, ...validation].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i));
    // Labels travel with their images: image i has label i mod 10.
    splits.validation.labels.forEach((label, i) => assert.equal(label, validation[i] % 10));
    splits.train.labels.forEach((label, i) => assert.equal(label, train[i] % 10));
    // Both parts keep the file order.
    assert.deepEqual(train, [...train].sort((a, b) => a - b));
    assert.deepEqual(validation, [...validation].sort((a, b) => a - b));
  });

  it('repeats the split for the same seed', async () => {
    const dir = writeIdxDataset({ trainCount: 300, testCount: 10 });
    const first = await loadDataset({ name: 'mnist', dir, splitSeed: 11 });
    const second = await loadDataset({ name: 'mnist', dir, splitSeed: 11 });
    const other = await loadDataset({ name: 'mnist', dir, splitSeed: 12 });
    assert.deepEqual(imageNumbers(first.validation), imageNumbers(second.validation));
    assert.deepEqual(first.normalization, second.normalization);
    assert.notDeepEqual(imageNumbers(first.validation), imageNumbers(other.validation));
  });

  it('takes the first N images under limits', async () => {
    const dir = writeIdxDataset({ trainCount: 300, testCount: 50 });
    const splits = await loadDataset({ name: 'mnist', dir, trainLimit: 100, testLimit: 7, validationShare: 0.1 });
    assert.equal(splits.train.count + splits.validation.count, 100);
    assert.equal(splits.validation.count, 10);
    assert.ok([...imageNumbers(splits.train), ...imageNumbers(splits.validation)].every((n) => n < 100));
    assert.deepEqual(imageNumbers(splits.test), [0, 1, 2, 3, 4, 5, 6]);
    assert.ok(Array.from({ length: 7 }, (_, i) => splits.test.images[i * 784 + 2]).every((pixel) => pixel === 200));
  });

  it('computes normalization from the train split', async () => {
    const dir = writeIdxDataset({ trainCount: 40, testCount: 10 });
    const splits = await loadDataset({ name: 'fashion-mnist', dir, validationShare: 0.25 });
    assert.deepEqual(splits.normalization, computeNormalization(splits.train));
    assert.notDeepEqual(splits.normalization, computeNormalization(splits.validation));
  });

  it('keeps every image with validation share 0', async () => {
    const dir = writeIdxDataset({ trainCount: 20, testCount: 5 });
    const splits = await loadDataset({ name: 'mnist', dir, validationShare: 0 });
    assert.equal(splits.train.count, 20);
    assert.equal(splits.validation.count, 0);
  });

  it('rejects images that are not 28x28', async () => {
    const dir = writeIdxDataset({ trainCount: 5, testCount: 5, size: 27 });
    await assert.rejects(loadDataset({ name: 'mnist', dir }), (error: unknown) => {
      assert.ok(isWashError(error, 'WASH_ERR_DATA_FORMAT'));
      assert.match(error.message, /27x27 images, expected 28x28/);
      assert.ok(error.message.includes(dir));
      return true;
    });
  });

  it('rejects a directory without the files', async () => {
    const dir = freshDir();
    await assert.rejects(loadDataset({ name: 'mnist', dir }), (error: unknown) => {
      assert.ok(isWashError(error, 'WASH_ERR_DATA_MISSING'));
      assert.ok(error.message.includes(dir), error.message);
      return true;
    });
  });
});

describe('data directory choice', () => {
  it('prefers the dir option over the environment', async () => {
    await withDataDirEnv('/from/env', async () => {
      assert.equal(resolveDataDir('mnist', '/from/option'), '/from/option');
      assert.equal(resolveDataDir('fashion-mnist', '/from/option'), '/from/option');
    });
  });

  it('uses the environment without a dir option', async () => {
    await withDataDirEnv('/from/env', async () => {
      assert.equal(resolveDataDir('cifar10'), '/from/env');
      assert.equal(resolveDataDir('fashion-mnist'), '/from/env');
    });
  });

  it('defaults only fashion-mnist', async () => {
    await withDataDirEnv(undefined, async () => {
      assert.equal(resolveDataDir('fashion-mnist'), DEFAULT_FASHION_MNIST_DIR);
      for (const name of ['mnist', 'cifar10', 'cifar100'] as const) {
        assert.throws(() => resolveDataDir(name), (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG') && error.message.includes(DATA_DIR_ENV));
      }
    });
  });

  it('loads from WASH_DATA_DIR', async () => {
    const dir = writeIdxDataset({ trainCount: 20, testCount: 4 });
    const splits = await withDataDirEnv(dir, () => loadDataset({ name: 'mnist' }));
    assert.equal(splits.test.count, 4);
  });
});

describe('loadDataset options', () => {
  const dir = writeIdxDataset({ trainCount: 20, testCount: 4 });
  const invalid: Array<[string, Parameters<typeof loadDataset>[0]]> = [
    ['unknown name', { name: 'svhn' as 'mnist', dir }],
    ['validation share of 1', { name: 'mnist', dir, validationShare: 1 }],
    ['negative validation share', { name: 'mnist', dir, validationShare: -0.1 }],
    ['zero train limit', { name: 'mnist', dir, trainLimit: 0 }],
    ['fractional test limit', { name: 'mnist', dir, testLimit: 2.5 }],
    ['fractional split seed', { name: 'mnist', dir, splitSeed: 0.5 }],
    ['share that leaves no training images', { name: 'mnist', dir, trainLimit: 1, validationShare: 0.6 }],
  ];
  for (const [title, options] of invalid) {
    it(`rejects ${title}`, async () => {
      await assert.rejects(loadDataset(options), (error: unknown) => isWashError(error, 'WASH_ERR_CONFIG'));
    });
  }
});

describe('loadDataset with CIFAR files', () => {
  /** Writes `count` records per file; image i of a file has every pixel equal to fileIndex * 10 + i. */
  function writeCifarFile(dir: string, name: string, fileIndex: number, labelColumns: Uint8Array[]): void {
    const count = labelColumns[0].length;
    const images = new Uint8Array(count * 3072);
    for (let i = 0; i < count; i++) images.fill(fileIndex * 10 + i, i * 3072, (i + 1) * 3072);
    fs.writeFileSync(path.join(dir, name), encodeCifarRecords(images, labelColumns));
  }

  it('loads five CIFAR-10 training batches and the test batch', async () => {
    const dir = freshDir();
    for (let batch = 1; batch <= 5; batch++) writeCifarFile(dir, `data_batch_${batch}.bin`, batch, [Uint8Array.from([batch, 9 - batch])]);
    writeCifarFile(dir, 'test_batch.bin', 0, [Uint8Array.from([0, 1, 2])]);
    const splits = await loadDataset({ name: 'cifar10', dir, validationShare: 0 });
    assert.equal(splits.train.count, 10);
    assert.equal(splits.test.count, 3);
    assert.equal(splits.train.numClasses, 10);
    assert.deepEqual(Array.from(splits.train.labels), [1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    assert.equal(splits.train.images[9 * 3072], 51);
    assert.equal(splits.normalization.mean.length, 3);
    assert.equal(splits.normalization.std.length, 3);
  });

  it('loads CIFAR-100 fine or coarse labels', async () => {
    const dir = freshDir();
    writeCifarFile(dir, 'train.bin', 1, [Uint8Array.from([3, 19, 0, 7]), Uint8Array.from([30, 99, 1, 70])]);
    writeCifarFile(dir, 'test.bin', 2, [Uint8Array.from([5]), Uint8Array.from([55])]);
    const fine = await loadDataset({ name: 'cifar100', dir, validationShare: 0 });
    const coarse = await loadDataset({ name: 'cifar100', dir, validationShare: 0, cifar100Labels: 'coarse' });
    assert.equal(fine.train.numClasses, 100);
    assert.deepEqual(Array.from(fine.train.labels), [30, 99, 1, 70]);
    assert.deepEqual(Array.from(fine.test.labels), [55]);
    assert.equal(coarse.train.numClasses, 20);
    assert.deepEqual(Array.from(coarse.train.labels), [3, 19, 0, 7]);
  });
});

describe('computeNormalization', () => {
  it('matches a hand-checked grayscale case', () => {
    // Pixels 0 and 255 in equal numbers: mean 0.5, variance (0.25 + 0.25) / 2 = 0.25, std 0.5.
    const set = { images: Uint8Array.from([0, 255, 255, 0]), labels: new Uint8Array(1), count: 1, height: 2, width: 2, channels: 1, numClasses: 1 };
    assert.deepEqual(computeNormalization(set), { mean: [0.5], std: [0.5] });
  });

  it('separates interleaved channels', () => {
    // Two RGB pixels: R = 0, 255 (mean 0.5, std 0.5); G = 51, 51 (mean 0.2, constant); B = 255, 255 (mean 1, constant).
    const set = { images: Uint8Array.from([0, 51, 255, 255, 51, 255]), labels: new Uint8Array(1), count: 1, height: 1, width: 2, channels: 3, numClasses: 1 };
    const normalization = computeNormalization(set);
    assert.equal(normalization.mean[0], 0.5);
    assert.ok(Math.abs(normalization.mean[1] - 0.2) < 1e-12);
    assert.equal(normalization.mean[2], 1);
    assert.equal(normalization.std[0], 0.5);
    // Constant channels get the floor of one pixel step instead of 0.
    assert.equal(normalization.std[1], 1 / 255);
    assert.equal(normalization.std[2], 1 / 255);
  });
});

describe('real Fashion-MNIST', () => {
  const dir = resolveDataDir('fashion-mnist');
  const present = ['train-images-idx3-ubyte', 'train-images-idx3-ubyte.gz'].some((name) => fs.existsSync(path.join(dir, name)));
  const skip = present ? false : `Fashion-MNIST not found in ${dir} (set ${DATA_DIR_ENV} to its directory to run this test)`;

  it('loads 60000 training and 10000 test images', { skip }, async (t) => {
    const started = performance.now();
    const splits = await loadDataset({ name: 'fashion-mnist', dir });
    const elapsed = performance.now() - started;
    t.diagnostic(`loaded from ${dir} in ${elapsed.toFixed(0)} ms`);
    // A loose bound that only catches a large slowdown, such as a per-byte copy.
    assert.ok(elapsed < 10000, `loading took ${elapsed} ms`);

    assert.equal(splits.train.count + splits.validation.count, 60000);
    assert.equal(splits.validation.count, 3000);
    assert.equal(splits.test.count, 10000);
    for (const set of [splits.train, splits.validation, splits.test]) {
      assert.equal(set.height, 28);
      assert.equal(set.width, 28);
      assert.equal(set.channels, 1);
      assert.equal(set.numClasses, 10);
    }
    // The test set has 1000 images of each class.
    const perClass = new Array(10).fill(0);
    for (const label of splits.test.labels) perClass[label]++;
    assert.deepEqual(perClass, new Array(10).fill(1000));
    // The widely used Fashion-MNIST statistics are mean 0.2860 and std 0.3530 over all 60000 training images;
    // holding out 5% moves them by well under 0.003.
    assert.ok(Math.abs(splits.normalization.mean[0] - 0.286) < 0.003, `mean ${splits.normalization.mean[0]}`);
    assert.ok(Math.abs(splits.normalization.std[0] - 0.353) < 0.003, `std ${splits.normalization.std[0]}`);
  });
});
