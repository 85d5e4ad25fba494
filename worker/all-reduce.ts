import { bytesToFloats, checkFinite, floatBytes } from '../shared/protocol/codec';
import { WashError } from '../shared/errors';
import { PeerMesh } from './peer-mesh';

/** Chunk boundaries of a ring all-reduce: chunk k covers [bounds[k], bounds[k+1]). */
export function chunkBounds(length: number, members: number): number[] {
  const bounds = [0];
  for (let k = 1; k <= members; k++) bounds.push(Math.floor((length * k) / members));
  return bounds;
}

/**
 * Sums `values` over all members with a ring all-reduce on the peer mesh:
 * N-1 reduce-scatter steps, then N-1 all-gather steps, each member sending
 * one chunk of 1/N of the values to the next rank per step. Every member
 * sends 2(N-1)/N of the values in total, whatever N is. Returns the sum.
 */
export async function ringAllReduce(mesh: PeerMesh, op: number, rank: number, members: number, values: Float32Array): Promise<Float32Array> {
  const sum = new Float32Array(values);
  if (members === 1) return sum;
  const bounds = chunkBounds(sum.length, members);
  const next = (rank + 1) % members;
  const previous = (rank - 1 + members) % members;
  const chunk = (k: number): Float32Array => sum.subarray(bounds[k], bounds[k + 1]);
  const mod = (k: number): number => ((k % members) + members) % members;

  for (let s = 0; s < members - 1; s++) {
    const sendIndex = mod(rank - s);
    const receiveIndex = mod(rank - s - 1);
    const sending = mesh.send(next, { type: 'reduce', op, phase: s, from: rank, values: floatBytes(chunk(sendIndex).slice()) }, 'reduce');
    const frame = await mesh.receiveReduce(op, s, previous);
    await sending;
    const incoming = checkedChunk(frame.values, chunk(receiveIndex).length, op, s, previous);
    const target = chunk(receiveIndex);
    for (let i = 0; i < target.length; i++) target[i] += incoming[i];
  }
  for (let s = 0; s < members - 1; s++) {
    const phase = members - 1 + s;
    const sendIndex = mod(rank + 1 - s);
    const receiveIndex = mod(rank - s);
    const sending = mesh.send(next, { type: 'reduce', op, phase, from: rank, values: floatBytes(chunk(sendIndex).slice()) }, 'reduce');
    const frame = await mesh.receiveReduce(op, phase, previous);
    await sending;
    chunk(receiveIndex).set(checkedChunk(frame.values, chunk(receiveIndex).length, op, phase, previous));
  }
  return sum;
}

function checkedChunk(bytes: Uint8Array, expected: number, op: number, phase: number, from: number): Float32Array {
  const source = `peer rank ${from}`;
  const values = bytesToFloats(bytes, source);
  if (values.length !== expected) {
    throw new WashError('WASH_ERR_PLAN_MISMATCH', `all-reduce ${op} phase ${phase} chunk from ${source} has ${values.length} values; expected ${expected}`);
  }
  checkFinite(values, `all-reduce ${op} phase ${phase} chunk from ${source}`);
  return values;
}
