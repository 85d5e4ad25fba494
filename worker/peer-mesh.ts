import type { IncomingMessage } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { isWashError, WashError } from '../shared/errors';
import { Logger } from '../shared/log';
import { ByteCounter } from '../shared/net/byte-counter';
import { closeWithError, connect, listen, sendFrame } from '../shared/net/sockets';
import { decodeFrame, encodeFrame } from '../shared/protocol/codec';
import { PeerAddress, PeerMessage, Purpose, PROTOCOL_VERSION } from '../shared/protocol/messages';
import { codeForCloseCode } from '../shared/errors';

/** A worker's place in a run, known once the coordinator has welcomed it. */
export interface MeshIdentity {
  rank: number;
  members: number;
  runId: string;
}

export interface PeerMeshOptions extends MeshIdentity {
  token: string;
  listenHost: string;
  listenPort: number;
  maxFrameBytes: number;
  /** How long to wait for a frame from a peer before the run is aborted, in milliseconds. */
  receiveTimeoutMs: number;
  /** Most frames held for a peer that were not yet asked for; a peer that sends more is misbehaving. */
  maxPendingFrames: number;
  log: Logger;
  counter: ByteCounter;
}

interface Waiter {
  resolve: (values: PeerMessage) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Link {
  rank: number;
  socket: WebSocket;
  /** Whether this side dialed, so its frames are masked. */
  dialed: boolean;
}

/**
 * The full mesh of WebSocket links between the workers of a run. Rank i dials
 * every lower rank and accepts every higher one. The first frame on a link is
 * `peerHello`, which must name the run and a rank that is not yet linked.
 * Frames are kept in a mailbox keyed by kind, step and sender until the
 * training loop asks for them.
 */
export class PeerMesh {
  readonly #options: PeerMeshOptions;
  #server: WebSocketServer | undefined;
  readonly #links = new Map<number, Link>();
  readonly #mailbox = new Map<string, PeerMessage>();
  readonly #waiters = new Map<string, Waiter>();
  #failure: WashError | undefined;
  #linkWaiters: Array<() => void> = [];
  #closed = false;
  #finished = false;
  onFailure: (error: WashError) => void = () => {};

  constructor(options: PeerMeshOptions) {
    this.#options = { ...options };
  }

