import type { IncomingMessage } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import * as tf from '@tensorflow/tfjs';
import { loadBackend, BackendChoice } from '../shared/backend/backends';
import { RunConfig } from '../shared/config';
import { DatasetSplits, loadDataset } from '../shared/data';
import { isWashError, WashError } from '../shared/errors';
import { evaluateEnsemble } from '../shared/eval/ensemble';
import { MemberWeights, writeMemberWeights } from '../shared/eval/weights';
import { Logger } from '../shared/log';
import { buildModel } from '../shared/model/models';
import { saveModel } from '../shared/model/model-files';
import { describeParameters, ParameterLayout } from '../shared/model/parameters';
import { closeWithError, listen, requestRole } from '../shared/net/sockets';
import { bytesToFloats, checkFinite, decodeFrame, encodeFrame } from '../shared/protocol/codec';
import { CoordinatorMessage, HeartbeatMessage, PROTOCOL_VERSION, StatusMessage, WorkerMessage } from '../shared/protocol/messages';
import { Rng } from '../shared/rng';
import { EpochTracker } from './epoch-tracker';
import { RunFolder } from './run-folder';
import { shuffledTensors } from '../shared/shuffle/tensor-selection';
import { RunStatus, WorkerEntry } from './run-status';
import { MemberFinal, RunSummary, summarizeRun } from './summary';

export type CoordinatorPhase = 'waiting' | 'preparing' | 'training' | 'gathering' | 'evaluating' | 'finished' | 'failed';

export interface CoordinatorOptions {
  config: RunConfig;
  token: string;
  listenHost: string;
  listenPort: number;
  /** Folder of this run; created if missing. */
  runDir: string;
  /** Backend for the final evaluation; the run's backend by default. */
  backend?: BackendChoice;
  log: Logger;
  /** Steps of shuffle seeds sent ahead of the slowest worker, 512 by default. */
  seedWindow?: number;
}

/**
 * Runs one WASH run: admits N workers, sends them the configuration, the peer
 * list and the shuffle-plan seeds ahead of time, tracks heartbeats and
 * progress, and at the end gathers, averages, evaluates and saves.
 */
export class Coordinator {
  readonly #options: CoordinatorOptions;
  readonly #config: RunConfig;
  readonly #log: Logger;
  readonly #folder: RunFolder;
  readonly #workers = new Map<number, WorkerEntry>();
  readonly #finals = new Map<number, { final: MemberFinal; weights: MemberWeights }>();
  #server: WebSocketServer | undefined;
  #phase: CoordinatorPhase = 'waiting';
  #data: DatasetSplits | undefined;
  #signature = '';
  #layout: ParameterLayout | undefined;
  #totalSteps = 0;
  #seedRng: Rng;
  #seedsSent = 0;
  #started = Date.now();
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #lastHeartbeatCheck = Date.now();
  #tracker: EpochTracker | undefined;
  #settle: { resolve: (summary: RunSummary) => void; reject: (error: WashError) => void } | undefined;
  readonly done: Promise<RunSummary>;

  constructor(options: CoordinatorOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#log = options.log.child({ runId: options.config.runId });
    this.#folder = new RunFolder(options.runDir);
    this.#seedRng = new Rng(options.config.seed ^ 0x5eed);
    this.done = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    this.done.catch(() => {});
  }

  get phase(): CoordinatorPhase {
    return this.#phase;
  }

  get port(): number {
    const address = this.#server?.address();
    return typeof address === 'object' && address ? address.port : this.#options.listenPort;
  }

  /** Loads the data set, writes the configuration and starts listening; returns the port. */
  async start(): Promise<number> {
    await this.#folder.create();
    await this.#folder.writeJson('config.json', this.#config);
    try {
      return await this.#prepare();
    } catch (error) {
      // A run that fails before training still gets a summary with the reason.
      const washError = isWashError(error) ? error : new WashError('WASH_ERR_ABORTED', (error as Error).message, { cause: error });
      this.fail(washError);
      throw washError;
    }
  }

