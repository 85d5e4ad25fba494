import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { ErrorCode, isWashError } from '../shared/errors';
import { cifar100Layout, CIFAR10_LAYOUT, encodeCifarRecords, loadCifarImageSet } from '../shared/data/cifar';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wash-cifar-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let fileCount = 0;
function writeFile(bytes: Uint8Array, gzip = false): string {
  const filePath = path.join(root, `file-${fileCount++}.bin`);
  fs.writeFileSync(filePath, gzip ? zlib.gzipSync(bytes) : bytes);
  return filePath;
}

/**
 * Builds one record by hand: the label bytes, then three 1024-byte planes.
 * Plane c contains byte (planeBase[c] + p) mod 256 at pixel p = 32 * row + column.
 */
function record(labelBytes: number[], planeBase: [number, number, number]): Uint8Array {
  const bytes = new Uint8Array(labelBytes.length + 3072);
  bytes.set(labelBytes);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 1024; p++) bytes[labelBytes.length + c * 1024 + p] = (planeBase[c] + p) % 256;
  }
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => Array.from(part)));
}

async function assertRejectsWith(promise: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWashError(error), `expected a WashError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" lacks "${fragment}"`);
    return true;
  });
}

describe('CIFAR-10 loading', () => {
  it('converts CHW planes to HWC', async () => {
    const filePath = writeFile(concat([record([3], [0, 100, 200]), record([7], [10, 20, 30])]));
    const set = await loadCifarImageSet([filePath], CIFAR10_LAYOUT);
    assert.equal(set.count, 2);
    assert.equal(set.height, 32);
    assert.equal(set.width, 32);
    assert.equal(set.channels, 3);
    assert.equal(set.numClasses, 10);
    assert.deepEqual(Array.from(set.labels), [3, 7]);

    // Image 0, row 0, column 0 (p = 0): R = 0, G = 100, B = 200 at bytes 0..2.
    assert.deepEqual(Array.from(set.images.subarray(0, 3)), [0, 100, 200]);
    // Image 0, row 1, column 2 (p = 34): R = 34, G = 134, B = 234 at bytes 3 * 34 = 102..104.
    assert.deepEqual(Array.from(set.images.subarray(102, 105)), [34, 134, 234]);
    // Image 1, row 31, column 31 (p = 1023): R = 1033 mod 256 = 9, G = 1043 mod 256 = 19, B = 1053 mod 256 = 29,
    // at bytes 3072 + 3 * 1023 = 6141..6143.
    assert.deepEqual(Array.from(set.images.subarray(6141, 6144)), [9, 19, 29]);
  });

  it('concatenates files in the order given', async () => {
    const first = writeFile(concat([record([1], [1, 1, 1]), record([2], [2, 2, 2])]));
    const second = writeFile(record([9], [9, 9, 9]), true);
    const set = await loadCifarImageSet([first, second], CIFAR10_LAYOUT);
    assert.equal(set.count, 3);
    assert.deepEqual(Array.from(set.labels), [1, 2, 9]);
    assert.equal(set.images[2 * 3072], 9);
  });

  it('round-trips through encodeCifarRecords', async () => {
    const images = Uint8Array.from({ length: 3 * 3072 }, (_, i) => (i * 13) % 251);
    const labels = Uint8Array.from([0, 5, 9]);
    const encoded = encodeCifarRecords(images, [labels]);
    assert.equal(encoded.length, 3 * 3073);
    const set = await loadCifarImageSet([writeFile(encoded)], CIFAR10_LAYOUT);
    assert.deepEqual(Array.from(set.images), Array.from(images));
    assert.deepEqual(Array.from(set.labels), Array.from(labels));
  });

  it('encodes HWC pixels as CHW planes', () => {
    const images = new Uint8Array(3072);
    images.set([11, 22, 33], 3 * 34); // row 1, column 2
    const encoded = encodeCifarRecords(images, [Uint8Array.from([4])]);
    assert.equal(encoded[0], 4);
    assert.equal(encoded[1 + 34], 11);
    assert.equal(encoded[1 + 1024 + 34], 22);
    assert.equal(encoded[1 + 2048 + 34], 33);
  });
});

