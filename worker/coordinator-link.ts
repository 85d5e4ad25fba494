import WebSocket from 'ws';
import { codeForCloseCode, ErrorCode, isWashError, WashError } from '../shared/errors';
import { Logger } from '../shared/log';
import { ByteCounter } from '../shared/net/byte-counter';
import { connect, sendFrame } from '../shared/net/sockets';
import { decodeFrame, encodeFrame } from '../shared/protocol/codec';
import { CoordinatorMessage, Purpose, WorkerMessage } from '../shared/protocol/messages';

export interface LinkOptions {
  url: string;
  token: string;
  maxFrameBytes: number;
  /** Give up on reaching the coordinator after this long, in milliseconds. */
  connectTimeoutMs: number;
  log: Logger;
  counter: ByteCounter;
}

type Handler = (message: CoordinatorMessage) => void;

/**
 * The worker's control socket to the coordinator. Connecting retries with
 * exponential backoff (0.25 s doubling to 5 s) until `connectTimeoutMs`, so
 * workers may start before the coordinator. A wrong token is not retried.
 */
export class CoordinatorLink {
  readonly #options: LinkOptions;
  #socket: WebSocket | undefined;
  #handler: Handler = () => {};
  #closed = false;
  onClose: (error: WashError) => void = () => {};

  constructor(options: LinkOptions) {
    this.#options = options;
  }

  async open(): Promise<void> {
    const o = this.#options;
    const deadline = Date.now() + o.connectTimeoutMs;
    let delay = 250;
    for (let attempt = 1; ; attempt++) {
      try {
        this.#socket = await connect(o.url, { token: o.token, role: 'worker', maxPayload: o.maxFrameBytes, label: 'coordinator' }, 'WASH_ERR_COORDINATOR_UNREACHABLE');
        break;
      } catch (error) {
        if (!isWashError(error, 'WASH_ERR_COORDINATOR_UNREACHABLE') || Date.now() + delay > deadline) {
          if (isWashError(error, 'WASH_ERR_COORDINATOR_UNREACHABLE')) {
            throw new WashError('WASH_ERR_COORDINATOR_UNREACHABLE', `${error.message}; gave up after ${attempt} attempts in ${Math.round(o.connectTimeoutMs / 1000)} s (is the coordinator running and is the address right?)`);
          }
          throw error;
        }
        o.log.warn({ attempt, retryInMs: delay, err: error.message }, 'coordinator not reachable yet, retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    const socket = this.#socket;
    socket.on('message', (data: Buffer) => {
      try {
        this.#options.counter.received('control', data.length, false);
        this.#handler(decodeFrame<CoordinatorMessage>('coordinator', data, 'coordinator', o.maxFrameBytes));
      } catch (error) {
        const washError = isWashError(error) ? error : new WashError('WASH_ERR_FRAME_MALFORMED', String(error));
        this.#fail(washError);
      }
    });
    socket.on('error', (error) => o.log.debug({ err: error.message }, 'coordinator socket error'));
    socket.on('close', (code, reason) => {
      if (this.#closed) return;
      const known: ErrorCode = codeForCloseCode(code) ?? 'WASH_ERR_PEER_LOST';
      const text = reason.toString();
      this.#fail(new WashError(known, text ? `coordinator closed the connection: ${text}` : `coordinator closed the connection (code ${code})`));
    });
  }

  #fail(error: WashError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.terminate();
    this.onClose(error);
  }

  /** Routes every message from the coordinator to `handler`. */
  onMessage(handler: Handler): void {
    this.#handler = handler;
  }

  /** Sends a message; `purpose` sets the byte counter it is added to. */
  async send(message: WorkerMessage, purpose: Purpose = 'control'): Promise<void> {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const frame = encodeFrame(message);
    this.#options.counter.sent(purpose, frame.length, true);
    await sendFrame(socket, frame);
  }

  /** Sends without waiting, dropping the message when the socket already has more than `maxBuffered` bytes queued. */
  post(message: WorkerMessage, maxBuffered = 1 << 20): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > maxBuffered) return;
    const frame = encodeFrame(message);
    this.#options.counter.sent('control', frame.length, true);
    socket.send(frame);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.close(1000, 'worker finished');
  }
}