  async #prepare(): Promise<number> {
    const c = this.#config;
    await loadBackend(this.#options.backend ?? c.backend, this.#log);
    this.#data = await loadDataset({ name: c.dataset, dir: c.dataDir || undefined, validationShare: c.validationShare, trainLimit: c.trainLimit || undefined, testLimit: c.testLimit || undefined, splitSeed: c.seed });
    const scratch = this.#scratchModel();
    this.#layout = describeParameters(scratch);
    this.#signature = this.#layout.signature;
    shuffledTensors(this.#layout, c.shuffleLayers);
    scratch.dispose();
    const batchesPerEpoch = Math.floor(this.#data.train.count / c.batchSize);
    if (batchesPerEpoch < 1) {
      throw new WashError('WASH_ERR_CONFIG', `batch size ${c.batchSize} is larger than the ${this.#data.train.count} training images; lower --batch-size or raise --train-limit`);
    }
    this.#totalSteps = batchesPerEpoch * c.epochs;
    this.#tracker = new EpochTracker({ config: c, data: this.#data, folder: this.#folder, scratch: () => this.#scratchModel(), log: this.#log });
    this.#server = await listen({
      host: this.#options.listenHost, port: this.#options.listenPort, token: this.#options.token, maxPayload: 512 * 1024 * 1024, label: 'coordinator',
      onReject: (remote) => this.#log.warn({ remote, code: 'WASH_ERR_TOKEN' }, 'rejected a connection with a missing or wrong run token'),
    });
    this.#server.on('connection', (socket, request) => this.#onConnection(socket, request));
    this.#heartbeatTimer = setInterval(() => this.#checkHeartbeats(), Math.max(50, Math.floor(c.heartbeatTimeoutMs / 4)));
    this.#log.info({ port: this.port, members: c.members, method: c.method, steps: this.#totalSteps, runDir: this.#folder.dir }, 'coordinator listening');
    return this.port;
  }

