import { WashError } from '../errors';
import { readDataFile } from './data-file';
import { checkLabelRange, ImageSet } from './image-set';

/**
 * The IDX format of MNIST and Fashion-MNIST: two zero bytes, a data type byte,
 * a rank byte, one big-endian uint32 per dimension, then the values in
 * row-major order. Only unsigned bytes (type 0x08) are read here, because both
 * data sets store pixels and labels that way.
 */
const IDX_UNSIGNED_BYTE = 0x08;

const IDX_TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  dims: number[];
  /** The values in row-major order, a view into the file's bytes. */
  data: Uint8Array;
}

/**
 * Parses an IDX file of unsigned bytes with `expectedRank` dimensions.
 * `source` names the file in errors. Raises WASH_ERR_DATA_FORMAT for a wrong
 * magic, type, rank or a payload longer than the dimensions specify, and
 * WASH_ERR_DATA_TRUNCATED when the header or payload is shorter.
 */
export function parseIdx(bytes: Uint8Array, source: string, expectedRank: number): IdxArray {
  if ((bytes.length >= 1 && bytes[0] !== 0) || (bytes.length >= 2 && bytes[1] !== 0)) {
    throw new WashError(
      'WASH_ERR_DATA_FORMAT',
      `${source} is not an IDX file: it starts with ${hexBytes(bytes.subarray(0, 4))}, expected 00 00 then a type and a rank byte`,
    );
  }
  if (bytes.length < 4) {
    throw new WashError('WASH_ERR_DATA_TRUNCATED', `${source} is truncated: ${bytes.length} bytes, expected an IDX header of at least 4`);
  }

  const type = bytes[2];
  if (type !== IDX_UNSIGNED_BYTE) {
    const typeName = IDX_TYPE_NAMES[type] ?? 'unknown';
    throw new WashError(
      'WASH_ERR_DATA_FORMAT',
      `${source} has IDX data type 0x${hex(type)} (${typeName}), expected 0x08 (unsigned byte)`,
    );
  }
  const rank = bytes[3];
  if (rank !== expectedRank) {
    throw new WashError('WASH_ERR_DATA_FORMAT', `${source} has IDX rank ${rank}, expected ${expectedRank}`);
  }

  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new WashError(
      'WASH_ERR_DATA_TRUNCATED',
      `${source} is truncated: ${bytes.length} bytes, expected an IDX header of ${headerLength} for rank ${rank}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));

  const expectedLength = dims.reduce((product, dim) => product * dim, 1);
  const payloadLength = bytes.length - headerLength;
  const shape = dims.join('x');
  if (payloadLength < expectedLength) {
    throw new WashError(
      'WASH_ERR_DATA_TRUNCATED',
      `${source} is truncated: its payload is ${payloadLength} bytes, but dimensions ${shape} need ${expectedLength}`,
    );
  }
  if (payloadLength > expectedLength) {
    throw new WashError(
      'WASH_ERR_DATA_FORMAT',
      `${source} has ${payloadLength - expectedLength} bytes after the data: its payload is ${payloadLength} bytes, but dimensions ${shape} need ${expectedLength}`,
    );
  }
  return { dims, data: bytes.subarray(headerLength) };
}

/** Encodes unsigned bytes as an IDX file, for writing small data sets and test fixtures. */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const expectedLength = dims.reduce((product, dim) => product * dim, 1);
  if (data.length !== expectedLength) {
    throw new WashError(
      'WASH_ERR_DATA_FORMAT',
      `cannot encode IDX: dimensions ${dims.join('x')} need ${expectedLength} bytes, got ${data.length}`,
    );
  }
  const headerLength = 4 + 4 * dims.length;
  const bytes = new Uint8Array(headerLength + data.length);
  const view = new DataView(bytes.buffer);
  bytes[2] = IDX_UNSIGNED_BYTE;
  bytes[3] = dims.length;
  dims.forEach((dim, i) => view.setUint32(4 + 4 * i, dim, false));
  bytes.set(data, headerLength);
  return bytes;
}

export interface IdxImageSetFiles {
  /** Path of the rank 3 images file (count, rows, columns). */
  imagesPath: string;
  /** Path of the rank 1 labels file (count). */
  labelsPath: string;
  numClasses: number;
}

/**
 * Loads a grayscale image set from an IDX images file and an IDX labels file,
 * each gzipped or raw. Raises WASH_ERR_DATA_MISMATCH when the files hold
 * different counts and WASH_ERR_DATA_LABEL for a label not below `numClasses`.
 */
export async function loadIdxImageSet(files: IdxImageSetFiles): Promise<ImageSet> {
  const [imageBytes, labelBytes] = await Promise.all([readDataFile(files.imagesPath), readDataFile(files.labelsPath)]);
  const images = parseIdx(imageBytes, files.imagesPath, 3);
  const labels = parseIdx(labelBytes, files.labelsPath, 1);

  const [count, height, width] = images.dims;
  if (count === 0) {
    throw new WashError('WASH_ERR_DATA_MISSING', `${files.imagesPath} contains no images`);
  }
  if (height === 0 || width === 0) {
    throw new WashError('WASH_ERR_DATA_FORMAT', `${files.imagesPath} has images of ${height}x${width} pixels, expected at least 1x1`);
  }
  if (labels.dims[0] !== count) {
    throw new WashError(
      'WASH_ERR_DATA_MISMATCH',
      `${files.imagesPath} has ${count} images but ${files.labelsPath} has ${labels.dims[0]} labels, expected one label per image`,
    );
  }
  checkLabelRange(labels.data, files.numClasses, files.labelsPath);

  return { images: images.data, labels: labels.data, count, height, width, channels: 1, numClasses: files.numClasses };
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function hexBytes(bytes: Uint8Array): string {
  return Array.from(bytes, hex).join(' ');
}
