import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { ErrorCode, isWashError } from '../shared/errors';
import { locateDataFile, readDataFile } from '../shared/data/data-file';
import { encodeIdx, loadIdxImageSet, parseIdx } from '../shared/data/idx';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wash-idx-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
function freshDir(): string {
  const dir = path.join(root, String(dirCount++));
  fs.mkdirSync(dir);
  return dir;
}

function writeFile(dir: string, name: string, bytes: Uint8Array, gzip: boolean): string {
  const filePath = path.join(dir, name);
  fs.writeFileSync(filePath, gzip ? zlib.gzipSync(bytes) : bytes);
  return filePath;
}

/** Pixel p of image i is (7 * i + p) mod 256, so every image differs from its neighbours. */
function patternPixels(count: number, height: number, width: number): Uint8Array {
  const size = height * width;
  const pixels = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < size; p++) pixels[i * size + p] = (7 * i + p) % 256;
  }
  return pixels;
}

/** Writes an images file and a labels file with `count` images of 4x3 pixels and labels i mod 10. */
function writeIdxPair(dir: string, options: { count: number; imagesName: string; labelsName: string; gzipImages: boolean; gzipLabels: boolean }) {
  const pixels = patternPixels(options.count, 4, 3);
  const labels = Uint8Array.from({ length: options.count }, (_, i) => i % 10);
  return {
    pixels,
    labels,
    imagesPath: writeFile(dir, options.imagesName, encodeIdx([options.count, 4, 3], pixels), options.gzipImages),
    labelsPath: writeFile(dir, options.labelsName, encodeIdx([options.count], labels), options.gzipLabels),
  };
}

async function assertRejectsWith(promise: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWashError(error), `expected a WashError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" lacks "${fragment}"`);
    return true;
  });
}

describe('IDX codec', () => {
  it('parses a hand-written rank 3 file', () => {
    // Header: 00 00, type 08, rank 3, then 2, 2, 3 as big-endian uint32, then 12 payload bytes.
    const bytes = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, ...Array.from({ length: 12 }, (_, i) => 100 + i)]);
    const parsed = parseIdx(bytes, 'hand.idx', 3);
    assert.deepEqual(parsed.dims, [2, 2, 3]);
    assert.deepEqual(Array.from(parsed.data), Array.from({ length: 12 }, (_, i) => 100 + i));
  });

  it('reads dimensions above 65535', () => {
    // 70000 = 0x00011170.
    const bytes = new Uint8Array(8 + 70000);
    bytes.set([0, 0, 8, 1, 0x00, 0x01, 0x11, 0x70]);
    assert.deepEqual(parseIdx(bytes, 'big.idx', 1).dims, [70000]);
  });

  it('encodes the same bytes as written by hand', () => {
    const encoded = encodeIdx([3], Uint8Array.from([9, 8, 7]));
    assert.deepEqual(Array.from(encoded), [0, 0, 8, 1, 0, 0, 0, 3, 9, 8, 7]);
  });

  it('rejects encoding data that does not fit the dimensions', () => {
    assert.throws(() => encodeIdx([2, 2], new Uint8Array(3)), (error: unknown) => isWashError(error, 'WASH_ERR_DATA_FORMAT'));
  });
});

describe('IDX image set loading', () => {
  const cases = [
    { title: 'gzipped files with .gz names', imagesName: 'a.gz', labelsName: 'b.gz', gzipImages: true, gzipLabels: true },
    { title: 'raw files with raw names', imagesName: 'a', labelsName: 'b', gzipImages: false, gzipLabels: false },
    { title: 'raw files with .gz names', imagesName: 'a.gz', labelsName: 'b.gz', gzipImages: false, gzipLabels: false },
    { title: 'gzipped files with raw names', imagesName: 'a', labelsName: 'b', gzipImages: true, gzipLabels: true },
    { title: 'one gzipped and one raw file', imagesName: 'a.gz', labelsName: 'b', gzipImages: false, gzipLabels: true },
  ];
  for (const testCase of cases) {
    it(`loads ${testCase.title}`, async () => {
      const written = writeIdxPair(freshDir(), { count: 12, ...testCase });
      const set = await loadIdxImageSet({ imagesPath: written.imagesPath, labelsPath: written.labelsPath, numClasses: 10 });
      assert.equal(set.count, 12);
      assert.equal(set.height, 4);
      assert.equal(set.width, 3);
      assert.equal(set.channels, 1);
      assert.equal(set.numClasses, 10);
      assert.deepEqual(Array.from(set.images), Array.from(written.pixels));
      assert.deepEqual(Array.from(set.labels), Array.from(written.labels));
      assert.ok(!Buffer.isBuffer(set.images), 'images should be a plain Uint8Array');
    });
  }

  it('rejects image and label counts that differ', async () => {
    const dir = freshDir();
    const imagesPath = writeFile(dir, 'images', encodeIdx([3, 4, 3], new Uint8Array(36)), false);
    const labelsPath = writeFile(dir, 'labels', encodeIdx([2], new Uint8Array(2)), false);
    await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), 'WASH_ERR_DATA_MISMATCH', imagesPath, labelsPath);
  });

  it('rejects a label not below the class count', async () => {
    const dir = freshDir();
    const imagesPath = writeFile(dir, 'images', encodeIdx([3, 4, 3], new Uint8Array(36)), false);
    const labelsPath = writeFile(dir, 'labels', encodeIdx([3], Uint8Array.from([9, 10, 0])), false);
    await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), 'WASH_ERR_DATA_LABEL', labelsPath, 'label 10 at index 1');
  });

  it('rejects an images file with no images', async () => {
    const dir = freshDir();
    const imagesPath = writeFile(dir, 'images', encodeIdx([0, 4, 3], new Uint8Array(0)), false);
    const labelsPath = writeFile(dir, 'labels', encodeIdx([0], new Uint8Array(0)), false);
    await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), 'WASH_ERR_DATA_MISSING', imagesPath);
  });

  it('rejects images of zero width', async () => {
    const dir = freshDir();
    const imagesPath = writeFile(dir, 'images', encodeIdx([2, 4, 0], new Uint8Array(0)), false);
    const labelsPath = writeFile(dir, 'labels', encodeIdx([2], new Uint8Array(2)), false);
    await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), 'WASH_ERR_DATA_FORMAT', imagesPath);
  });
});

