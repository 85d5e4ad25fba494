import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { Coordinator } from '../coordinator/coordinator';
import { DEFAULT_CONFIG, RunConfig } from '../shared/config';
import { silentLogger } from '../shared/log';
import { connect } from '../shared/net/sockets';
import { encodeFrame } from '../shared/protocol/codec';
import { ROLE_HEADER, TOKEN_HEADER } from '../shared/protocol/messages';
import { PeerMesh } from '../worker/peer-mesh';
import { linkedMeshes, TEST_TOKEN } from './helpers/mesh';
import { ByteCounter } from '../shared/net/byte-counter';

let coordinator: Coordinator;
let url: string;

const config: RunConfig = { ...DEFAULT_CONFIG, runId: 'guards', members: 2, trainLimit: 600, testLimit: 100, backend: 'cpu' };

before(async () => {
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'wash-guards-'));
  coordinator = new Coordinator({ config, token: TEST_TOKEN, listenHost: '127.0.0.1', listenPort: 0, runDir, log: silentLogger });
  url = `ws://127.0.0.1:${await coordinator.start()}`;
});

after(async () => {
  await coordinator.close();
});

/** Opens a raw worker socket with the right token, sends one frame and resolves with the close code and reason. */
function sendAndAwaitClose(frame: Buffer): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { [TOKEN_HEADER]: TEST_TOKEN, [ROLE_HEADER]: 'worker' } });
    socket.on('open', () => socket.send(frame));
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    socket.on('error', reject);
  });
}

test('coordinator rejects a wrong token', async () => {
  await assert.rejects(connect(url, { token: 'wrong', maxPayload: 1024, label: 'coordinator' }, 'WASH_ERR_COORDINATOR_UNREACHABLE'), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'WASH_ERR_TOKEN');
    assert.match(error.message, /rejected the run token/);
    return true;
  });
});

test('coordinator rejects a missing token', async () => {
  const status = await new Promise<number>((resolve) => {
    const socket = new WebSocket(url);
    socket.on('unexpected-response', (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    socket.on('error', () => {});
  });
  assert.equal(status, 401);
});

test('coordinator rejects a worker of another version', async () => {
  const { code, reason } = await sendAndAwaitClose(encodeFrame({ type: 'hello', protocol: 999, host: 'h', pid: 1, peerUrl: 'ws://127.0.0.1:1', backend: '' }));
  assert.equal(code, 4002);
  assert.match(reason, /WASH_ERR_VERSION: .*protocol 999/);
});

test('coordinator rejects a frame that is not MessagePack', async () => {
  const { code, reason } = await sendAndAwaitClose(Buffer.from([0xc1, 0xff, 0x00]));
  assert.equal(code, 4005);
  assert.match(reason, /WASH_ERR_FRAME_MALFORMED/);
});

test('coordinator rejects a frame with a wrong field', async () => {
  const { code, reason } = await sendAndAwaitClose(encodeFrame({ type: 'hello', protocol: '1', host: 'h', pid: 1, peerUrl: 'x', backend: '' }));
  assert.equal(code, 4005);
  assert.match(reason, /field "protocol" must be int/);
});

test('coordinator rejects an unknown message type', async () => {
  const { code, reason } = await sendAndAwaitClose(encodeFrame({ type: 'steal-weights' }));
  assert.equal(code, 4005);
  assert.match(reason, /unknown worker message type "steal-weights"/);
});

test('coordinator rejects a frame before hello', async () => {
  const { code, reason } = await sendAndAwaitClose(encodeFrame({ type: 'meshReady', rank: 0 }));
  assert.equal(code, 4005);
  assert.match(reason, /before hello/);
});

async function expectMeshFailure(meshes: PeerMesh[], send: (socketOwner: PeerMesh) => Promise<void>, code: string): Promise<void> {
  const failed = new Promise<string | undefined>((resolve) => (meshes[0].onFailure = (error) => resolve(error.code)));
  await send(meshes[1]);
  assert.equal(await failed, code);
}

test('peer rejects an oversized frame', async () => {
  const { meshes } = await linkedMeshes(2, 'oversized');
  try {
    // The helper sets a 1 MiB frame limit; 300,000 floats are 1.2 MB.
    await expectMeshFailure(meshes, (m) => m.send(0, { type: 'shuffle', step: 0, from: 1, values: new Uint8Array(1_200_000) }, 'shuffle').catch(() => {}), 'WASH_ERR_FRAME_SIZE');
  } finally {
    await Promise.all(meshes.map((m) => m.close()));
  }
});

test('peer rejects a frame claiming another sender', async () => {
  const { meshes } = await linkedMeshes(3, 'spoof');
  try {
    await expectMeshFailure(meshes, (m) => m.send(0, { type: 'shuffle', step: 0, from: 2, values: new Uint8Array(8) }, 'shuffle'), 'WASH_ERR_FRAME_MALFORMED');
  } finally {
    await Promise.all(meshes.map((m) => m.close()));
  }
});

test('peer rejects a peer with a wrong token', async () => {
  const other = new PeerMesh({
    rank: 0, members: 1, runId: 'other', token: 'another-token', listenHost: '127.0.0.1', listenPort: 0, maxFrameBytes: 1024, receiveTimeoutMs: 1000, maxPendingFrames: 1, log: silentLogger, counter: new ByteCounter(),
  });
  try {
    const port = await other.start();
    await assert.rejects(connect(`ws://127.0.0.1:${port}`, { token: TEST_TOKEN, maxPayload: 1024, label: 'peer rank 0' }, 'WASH_ERR_PEER_UNREACHABLE'), { code: 'WASH_ERR_TOKEN' });
  } finally {
    await other.close();
  }
});
