import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { encodeFrame } from '../shared/protocol/codec';
import { ROLE_HEADER, RANK_HEADER, TOKEN_HEADER } from '../shared/protocol/messages';

// This file runs in its own thread so heartbeats keep flowing while a long
// training step blocks the worker's main event loop. The main thread writes its
// step and the time of its last progress into shared memory. This thread
// forwards both, so the coordinator can tell a dead process (no heartbeats) from a slow step.

/** Settings the heartbeat thread receives as its workerData. */
export interface HeartbeatData {
  url: string;
  token: string;
  rank: number;
  intervalMs: number;
  /** [step, lastProgressEpochMs] as float64. */
  shared: SharedArrayBuffer;
}

function run(data: HeartbeatData): void {
  const state = new Float64Array(data.shared);
  let socket: WebSocket | undefined;
  let stopped = false;

  const open = (): void => {
    if (stopped) return;
    socket = new WebSocket(data.url, { headers: { [TOKEN_HEADER]: data.token, [ROLE_HEADER]: 'heartbeat', [RANK_HEADER]: String(data.rank) }, perMessageDeflate: false });
    socket.on('error', () => {});
    socket.on('close', () => {
      socket = undefined;
      if (!stopped) setTimeout(open, data.intervalMs);
    });
  };
  open();

  const timer = setInterval(() => {
    if (socket?.readyState !== WebSocket.OPEN) return;
    const busyMs = Math.max(0, Date.now() - state[1]);
    socket.send(encodeFrame({ type: 'heartbeat', rank: data.rank, step: state[0], busyMs }));
  }, data.intervalMs);

  parentPort?.on('message', (message: unknown) => {
    if (message === 'stop') {
      stopped = true;
      clearInterval(timer);
      socket?.close(1000, 'worker stopping');
      setTimeout(() => process.exit(0), 100).unref();
    }
  });
}

if (parentPort) run(workerData as HeartbeatData);