describe('IDX file errors', () => {
  const good = encodeIdx([2, 4, 3], new Uint8Array(24));
  const withByte = (index: number, value: number): Uint8Array => {
    const bytes = good.slice();
    bytes[index] = value;
    return bytes;
  };
  const cases: Array<{ title: string; bytes: Uint8Array; code: ErrorCode; fragment: string }> = [
    { title: 'bad magic', bytes: withByte(0, 0x42), code: 'WASH_ERR_DATA_FORMAT', fragment: 'not an IDX file' },
    { title: 'float data type', bytes: withByte(2, 0x0d), code: 'WASH_ERR_DATA_FORMAT', fragment: '0x0d (float32)' },
    { title: 'rank 2 for images', bytes: withByte(3, 2), code: 'WASH_ERR_DATA_FORMAT', fragment: 'rank 2, expected 3' },
    { title: 'header cut inside the magic', bytes: good.subarray(0, 3), code: 'WASH_ERR_DATA_TRUNCATED', fragment: '3 bytes' },
    { title: 'header cut inside the dimensions', bytes: good.subarray(0, 10), code: 'WASH_ERR_DATA_TRUNCATED', fragment: 'header of 16' },
    { title: 'payload one byte short', bytes: good.subarray(0, good.length - 1), code: 'WASH_ERR_DATA_TRUNCATED', fragment: 'payload is 23 bytes' },
    { title: 'payload two bytes long', bytes: Uint8Array.from([...good, 1, 2]), code: 'WASH_ERR_DATA_FORMAT', fragment: '2 bytes after the data' },
  ];
  for (const testCase of cases) {
    for (const gzip of [false, true]) {
      it(`rejects ${testCase.title}${gzip ? ' inside gzip' : ''}`, async () => {
        const dir = freshDir();
        const imagesPath = writeFile(dir, 'images', testCase.bytes, gzip);
        const labelsPath = writeFile(dir, 'labels', encodeIdx([2], new Uint8Array(2)), false);
        await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), testCase.code, imagesPath, testCase.fragment);
      });
    }
  }

  it('rejects a labels file of rank 3', async () => {
    const dir = freshDir();
    const imagesPath = writeFile(dir, 'images', good, false);
    const labelsPath = writeFile(dir, 'labels', good, false);
    await assertRejectsWith(loadIdxImageSet({ imagesPath, labelsPath, numClasses: 10 }), 'WASH_ERR_DATA_FORMAT', labelsPath, 'rank 3, expected 1');
  });
});

describe('data file reading', () => {
  it('rejects a missing file', async () => {
    const filePath = path.join(freshDir(), 'absent');
    await assertRejectsWith(readDataFile(filePath), 'WASH_ERR_DATA_MISSING', filePath, 'not found');
  });

  it('rejects an empty file', async () => {
    const filePath = writeFile(freshDir(), 'empty.gz', new Uint8Array(0), false);
    await assertRejectsWith(readDataFile(filePath), 'WASH_ERR_DATA_MISSING', filePath, 'is empty');
  });

  it('rejects gzip of an empty payload', async () => {
    const filePath = writeFile(freshDir(), 'empty', new Uint8Array(0), true);
    await assertRejectsWith(readDataFile(filePath), 'WASH_ERR_DATA_MISSING', filePath, 'empty after gunzip');
  });

  it('rejects a gzip stream cut short', async () => {
    const gzipped = zlib.gzipSync(patternPixels(50, 28, 28));
    const filePath = writeFile(freshDir(), 'cut.gz', gzipped.subarray(0, gzipped.length / 2), false);
    await assertRejectsWith(readDataFile(filePath), 'WASH_ERR_DATA_TRUNCATED', filePath);
  });

  it('rejects gzip magic followed by garbage', async () => {
    const filePath = writeFile(freshDir(), 'bad.gz', Uint8Array.from([0x1f, 0x8b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), false);
    await assertRejectsWith(readDataFile(filePath), 'WASH_ERR_DATA_FORMAT', filePath, 'not valid gzip');
  });

  it('prefers name.gz over name', async () => {
    const dir = freshDir();
    writeFile(dir, 'data', Uint8Array.from([1]), false);
    writeFile(dir, 'data.gz', Uint8Array.from([2]), true);
    const found = await locateDataFile(dir, 'data');
    assert.equal(found, path.join(dir, 'data.gz'));
    assert.deepEqual(Array.from(await readDataFile(found)), [2]);
  });

  it('falls back to name without .gz', async () => {
    const dir = freshDir();
    writeFile(dir, 'data', Uint8Array.from([1]), false);
    assert.equal(await locateDataFile(dir, 'data'), path.join(dir, 'data'));
  });

  it('names both tried paths when neither exists', async () => {
    const dir = freshDir();
    await assertRejectsWith(locateDataFile(dir, 'data'), 'WASH_ERR_DATA_MISSING', path.join(dir, 'data.gz'), path.join(dir, 'data'));
  });

  it('skips a directory that has the file name', async () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, 'data.gz'));
    writeFile(dir, 'data', Uint8Array.from([1]), false);
    assert.equal(await locateDataFile(dir, 'data'), path.join(dir, 'data'));
  });
});
