import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { HeartbeatData } from './heartbeat-thread';

/** The main thread's side of the heartbeat: starts the thread and records progress for it. */
export class Heartbeat {
  readonly #state: Float64Array;
  readonly #thread: Worker;

  constructor(options: Omit<HeartbeatData, 'shared'>) {
    const shared = new SharedArrayBuffer(2 * Float64Array.BYTES_PER_ELEMENT);
    this.#state = new Float64Array(shared);
    this.#state[1] = Date.now();
    this.#thread = new Worker(path.join(__dirname, 'heartbeat-thread.js'), { workerData: { ...options, shared } });
    this.#thread.unref();
  }

  /** Records that the training loop reached `step`. */
  progress(step: number): void {
    this.#state[0] = step;
    this.#state[1] = Date.now();
  }

  stop(): void {
    this.#thread.postMessage('stop');
  }
}
