import { WashError } from '../errors';

type FieldKind = 'int' | 'number' | 'string' | 'bytes' | 'bytesList' | 'intList' | 'object' | 'bool' | 'peers';
type Schema = Record<string, Record<string, FieldKind | `${FieldKind}?`>>;

const BYTE_COUNTS: FieldKind = 'object';

/** Field kinds of every message type, per channel; a frame with another type or a wrong field is rejected. */
export const SCHEMAS = {
  worker: {
    hello: { protocol: 'int', host: 'string', pid: 'int', peerUrl: 'string', backend: 'string' },
    ready: { rank: 'int', backend: 'string', signature: 'string', usingGpu: 'bool?' },
    meshReady: { rank: 'int' },
    progress: { rank: 'int', step: 'int', epoch: 'int', loss: 'number', samplesPerSecond: 'number', bytes: BYTE_COUNTS },
    epochEnd: { rank: 'int', metrics: 'object', bytes: BYTE_COUNTS },
    snapshot: { rank: 'int', epoch: 'int', parameters: 'bytesList', statistics: 'bytesList' },
    final: { rank: 'int', parameters: 'bytesList', statistics: 'bytesList', bytes: BYTE_COUNTS, steps: 'int', valuesMoved: 'int', trainSeconds: 'number' },
    abort: { code: 'string', message: 'string', rank: 'int?' },
  },
  coordinator: {
    welcome: { rank: 'int', config: 'object' },
    peers: { peers: 'peers' },
    start: { firstStep: 'int', seeds: 'intList' },
    seeds: { firstStep: 'int', seeds: 'intList' },
    snapshotRequest: { epoch: 'int' },
    done: {},
    abort: { code: 'string', message: 'string', rank: 'int?' },
    status: { status: 'object' },
  },
  heartbeat: {
    heartbeat: { rank: 'int', step: 'int', busyMs: 'number' },
  },
  peer: {
    peerHello: { protocol: 'int', runId: 'string', rank: 'int' },
    shuffle: { step: 'int', from: 'int', values: 'bytes' },
    reduce: { op: 'int', phase: 'int', from: 'int', values: 'bytes' },
    abort: { code: 'string', message: 'string', rank: 'int?' },
  },
  status: {
    statusRequest: {},
  },
} satisfies Record<string, Schema>;

export type Channel = keyof typeof SCHEMAS;

function matches(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case 'int':
      return Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && !Number.isNaN(value);
    case 'string':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'bytes':
      return value instanceof Uint8Array;
    case 'bytesList':
      return Array.isArray(value) && value.every((v) => v instanceof Uint8Array);
    case 'intList':
      return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v));
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
    case 'peers':
      return Array.isArray(value) && value.every((p) => typeof p === 'object' && p !== null && Number.isSafeInteger(p.rank) && typeof p.url === 'string');
  }
}

/**
 * Checks a decoded frame against the channel's schema and returns it typed.
 * `source` names the sender in the error, e.g. "worker 127.0.0.2:51234".
 */
export function checkMessage<T>(channel: Channel, frame: unknown, source: string): T {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed frame from ${source}: expected a map with a "type" field`);
  }
  const message = frame as Record<string, unknown>;
  const schemas: Schema = SCHEMAS[channel];
  const type = message.type;
  if (typeof type !== 'string' || !Object.hasOwn(schemas, type)) {
    throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed frame from ${source}: unknown ${channel} message type ${JSON.stringify(type)}; expected one of ${Object.keys(schemas).join(', ')}`);
  }
  for (const [field, spec] of Object.entries(schemas[type])) {
    const optional = spec.endsWith('?');
    const kind = (optional ? spec.slice(0, -1) : spec) as FieldKind;
    const value = message[field];
    if (value === undefined && optional) continue;
    if (!matches(kind, value)) {
      throw new WashError('WASH_ERR_FRAME_MALFORMED', `malformed ${type} frame from ${source}: field "${field}" must be ${kind}${value === undefined ? ' but is missing' : ''}`);
    }
  }
  return message as T;
}
