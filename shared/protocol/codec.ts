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

/**
 * Copies float32 values out of frame bytes. It always copies: msgpackr returns
 * binary fields as views into the received buffer, and with such views kept
 * past the message handler, runs of three or more members were not
 * reproducible (a later frame changed an earlier one's values).
 */
export function bytesToFloats(bytes: Uint8Array, source: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed values from ${source}: ${bytes.byteLength} bytes is not a whole number of float32 values`);
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

/** Checks that every value is finite; names the source and position of the first that is not. */
export function checkFinite(values: Float32Array, source: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new WashError('WASH_ERR_NON_FINITE', `${source} has a non-finite value (${values[i]}) at position ${i}`);
    }
  }
}