describe('CIFAR-100 loading', () => {
  const records = concat([record([4, 45], [0, 0, 0]), record([19, 99], [5, 5, 5])]);

  it('uses the fine label in the fine layout', async () => {
    const set = await loadCifarImageSet([writeFile(records)], cifar100Layout('fine'));
    assert.equal(set.numClasses, 100);
    assert.deepEqual(Array.from(set.labels), [45, 99]);
    assert.equal(set.images[3072], 5);
  });

  it('uses the coarse label in the coarse layout', async () => {
    const set = await loadCifarImageSet([writeFile(records)], cifar100Layout('coarse'));
    assert.equal(set.numClasses, 20);
    assert.deepEqual(Array.from(set.labels), [4, 19]);
  });

  it('reads pixels after both label bytes', async () => {
    const set = await loadCifarImageSet([writeFile(record([0, 0], [7, 8, 9]))], cifar100Layout('fine'));
    assert.deepEqual(Array.from(set.images.subarray(0, 3)), [7, 8, 9]);
  });
});

describe('CIFAR file errors', () => {
  it('rejects a size that is not a whole number of records', async () => {
    const filePath = writeFile(concat([record([1], [0, 0, 0]), Uint8Array.from([1, 2, 3])]));
    await assertRejectsWith(loadCifarImageSet([filePath], CIFAR10_LAYOUT), 'WASH_ERR_DATA_FORMAT', filePath, '3076 bytes', '3073-byte');
  });

  it('rejects a CIFAR-10 file read as CIFAR-100', async () => {
    const filePath = writeFile(concat([record([1], [0, 0, 0]), record([2], [0, 0, 0])]));
    await assertRejectsWith(loadCifarImageSet([filePath], cifar100Layout('fine')), 'WASH_ERR_DATA_FORMAT', filePath, '3074-byte');
  });

  it('rejects a CIFAR-10 label of 10', async () => {
    const good = writeFile(record([9], [0, 0, 0]));
    const bad = writeFile(concat([record([0], [0, 0, 0]), record([10], [0, 0, 0])]));
    await assertRejectsWith(loadCifarImageSet([good, bad], CIFAR10_LAYOUT), 'WASH_ERR_DATA_LABEL', bad, 'label 10 at index 1');
  });

  it('rejects a fine label of 100', async () => {
    const filePath = writeFile(record([3, 100], [0, 0, 0]));
    await assertRejectsWith(loadCifarImageSet([filePath], cifar100Layout('fine')), 'WASH_ERR_DATA_LABEL', filePath, 'expected 0..99');
  });

  it('rejects a coarse label of 20', async () => {
    const filePath = writeFile(record([20, 3], [0, 0, 0]));
    await assertRejectsWith(loadCifarImageSet([filePath], cifar100Layout('coarse')), 'WASH_ERR_DATA_LABEL', filePath, 'expected 0..19');
  });

  it('rejects an empty file', async () => {
    const filePath = writeFile(new Uint8Array(0));
    await assertRejectsWith(loadCifarImageSet([filePath], CIFAR10_LAYOUT), 'WASH_ERR_DATA_MISSING', filePath);
  });

  it('rejects a missing file', async () => {
    const filePath = path.join(root, 'absent.bin');
    await assertRejectsWith(loadCifarImageSet([filePath], CIFAR10_LAYOUT), 'WASH_ERR_DATA_MISSING', filePath);
  });

  it('rejects encoding label columns of the wrong length', () => {
    assert.throws(
      () => encodeCifarRecords(new Uint8Array(2 * 3072), [new Uint8Array(2), new Uint8Array(1)]),
      (error: unknown) => isWashError(error, 'WASH_ERR_DATA_MISMATCH'),
    );
  });
});
