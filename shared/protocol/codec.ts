import { Packr } from 'msgpackr';
import { WashError } from '../errors';
import { Channel, checkMessage } from './schema';

// Plain maps and binary, no msgpackr records or structured clones, so every frame decodes the same way in every process.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export function encodeFrame(message: object): Buffer {
  return packr.pack(message);
}

/** Decodes and schema-checks a frame; a frame over `maxBytes` is rejected before decoding. */
export function decodeFrame<T>(channel: Channel, data: Buffer, source: string, maxBytes: number): T {
  if (data.length > maxBytes) {
    throw new WashError('WASH_ERR_FRAME_SIZE', `frame from ${source} has ${data.length} bytes; the limit is ${maxBytes}`);
  }
  let decoded: unknown;
  try {
    decoded = packr.unpack(data);
  } catch (error) {
    throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed frame from ${source}: not valid MessagePack (${(error as Error).message})`);
  }
  return checkMessage<T>(channel, decoded, source);
}

/** Raw little-endian float32 bytes of an array (a view, no copy). */
export function floatBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Reads float32 values from bytes, copying when the bytes are not 4-aligned. */
export function bytesToFloats(bytes: Uint8Array, source: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed values from ${source}: ${bytes.byteLength} bytes is not a whole number of float32 values`);
  }
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  // A copy into a fresh buffer: Buffer.prototype.slice returns a view, not a copy.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Checks that every value is finite; names the source and position of the first that is not. */
export function checkFinite(values: Float32Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new WashError('WASH_ERR_NON_FINITE', `${what} has a non-finite value (${values[i]}) at position ${i}`);
    }
  }
}
