import { WashError } from '../errors';
import { cifar100Layout, CIFAR10_LAYOUT, loadCifarImageSet } from './cifar';
import { locateDataFile } from './data-file';
import { loadIdxImageSet } from './idx';
import { ImageSet, takeFirst } from './image-set';
import { computeNormalization, Normalization } from './normalization';
import { splitValidation } from './validation-split';

export const DATASET_NAMES = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Default Fashion-MNIST directory, used when neither `dir` nor WASH_DATA_DIR is set. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The environment variable that sets the data directory when `dir` is not passed. */
export const DATA_DIR_ENV = 'WASH_DATA_DIR';

export const DEFAULT_VALIDATION_SHARE = 0.05;

export interface LoadDatasetOptions {
  name: DatasetName;
  /** Directory with the data set files. Default: WASH_DATA_DIR, then DEFAULT_FASHION_MNIST_DIR for fashion-mnist. The other data sets have no default. */
  dir?: string;
  /** Share of the training images held out as the validation set, in [0, 1). Default 0.05. */
  validationShare?: number;
  /** Use only the first N training images, before the validation split. Default: all. */
  trainLimit?: number;
  /** Use only the first N test images. Default: all. */
  testLimit?: number;
  /** Seed of the validation split. Default 0. */
  splitSeed?: number;
  /** CIFAR-100 only: the 100 fine classes or the 20 coarse superclasses. Default 'fine'. */
  cifar100Labels?: 'fine' | 'coarse';
}

export interface DatasetSplits {
  name: DatasetName;
  train: ImageSet;
  validation: ImageSet;
  test: ImageSet;
  /** Per-channel mean and std of the `train` images (after the limit and the split), in 0..1 pixel units. */
  normalization: Normalization;
}

interface RawSplits {
  train: ImageSet;
  test: ImageSet;
}

/**
 * Loads a data set, applies the limits, holds out the validation set and
 * computes the normalization from the remaining training bytes. The
 * normalization is computed rather than taken from published values, so it
 * matches the images actually trained on, including under `trainLimit`.
 * Every process that passes the same files and options gets identical splits.
 */
export async function loadDataset(options: LoadDatasetOptions): Promise<DatasetSplits> {
  const { name } = options;
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new WashError('WASH_ERR_CONFIG', `unknown data set "${name}": expected one of ${DATASET_NAMES.join(', ')}`);
  }
  const trainLimit = checkLimit('trainLimit', options.trainLimit);
  const testLimit = checkLimit('testLimit', options.testLimit);
  const splitSeed = options.splitSeed ?? 0;
  if (!Number.isInteger(splitSeed)) {
    throw new WashError('WASH_ERR_CONFIG', `invalid splitSeed ${splitSeed}: expected an integer`);
  }
  const dir = resolveDataDir(name, options.dir);

  const raw = await loadRawSplits(name, dir, options.cifar100Labels ?? 'fine');
  const limitedTrain = takeFirst(raw.train, trainLimit);
  const { train, validation } = splitValidation(limitedTrain, options.validationShare ?? DEFAULT_VALIDATION_SHARE, splitSeed);
  return {
    name,
    train,
    validation,
    test: takeFirst(raw.test, testLimit),
    normalization: computeNormalization(train),
  };
}

/** Picks the data directory: the `dir` option, then WASH_DATA_DIR, then the default for fashion-mnist. */
export function resolveDataDir(name: DatasetName, dir?: string): string {
  const chosen = dir ?? process.env[DATA_DIR_ENV];
  if (chosen !== undefined && chosen !== '') return chosen;
  if (name === 'fashion-mnist') return DEFAULT_FASHION_MNIST_DIR;
  throw new WashError('WASH_ERR_CONFIG', `no data folder for ${name}: pass --data DIR or set ${DATA_DIR_ENV}`);
}

async function loadRawSplits(name: DatasetName, dir: string, cifar100Labels: 'fine' | 'coarse'): Promise<RawSplits> {
  switch (name) {
    case 'fashion-mnist':
    case 'mnist':
      return loadIdxSplits(name, dir);
    case 'cifar10': {
      const trainFiles = await Promise.all([1, 2, 3, 4, 5].map((batch) => locateDataFile(dir, `data_batch_${batch}.bin`)));
      const testFile = await locateDataFile(dir, 'test_batch.bin');
      const [train, test] = await Promise.all([
        loadCifarImageSet(trainFiles, CIFAR10_LAYOUT),
        loadCifarImageSet([testFile], CIFAR10_LAYOUT),
      ]);
      return { train, test };
    }
    case 'cifar100': {
      const layout = cifar100Layout(cifar100Labels);
      const [trainFile, testFile] = await Promise.all([locateDataFile(dir, 'train.bin'), locateDataFile(dir, 'test.bin')]);
      const [train, test] = await Promise.all([loadCifarImageSet([trainFile], layout), loadCifarImageSet([testFile], layout)]);
      return { train, test };
    }
  }
}

/** MNIST and Fashion-MNIST share file names, 28x28 grayscale images and 10 classes. */
async function loadIdxSplits(name: DatasetName, dir: string): Promise<RawSplits> {
  const loadPart = async (prefix: 'train' | 't10k'): Promise<ImageSet> => {
    const [imagesPath, labelsPath] = await Promise.all([
      locateDataFile(dir, `${prefix}-images-idx3-ubyte`),
      locateDataFile(dir, `${prefix}-labels-idx1-ubyte`),
    ]);
    const set = await loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 });
    if (set.height !== 28 || set.width !== 28) {
      throw new WashError(
        'WASH_ERR_DATA_FORMAT',
        `${imagesPath} has ${set.height}x${set.width} images, expected 28x28 for ${name}`,
      );
    }
    return set;
  };
  const [train, test] = await Promise.all([loadPart('train'), loadPart('t10k')]);
  return { train, test };
}

function checkLimit(option: string, limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new WashError('WASH_ERR_CONFIG', `invalid ${option} ${limit}: expected a positive integer`);
  }
  return limit;
}