  #scratchModel(): tf.LayersModel {
    const train = (this.#data as DatasetSplits).train;
    return buildModel({ name: this.#config.model, inputShape: [train.height, train.width, train.channels], numClasses: train.numClasses }, 0);
  }

  /** Returns a snapshot of the run for `wash status`. */
  status(): RunStatus {
    const workers = [...this.#workers.values()].sort((a, b) => a.rank - b.rank);
    const steps = workers.map((w) => w.step);
    return {
      runId: this.#config.runId,
      phase: this.#phase,
      method: this.#config.method,
      members: this.#config.members,
      joined: workers.length,
      step: steps.length ? Math.min(...steps) : 0,
      totalSteps: this.#totalSteps,
      epoch: workers.length ? Math.min(...workers.map((w) => w.epoch)) : 0,
      epochs: this.#config.epochs,
      elapsedSeconds: (Date.now() - this.#started) / 1000,
      workers: workers.map((w) => ({
        rank: w.rank, host: w.host, remote: w.remote, backend: w.backend, step: w.step, epoch: w.epoch, loss: w.loss,
        samplesPerSecond: w.samplesPerSecond, lastHeartbeatMsAgo: w.lastHeartbeat ? Date.now() - w.lastHeartbeat : null, bytes: w.bytes,
      })),
    };
  }

  #onConnection(socket: WebSocket, request: IncomingMessage): void {
    const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    const { role, rank } = requestRole(request);
    socket.on('error', (error) => this.#log.debug({ remote, err: error.message }, 'socket error'));
    if (role === 'heartbeat') {
      socket.on('message', (data: Buffer) => this.#onHeartbeat(socket, data, remote, rank));
    } else if (role === 'status') {
      socket.on('message', (data: Buffer) => {
        try {
          decodeFrame<StatusMessage>('status', data, `status client ${remote}`, 4096);
          socket.send(encodeFrame({ type: 'status', status: this.status() }));
        } catch (error) {
          closeWithError(socket, error as WashError);
        }
      });
    } else {
      this.#onWorkerSocket(socket, remote);
    }
  }

  #onHeartbeat(socket: WebSocket, data: Buffer, remote: string, rank: number | undefined): void {
    try {
      const beat = decodeFrame<HeartbeatMessage>('heartbeat', data, `heartbeat ${remote}`, 4096);
      const entry = this.#workers.get(beat.rank);
      if (!entry || beat.rank !== rank) throw new WashError('WASH_ERR_FRAME_MALFORMED', `heartbeat from ${remote} names rank ${beat.rank}, which is not a member of this run`);
      entry.lastHeartbeat = Date.now();
      entry.busyMs = beat.busyMs;
    } catch (error) {
      closeWithError(socket, isWashError(error) ? error : new WashError('WASH_ERR_FRAME_MALFORMED', String(error)));
    }
  }

  #onWorkerSocket(socket: WebSocket, remote: string): void {
    let entry: WorkerEntry | undefined;
    const source = (): string => (entry ? `worker rank ${entry.rank} (${entry.host}, ${remote})` : `worker ${remote}`);
    socket.on('message', (data: Buffer) => {
      try {
        // Final and snapshot frames carry a whole member, so worker frames may reach four times the per-frame limit.
        const message = decodeFrame<WorkerMessage>('worker', data, source(), this.#config.maxFrameBytes * 4);
        if (message.type === 'hello') {
          if (entry) throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source()} sent hello twice`);
          entry = this.#admit(socket, message, remote);
          return;
        }
        if (!entry) throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source()} sent ${message.type} before hello`);
        if ('rank' in message && message.rank !== undefined && message.rank !== entry.rank) {
          throw new WashError('WASH_ERR_FRAME_MALFORMED', `${source()} sent a ${message.type} frame for rank ${message.rank}`);
        }
        if (message.type === 'final') {
          // The worker's counters were read before this frame went out, so the frame itself is added here.
          message.bytes.gather.sent += data.length;
        }
        this.#onWorkerMessage(entry, message);
      } catch (error) {
        const washError = isWashError(error) ? error : new WashError('WASH_ERR_FRAME_MALFORMED', String(error));
        this.#log.warn({ remote, rank: entry?.rank, code: washError.code, err: washError.message }, 'rejected worker frame');
        closeWithError(socket, washError);
        if (entry && this.#phase !== 'waiting') this.fail(washError);
        else if (entry) this.#workers.delete(entry.rank);
      }
    });
    socket.on('close', (code, reason) => {
      if (!entry || this.#workers.get(entry.rank) !== entry) return;
      if (this.#phase === 'finished' || this.#phase === 'failed' || this.#finals.has(entry.rank)) return;
      if (this.#phase === 'waiting' && !entry.ready) {
        this.#workers.delete(entry.rank);
        this.#log.info({ rank: entry.rank, remote }, 'worker left before the run started; its rank is free again');
        return;
      }
      this.fail(new WashError('WASH_ERR_PEER_LOST', `worker rank ${entry.rank} on ${entry.host} (${remote}) disconnected during ${this.#phase} (${reason.toString() || `close code ${code}`})`));
    });
  }

  #admit(socket: WebSocket, hello: Extract<WorkerMessage, { type: 'hello' }>, remote: string): WorkerEntry {
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new WashError('WASH_ERR_VERSION', `worker ${remote} speaks protocol ${hello.protocol}; this coordinator speaks ${PROTOCOL_VERSION}; run the same wash version on every host`);
    }
    if (this.#phase !== 'waiting') throw new WashError('WASH_ERR_RUN_FULL', `run ${this.#config.runId} is already ${this.#phase}; worker ${remote} cannot join`);
    let rank = 0;
    while (this.#workers.has(rank)) rank++;
    if (rank >= this.#config.members) throw new WashError('WASH_ERR_RUN_FULL', `run ${this.#config.runId} already has its ${this.#config.members} members; worker ${remote} cannot join`);
    const entry: WorkerEntry = {
      rank, socket, host: hello.host, remote, pid: hello.pid, peerUrl: hello.peerUrl, backend: hello.backend || this.#config.backend,
      ready: false, meshReady: false, step: 0, epoch: 0, loss: null, samplesPerSecond: 0, lastHeartbeat: Date.now(), busyMs: 0, bytes: null,
    };
    this.#workers.set(rank, entry);
    this.#send(entry, { type: 'welcome', rank, config: this.#config });
    this.#log.info({ rank, host: hello.host, remote, peerUrl: hello.peerUrl }, 'worker joined');
    return entry;
  }

  #onWorkerMessage(entry: WorkerEntry, message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        if (message.signature !== this.#signature) {
          throw new WashError('WASH_ERR_MODEL_MISMATCH', `worker rank ${entry.rank} on ${entry.host} built a model with signature ${message.signature}; the run's ${this.#config.model} has ${this.#signature} (check --data and the wash version on that host)`);
        }
        entry.ready = true;
        entry.backend = message.backend;
        entry.lastHeartbeat = Date.now();
        this.#log.info({ rank: entry.rank, backend: message.backend, usingGpu: message.usingGpu }, 'worker ready');
        if (this.#workers.size === this.#config.members && [...this.#workers.values()].every((w) => w.ready)) {
          this.#phase = 'preparing';
          const peers = [...this.#workers.values()].map((w) => ({ rank: w.rank, url: w.peerUrl }));
          this.#broadcast({ type: 'peers', peers });
        }
        return;
      case 'meshReady':
        entry.meshReady = true;
        if ([...this.#workers.values()].every((w) => w.meshReady) && this.#phase === 'preparing') this.#startTraining();
        return;
      case 'progress':
        Object.assign(entry, { step: message.step, epoch: message.epoch, loss: message.loss, samplesPerSecond: message.samplesPerSecond, bytes: message.bytes });
        this.#sendSeedsAhead();
        return;
      case 'epochEnd':
        Object.assign(entry, { step: message.metrics.step, epoch: message.metrics.epoch, bytes: message.bytes });
        this.#tracker?.addEpoch(entry.rank, message.metrics, message.bytes);
        return;
      case 'snapshot':
        this.#tracker?.addSnapshot(entry.rank, message.epoch, toWeights(message, `worker rank ${entry.rank}`, this.#layout as ParameterLayout));
        return;
      case 'final':
        this.#onFinal(entry, message);
        return;
      case 'abort':
        this.fail(new WashError(isCode(message.code) ? message.code : 'WASH_ERR_ABORTED', `worker rank ${entry.rank} on ${entry.host} failed: ${message.message}`));
        return;
      case 'hello':
        return;
    }
  }

  #startTraining(): void {
    this.#phase = 'training';
    const window = this.#options.seedWindow ?? 512;
    const seeds = this.#drawSeeds(Math.min(window, this.#totalSteps));
    this.#broadcast({ type: 'start', firstStep: 0, seeds });
    this.#log.info({ steps: this.#totalSteps }, 'training started');
  }

  #drawSeeds(count: number): number[] {
    const seeds: number[] = [];
    for (let k = 0; k < count; k++) seeds.push(this.#seedRng.nextUint32());
    this.#seedsSent += count;
    return seeds;
  }

  /** Keeps at least half a window of seeds ahead of the fastest worker, so no step waits for a round trip. */
  #sendSeedsAhead(): void {
    const window = this.#options.seedWindow ?? 512;
    const fastest = Math.max(...[...this.#workers.values()].map((w) => w.step));
    if (this.#seedsSent >= this.#totalSteps || this.#seedsSent - fastest > window / 2) return;
    const firstStep = this.#seedsSent;
    const seeds = this.#drawSeeds(Math.min(window, this.#totalSteps - firstStep));
    this.#broadcast({ type: 'seeds', firstStep, seeds });
  }

  #onFinal(entry: WorkerEntry, message: Extract<WorkerMessage, { type: 'final' }>): void {
    const weights = toWeights(message, `worker rank ${entry.rank}`, this.#layout as ParameterLayout);
    this.#finals.set(entry.rank, {
      final: { rank: entry.rank, host: entry.host, backend: entry.backend, bytes: message.bytes, steps: message.steps, valuesMoved: message.valuesMoved, trainSeconds: message.trainSeconds },
      weights,
    });
    entry.step = message.steps;
    entry.bytes = message.bytes;
    if (this.#phase === 'training') this.#phase = 'gathering';
    if (this.#finals.size === this.#config.members) {
      void this.#finish().catch((error) => this.fail(isWashError(error) ? error : new WashError('WASH_ERR_ABORTED', `evaluation failed: ${(error as Error).message}`)));
    }
  }

  async #finish(): Promise<void> {
    this.#phase = 'evaluating';
    this.#log.info('all members finished; averaging and evaluating');
    await this.#tracker?.flush();
    const ranks = [...this.#finals.keys()].sort((a, b) => a - b);
    const members = ranks.map((r) => (this.#finals.get(r) as { weights: MemberWeights }).weights);
    const scratch = this.#scratchModel();
    if (this.#config.saveMembers) {
      for (const [k, rank] of ranks.entries()) {
        writeMemberWeights(scratch, members[k]);
        await saveModel(scratch, this.#folder.file(`members/rank-${rank}`));
      }
    }
    const { evaluation, averaged } = evaluateEnsemble(scratch, members, this.#data as DatasetSplits);
    writeMemberWeights(scratch, averaged);
    const data = this.#data as DatasetSplits;
    scratch.setUserDefinedMetadata({ dataset: this.#config.dataset, normalization: data.normalization, method: this.#config.method, members: this.#config.members });
    await saveModel(scratch, this.#folder.file('model'));
    scratch.dispose();
    const finals = ranks.map((r) => (this.#finals.get(r) as { final: MemberFinal }).final);
    const samplesPerMember = this.#totalSteps * this.#config.batchSize;
    const summary = summarizeRun(this.#config, evaluation, finals, (Date.now() - this.#started) / 1000, samplesPerMember);
    // fail() may have run during the evaluation (Ctrl-C). Its summary is then kept.
    if (this.#phase !== 'evaluating') return;
    await this.#folder.writeJson('summary.json', summary);
    this.#phase = 'finished';
    this.#broadcast({ type: 'done' });
    this.#log.info({ ensemble: evaluation.ensemble, averaged: evaluation.averaged }, 'run finished');
    await this.close();
    this.#settle?.resolve(summary);
  }

  #checkHeartbeats(): void {
    if (this.#phase === 'finished' || this.#phase === 'failed' || this.#phase === 'evaluating') return;
    const now = Date.now();
    const interval = Math.max(50, Math.floor(this.#config.heartbeatTimeoutMs / 4));
    const sinceLastCheck = now - this.#lastHeartbeatCheck;
    this.#lastHeartbeatCheck = now;
    if (sinceLastCheck > 2 * interval) {
      // This process was busy (an epoch-end evaluation), so heartbeats that arrived meanwhile are still queued behind this timer.
      this.#log.warn({ busyMs: sinceLastCheck }, 'coordinator was busy; heartbeat deadlines restart now');
      for (const entry of this.#workers.values()) entry.lastHeartbeat = now;
      return;
    }
    for (const entry of this.#workers.values()) {
      if (this.#finals.has(entry.rank)) continue;
      const silence = now - entry.lastHeartbeat;
      if (entry.ready && silence > this.#config.heartbeatTimeoutMs) {
        this.fail(new WashError('WASH_ERR_PEER_LOST', `worker rank ${entry.rank} on ${entry.host} (${entry.remote}) sent no heartbeat for ${silence} ms (limit ${this.#config.heartbeatTimeoutMs} ms)`));
        return;
      }
    }
  }

  #send(entry: WorkerEntry, message: CoordinatorMessage): void {
    if (entry.socket.readyState === WebSocket.OPEN) entry.socket.send(encodeFrame(message));
  }

  #broadcast(message: CoordinatorMessage): void {
    for (const entry of this.#workers.values()) this.#send(entry, message);
  }

  /**
   * Stops the run: sends every worker the reason, writes a summary with the error
   * (what was written before stays readable) and rejects `done`. Safe to call twice.
   */
  fail(error: WashError, status: 'failed' | 'interrupted' = 'failed'): void {
    if (this.#phase === 'finished' || this.#phase === 'failed') return;
    this.#phase = 'failed';
    this.#log.error({ code: error.code, err: error.message }, 'run stopped');
    for (const entry of this.#workers.values()) {
      this.#send(entry, { type: 'abort', code: error.code, message: error.message });
      closeWithError(entry.socket, error);
    }
    const summary: RunSummary = {
      status, runId: this.#config.runId, method: this.#config.method, init: this.#config.init, model: this.#config.model, dataset: this.#config.dataset,
      membersCount: this.#config.members, wallSeconds: (Date.now() - this.#started) / 1000, error: { code: error.code, message: error.message },
    };
    void this.#folder
      .writeJson('summary.json', summary)
      .catch((writeError) => this.#log.error({ err: (writeError as Error).message }, 'cannot write summary'))
      .finally(() => {
        void this.close();
        this.#settle?.reject(error);
      });
  }

  /** Closes the server and every socket; safe to call twice. */
  async close(): Promise<void> {
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const client of server.clients) client.close(1000, 'run over');
    // A frozen or unreachable worker never completes the closing handshake, and the server waits for every connection.
    const forceClose = setTimeout(() => {
      for (const client of server.clients) client.terminate();
    }, 1000);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    forceClose.unref();
  }
}

function isCode(code: string): code is import('../shared/errors').ErrorCode {
  return code.startsWith('WASH_ERR_');
}

/** Reads a member's weights from a frame, checking every tensor's size against the layout and every value for finiteness. */
function toWeights(message: { parameters: Uint8Array[]; statistics: Uint8Array[] }, source: string, layout: ParameterLayout): MemberWeights {
  const read = (list: Uint8Array[], expected: Array<{ name: string; size: number }>, kind: string): Float32Array[] => {
    if (list.length !== expected.length) {
      throw new WashError('WASH_ERR_PLAN_MISMATCH', `${source} sent ${list.length} ${kind} tensors; the model has ${expected.length}`);
    }
    return list.map((bytes, i) => {
      const values = new Float32Array(bytesToFloats(bytes, source));
      if (values.length !== expected[i].size) {
        throw new WashError('WASH_ERR_PLAN_MISMATCH', `${source} sent ${values.length} values for ${expected[i].name}; expected ${expected[i].size}`);
      }
      checkFinite(values, `${expected[i].name} from ${source}`);
      return values;
    });
  };
  return { parameters: read(message.parameters, layout.parameters, 'parameter'), statistics: read(message.statistics, layout.statistics, 'statistic') };
}
