import type WebSocket from 'ws';
import { ByteCounts } from '../shared/protocol/messages';

/** The coordinator's record of one worker. */
export interface WorkerEntry {
  rank: number;
  socket: WebSocket;
  host: string;
  /** Address the control socket came from. */
  remote: string;
  pid: number;
  peerUrl: string;
  backend: string;
  ready: boolean;
  meshReady: boolean;
  step: number;
  epoch: number;
  loss: number | null;
  samplesPerSecond: number;
  /** Epoch milliseconds of the last heartbeat. */
  lastHeartbeat: number;
  /** How long the worker's training loop has been inside one step, as its heartbeat thread last saw. */
  busyMs: number;
  bytes: ByteCounts | null;
}

/** The run as `wash status` prints it. */
export interface RunStatus {
  runId: string;
  phase: string;
  method: string;
  members: number;
  joined: number;
  /** Step of the slowest worker. */
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  elapsedSeconds: number;
  workers: Array<{
    rank: number;
    host: string;
    remote: string;
    backend: string;
    step: number;
    epoch: number;
    loss: number | null;
    samplesPerSecond: number;
    lastHeartbeatMsAgo: number | null;
    bytes: ByteCounts | null;
  }>;
}