  /** Sets the rank, member count and run id once the coordinator has sent them; links are accepted only after this. */
  join(identity: MeshIdentity & Partial<Pick<PeerMeshOptions, 'maxFrameBytes' | 'receiveTimeoutMs'>>): void {
    Object.assign(this.#options, identity);
  }

  /** Starts the peer server; returns the port it listens on. */
  async start(): Promise<number> {
    const o = this.#options;
    this.#server = await listen({ host: o.listenHost, port: o.listenPort, token: o.token, maxPayload: o.maxFrameBytes, label: o.rank >= 0 ? `peer server of rank ${o.rank}` : 'worker peer server (--listen)' });
    this.#server.on('connection', (socket, request) => this.#accept(socket, request));
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : o.listenPort;
  }

  /** Dials the lower ranks and waits until every peer is linked. */
  async connectAll(peers: PeerAddress[], timeoutMs: number): Promise<void> {
    const o = this.#options;
    const me = peers.find((p) => p.rank === o.rank)?.url ?? `rank ${o.rank}`;
    await Promise.all(
      peers
        .filter((peer) => peer.rank < o.rank)
        .map(async (peer) => {
          const socket = await connect(peer.url, { token: o.token, maxPayload: o.maxFrameBytes, label: `peer rank ${peer.rank}`, from: `rank ${o.rank} (${me})` }, 'WASH_ERR_PEER_UNREACHABLE');
          this.#register({ rank: peer.rank, socket, dialed: true });
          await sendFrame(socket, encodeFrame({ type: 'peerHello', protocol: PROTOCOL_VERSION, runId: o.runId, rank: o.rank }));
        }),
    );
    const deadline = Date.now() + timeoutMs;
    while (this.#links.size < o.members - 1) {
      if (this.#failure) throw this.#failure;
      const left = deadline - Date.now();
      if (left <= 0) {
        const missing = peers.filter((p) => p.rank !== o.rank && !this.#links.has(p.rank)).map((p) => `${p.rank} (${p.url})`);
        throw new WashError('WASH_ERR_TIMEOUT', `rank ${o.rank} timed out after ${timeoutMs} ms waiting for peers to connect: ${missing.join(', ')}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#linkWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    const o = this.#options;
    const source = `peer ${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const timer = setTimeout(() => closeWithError(socket, new WashError('WASH_ERR_TIMEOUT', `${source} sent no peerHello within 10 s`)), 10_000);
    socket.once('message', (data: Buffer) => {
      clearTimeout(timer);
      try {
        const hello = decodeFrame<PeerMessage>('peer', data, source, o.maxFrameBytes);
        if (hello.type !== 'peerHello') throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} sent ${hello.type} before peerHello`);
        if (hello.protocol !== PROTOCOL_VERSION) throw new WashError('WASH_ERR_VERSION', `${source} speaks protocol ${hello.protocol}; this worker speaks ${PROTOCOL_VERSION}`);
        if (o.members === 0) throw new WashError('WASH_ERR_CONFIG', `${source} dialed before this worker joined a run`);
        if (hello.runId !== o.runId) throw new WashError('WASH_ERR_CONFIG', `${source} belongs to run ${hello.runId}, not ${o.runId}`);
        if (hello.rank <= o.rank || hello.rank >= o.members || this.#links.has(hello.rank)) {
          throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} claims rank ${hello.rank}; expected an unlinked rank in ${o.rank + 1}..${o.members - 1}`);
        }
        this.#register({ rank: hello.rank, socket, dialed: false });
      } catch (error) {
        const washError = isWashError(error) ? error : new WashError('WASH_ERR_FRAME_MALFORMED', String(error));
        o.log.warn({ peer: source, code: washError.code, err: washError.message }, 'rejected peer');
        closeWithError(socket, washError);
      }
    });
  }

  #register(link: Link): void {
    const o = this.#options;
    this.#links.set(link.rank, link);
    const log = o.log.child({ peer: link.rank });
    log.debug('peer linked');
    link.socket.on('message', (data: Buffer) => this.#onFrame(link, data));
    let oversized = false;
    link.socket.on('error', (error: Error & { code?: string }) => {
      // ws rejects a frame over maxPayload before buffering it and closes with 1009.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') oversized = true;
      log.debug({ err: error.message }, 'peer socket error');
    });
    link.socket.on('close', (code, reason) => {
      if (this.#closed || this.#finished) return;
      if (oversized || code === 1009) {
        this.#fail(new WashError('WASH_ERR_FRAME_SIZE', `peer rank ${link.rank} sent a frame larger than the limit of ${this.#options.maxFrameBytes} bytes`));
        return;
      }
      const known = codeForCloseCode(code);
      const detail = reason.toString() || `close code ${code}`;
      const error = known && known !== 'WASH_ERR_PEER_LOST'
        ? new WashError(known, `peer rank ${link.rank} closed the link: ${detail}`)
        : new WashError('WASH_ERR_PEER_LOST', `peer rank ${link.rank} disconnected (${detail})`);
      this.#fail(error);
    });
    for (const wake of this.#linkWaiters.splice(0)) wake();
  }

  #onFrame(link: Link, data: Buffer): void {
    const o = this.#options;
    const source = `peer rank ${link.rank}`;
    try {
      const message = decodeFrame<PeerMessage>('peer', data, source, o.maxFrameBytes);
      if (message.type === 'abort') {
        this.#fail(new WashError('WASH_ERR_ABORTED', `peer rank ${link.rank} aborted: ${message.message}`));
        return;
      }
      if (message.type === 'peerHello') throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} sent a second peerHello`);
      if (message.from !== link.rank) throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} sent a frame claiming to be from rank ${message.from}`);
      const purpose: Purpose = message.type === 'shuffle' ? 'shuffle' : 'reduce';
      o.counter.received(purpose, data.length, !link.dialed);
      const key = message.type === 'shuffle' ? shuffleKey(message.step, link.rank) : reduceKey(message.op, message.phase, link.rank);
      const waiter = this.#waiters.get(key);
      if (waiter) {
        this.#waiters.delete(key);
        clearTimeout(waiter.timer);
        waiter.resolve(message);
        return;
      }
      if (this.#mailbox.has(key)) throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} sent ${key} twice`);
      if (this.#pendingFrom(link.rank) >= o.maxPendingFrames) {
        throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source} is more than ${o.maxPendingFrames} frames ahead`);
      }
      this.#mailbox.set(key, message);
    } catch (error) {
      const washError = isWashError(error) ? error : new WashError('WASH_ERR_FRAME_MALFORMED', String(error));
      closeWithError(link.socket, washError);
      this.#fail(washError);
    }
  }

  #pendingFrom(rank: number): number {
    let count = 0;
    for (const key of this.#mailbox.keys()) if (key.endsWith(`:${rank}`)) count++;
    return count;
  }

  #fail(error: WashError): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const waiter of this.#waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiters.clear();
    for (const wake of this.#linkWaiters.splice(0)) wake();
    this.onFailure(error);
  }

  /**
   * Marks this member's training as complete: peers that finish first close
   * their links, and that is no longer an error.
   */
  markFinished(): void {
    this.#finished = true;
  }

  /** The error that stopped the mesh, if any. */
  get failure(): WashError | undefined {
    return this.#failure;
  }

  /** Sends a frame to a peer, counting its bytes under `purpose`. */
  async send(rank: number, message: PeerMessage, purpose: Purpose): Promise<void> {
    if (this.#failure) throw this.#failure;
    const link = this.#links.get(rank);
    if (!link) throw new WashError('WASH_ERR_PEER_LOST', `no link to peer rank ${rank}`);
    const frame = encodeFrame(message);
    this.#options.counter.sent(purpose, frame.length, link.dialed);
    await sendFrame(link.socket, frame);
  }

  /** Waits for the shuffle frame of `step` from `rank`. */
  receiveShuffle(step: number, rank: number): Promise<Extract<PeerMessage, { type: 'shuffle' }>> {
    return this.#receive(shuffleKey(step, rank), rank) as Promise<Extract<PeerMessage, { type: 'shuffle' }>>;
  }

  /** Waits for the all-reduce chunk of operation `op`, phase `phase`, from `rank`. */
  receiveReduce(op: number, phase: number, rank: number): Promise<Extract<PeerMessage, { type: 'reduce' }>> {
    return this.#receive(reduceKey(op, phase, rank), rank) as Promise<Extract<PeerMessage, { type: 'reduce' }>>;
  }

  #receive(key: string, rank: number): Promise<PeerMessage> {
    if (this.#failure) return Promise.reject(this.#failure);
    const ready = this.#mailbox.get(key);
    if (ready) {
      this.#mailbox.delete(key);
      return Promise.resolve(ready);
    }
    const timeoutMs = this.#options.receiveTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        const error = new WashError('WASH_ERR_TIMEOUT', `no ${key.split(':')[0]} frame from peer rank ${rank} within ${timeoutMs} ms`);
        this.#fail(error);
        reject(error);
      }, timeoutMs);
      this.#waiters.set(key, { resolve, reject, timer });
    });
  }

  /** Tells every peer the run is over and closes all links and the server; safe to call twice. */
  async close(abort?: WashError): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(abort ?? new WashError('WASH_ERR_ABORTED', 'the peer mesh was closed'));
    for (const link of this.#links.values()) {
      if (abort && link.socket.readyState === WebSocket.OPEN) {
        link.socket.send(encodeFrame({ type: 'abort', code: abort.code, message: abort.message, rank: this.#options.rank }));
      }
      link.socket.close(1000, 'run finished');
    }
    // A frozen peer never completes the closing handshake, and the server waits for every connection.
    const forceClose = setTimeout(() => {
      for (const link of this.#links.values()) link.socket.terminate();
    }, 1000);
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    forceClose.unref();
  }
}

function shuffleKey(step: number, rank: number): string {
  return `shuffle:${step}:${rank}`;
}

function reduceKey(op: number, phase: number, rank: number): string {
  return `reduce:${op}:${phase}:${rank}`;
}
