import { WashError } from '../errors';
import { readDataFile } from './data-file';
import { checkLabelRange, ImageSet } from './image-set';

/** CIFAR images are 32x32 RGB. Each record stores one as three 1024-byte planes (R, G, B). */
export const CIFAR_SIZE = 32;
export const CIFAR_CHANNELS = 3;
const PLANE_SIZE = CIFAR_SIZE * CIFAR_SIZE;
const IMAGE_SIZE = PLANE_SIZE * CIFAR_CHANNELS;

/** Position of the class label in a record of the CIFAR binary format. */
export interface CifarLayout {
  /** Data set name for error messages. */
  name: string;
  /** Label bytes before the pixels in each record. */
  labelBytes: number;
  /** Index of the class label among those label bytes. */
  labelIndex: number;
  numClasses: number;
}

/** CIFAR-10 records: 1 label byte, then 3072 pixel bytes. */
export const CIFAR10_LAYOUT: CifarLayout = { name: 'CIFAR-10', labelBytes: 1, labelIndex: 0, numClasses: 10 };

/** CIFAR-100 records: a coarse label byte (20 superclasses), a fine label byte (100 classes), then 3072 pixel bytes. */
export function cifar100Layout(labels: 'fine' | 'coarse'): CifarLayout {
  return labels === 'fine'
    ? { name: 'CIFAR-100', labelBytes: 2, labelIndex: 1, numClasses: 100 }
    : { name: 'CIFAR-100', labelBytes: 2, labelIndex: 0, numClasses: 20 };
}

/**
 * Loads and concatenates CIFAR binary files in the order given, converting each
 * image from the CHW planes of the files to HWC. Raises WASH_ERR_DATA_FORMAT
 * when a file's size is not a whole number of records, and WASH_ERR_DATA_LABEL
 * for a label not below the layout's class count.
 */
export async function loadCifarImageSet(paths: string[], layout: CifarLayout): Promise<ImageSet> {
  const recordSize = layout.labelBytes + IMAGE_SIZE;
  const files = await Promise.all(paths.map(async (filePath) => ({ filePath, bytes: await readDataFile(filePath) })));
  for (const { filePath, bytes } of files) {
    if (bytes.length % recordSize !== 0) {
      throw new WashError(
        'WASH_ERR_DATA_FORMAT',
        `${filePath} is ${bytes.length} bytes, which is not a whole number of ${recordSize}-byte ${layout.name} records` +
          ` (${layout.labelBytes} label bytes + ${IMAGE_SIZE} pixel bytes)`,
      );
    }
  }

  const count = files.reduce((total, file) => total + file.bytes.length / recordSize, 0);
  const images = new Uint8Array(count * IMAGE_SIZE);
  const labels = new Uint8Array(count);
  let first = 0;
  for (const { filePath, bytes } of files) {
    const fileCount = bytes.length / recordSize;
    const fileLabels = labels.subarray(first, first + fileCount);
    decodeRecords(bytes, layout, fileLabels, images.subarray(first * IMAGE_SIZE, (first + fileCount) * IMAGE_SIZE));
    checkLabelRange(fileLabels, layout.numClasses, filePath);
    first += fileCount;
  }

  return {
    images,
    labels,
    count,
    height: CIFAR_SIZE,
    width: CIFAR_SIZE,
    channels: CIFAR_CHANNELS,
    numClasses: layout.numClasses,
  };
}

function decodeRecords(bytes: Uint8Array, layout: CifarLayout, labels: Uint8Array, images: Uint8Array): void {
  const recordSize = layout.labelBytes + IMAGE_SIZE;
  for (let record = 0; record < labels.length; record++) {
    const recordStart = record * recordSize;
    labels[record] = bytes[recordStart + layout.labelIndex];
    const planes = recordStart + layout.labelBytes;
    const imageStart = record * IMAGE_SIZE;
    for (let pixel = 0; pixel < PLANE_SIZE; pixel++) {
      const out = imageStart + pixel * CIFAR_CHANNELS;
      images[out] = bytes[planes + pixel];
      images[out + 1] = bytes[planes + PLANE_SIZE + pixel];
      images[out + 2] = bytes[planes + 2 * PLANE_SIZE + pixel];
    }
  }
}

/**
 * Encodes 32x32x3 HWC images as CIFAR binary records, for writing small data
 * sets and test fixtures. `labelColumns` contains one array per label byte of the
 * record, in record order: `[labels]` for CIFAR-10, `[coarse, fine]` for CIFAR-100.
 */
export function encodeCifarRecords(images: Uint8Array, labelColumns: Uint8Array[]): Uint8Array {
  const count = images.length / IMAGE_SIZE;
  if (!Number.isInteger(count) || labelColumns.some((column) => column.length !== count)) {
    throw new WashError(
      'WASH_ERR_DATA_MISMATCH',
      `cannot encode CIFAR records: ${images.length} pixel bytes and label columns of lengths ` +
        `${labelColumns.map((column) => column.length).join(', ')}, expected ${IMAGE_SIZE} bytes per image and one label per image`,
    );
  }
  const recordSize = labelColumns.length + IMAGE_SIZE;
  const bytes = new Uint8Array(count * recordSize);
  for (let record = 0; record < count; record++) {
    const recordStart = record * recordSize;
    labelColumns.forEach((column, i) => (bytes[recordStart + i] = column[record]));
    const planes = recordStart + labelColumns.length;
    for (let pixel = 0; pixel < PLANE_SIZE; pixel++) {
      for (let channel = 0; channel < CIFAR_CHANNELS; channel++) {
        bytes[planes + channel * PLANE_SIZE + pixel] = images[record * IMAGE_SIZE + pixel * CIFAR_CHANNELS + channel];
      }
    }
  }
  return bytes;
}
