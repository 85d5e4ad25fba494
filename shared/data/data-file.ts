import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { WashError } from '../errors';

const gunzip = promisify(zlib.gunzip);

/** Checks for the two bytes that open every gzip member (RFC 1952, section 2.3.1). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Finds `name` in `dir`, trying `name.gz` first and then `name`, and returns
 * the path found. Raises WASH_ERR_DATA_MISSING naming both paths when neither
 * is a file.
 */
export async function locateDataFile(dir: string, name: string): Promise<string> {
  const candidates = [path.join(dir, `${name}.gz`), path.join(dir, name)];
  for (const candidate of candidates) {
    if (await isFile(candidate)) return candidate;
  }
  throw new WashError('WASH_ERR_DATA_MISSING', `data file not found: tried ${candidates.join(' and ')}; pass --data DIR (or set WASH_DATA_DIR) to the data set's folder, or for Fashion-MNIST install Debian's dataset-fashion-mnist`);
}

/**
 * Reads a data set file whole and gunzips it when it starts with the gzip
 * magic bytes. The file name plays no part, so a raw file named `.gz` and a
 * gzipped file without the suffix both load. Returns a plain Uint8Array (not a
 * Buffer) so that `slice` copies as it does for every other typed array.
 */
export async function readDataFile(filePath: string): Promise<Uint8Array> {
  let stored: Buffer;
  try {
    stored = await fs.readFile(filePath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'not found' : `could not be read (${code ?? String(error)})`;
    throw new WashError('WASH_ERR_DATA_MISSING', `data file ${filePath} ${reason}`, { cause: error });
  }
  if (stored.length === 0) {
    throw new WashError('WASH_ERR_DATA_MISSING', `data file ${filePath} is empty`);
  }

  const bytes = isGzip(stored) ? await gunzipDataFile(stored, filePath) : stored;
  if (bytes.length === 0) {
    throw new WashError('WASH_ERR_DATA_MISSING', `data file ${filePath} is empty after gunzip`);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

async function gunzipDataFile(stored: Buffer, filePath: string): Promise<Buffer> {
  try {
    return await gunzip(stored);
  } catch (error) {
    // zlib reports a gzip stream cut short as Z_BUF_ERROR ("unexpected end of file").
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') {
      throw new WashError('WASH_ERR_DATA_TRUNCATED', `gzip data in ${filePath} ends early: the file is truncated`, {
        cause: error,
      });
    }
    throw new WashError(
      'WASH_ERR_DATA_FORMAT',
      `data file ${filePath} starts with the gzip magic bytes but is not valid gzip: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function isFile(filePath: string): Promise<boolean> {
  try {
    return (await fs.stat(filePath)).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new WashError('WASH_ERR_DATA_MISSING', `data file ${filePath} could not be read (${code ?? String(error)})`, {
      cause: error,
    });
  }
}
