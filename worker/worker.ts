import * as os from 'node:os';
import { loadBackend, BackendChoice } from '../shared/backend/backends';
import { RunConfig } from '../shared/config';
import { BatchStream, loadDataset, memberAugmentation } from '../shared/data';
import { isWashError, WashError } from '../shared/errors';
import { Logger } from '../shared/log';
import { ByteCounter } from '../shared/net/byte-counter';
import { CoordinatorMessage, PROTOCOL_VERSION } from '../shared/protocol/messages';
import { deriveSeed } from '../shared/rng';
import { Member } from '../shared/train/member';
import { CoordinatorLink } from './coordinator-link';
import { Heartbeat } from './heartbeat';
import { PeerMesh } from './peer-mesh';
import { SeedQueue } from './seed-queue';
import { trainMember, weightBytes } from './training-loop';

export interface WorkerOptions {
  coordinatorUrl: string;
  token: string;
  /** Address the peer server binds, e.g. 0.0.0.0:7001; port 0 picks a free one. */
  listenHost: string;
  listenPort: number;
  /** URL peers dial to reach this worker; defaults to ws://LISTEN_HOST:PORT. */
  advertise?: string;
  /** Overrides the run's backend on this host. */
  backend?: BackendChoice;
  /** Overrides the run's data folder on this host. */
  dataDir?: string;
  connectTimeoutMs: number;
  log: Logger;
}

export type WorkerState = 'connecting' | 'joined' | 'preparing' | 'meshing' | 'training' | 'finishing' | 'done' | 'failed';

/** Seeds are derived per member and purpose so that members differ in data order and augmentation, and agree where they must. */
export function memberSeeds(config: RunConfig, rank: number): { init: number; data: number } {
  return {
    init: config.init === 'shared' ? deriveSeed(config.seed, 'init') : deriveSeed(config.seed, 'init', rank),
    data: deriveSeed(config.seed, 'data', rank),
  };
}

/**
 * One worker: joins the coordinator, receives its rank and the configuration,
 * builds its member, links to every peer and trains. Resolves when the run
 * finished; rejects with a WashError when it failed, after telling the
 * coordinator and the peers.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const counter = new ByteCounter();
  let log = options.log;
  let state: WorkerState = 'connecting';
  const link = new CoordinatorLink({ url: options.coordinatorUrl, token: options.token, maxFrameBytes: 256 * 1024 * 1024, connectTimeoutMs: options.connectTimeoutMs, log, counter });
  const seeds = new SeedQueue();
  let mesh: PeerMesh | undefined;
  let heartbeat: Heartbeat | undefined;
  let member: Member | undefined;
  let failure: WashError | undefined;
  const inbox: CoordinatorMessage[] = [];
  let wake: (() => void) | undefined;

  const fail = (error: WashError): void => {
    if (failure) return;
    failure = error;
    seeds.fail(error);
    void mesh?.close(error);
    wake?.();
  };
  link.onClose = (error) => fail(error);
  link.onMessage((message) => {
    if (message.type === 'abort') {
      fail(new WashError('WASH_ERR_ABORTED', `the coordinator aborted the run: ${message.message}`));
    } else if (message.type === 'seeds' || message.type === 'start') {
      seeds.add(message.firstStep, message.seeds);
      if (message.type === 'start') inbox.push(message);
    } else {
      inbox.push(message);
    }
    wake?.();
  });
  const nextMessage = async <T extends CoordinatorMessage['type']>(type: T): Promise<Extract<CoordinatorMessage, { type: T }>> => {
    for (;;) {
      const index = inbox.findIndex((m) => m.type === type);
      if (index >= 0) return inbox.splice(index, 1)[0] as Extract<CoordinatorMessage, { type: T }>;
      if (failure) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  };

  try {
    mesh = new PeerMesh({
      rank: -1, members: 0, runId: '', token: options.token, listenHost: options.listenHost, listenPort: options.listenPort,
      maxFrameBytes: 256 * 1024 * 1024, receiveTimeoutMs: 60_000, maxPendingFrames: 8, log, counter,
    });
    mesh.onFailure = (error) => fail(error);
    const peerPort = await mesh.start();
    await link.open();
    const peerUrl = options.advertise ?? `ws://${advertiseHost(options.listenHost)}:${peerPort}`;
    await link.send({ type: 'hello', protocol: PROTOCOL_VERSION, host: os.hostname(), pid: process.pid, peerUrl, backend: options.backend ?? '' });
    const welcome = await nextMessage('welcome');
    state = 'joined';
    const { rank, config } = welcome;
    log = log.child({ rank });
    log.info({ runId: config.runId, method: config.method, members: config.members }, 'joined run');

    state = 'preparing';
    const backend = await loadBackend(options.backend ?? config.backend, log);
    const data = await loadDataset({
      name: config.dataset, dir: options.dataDir ?? (config.dataDir || undefined), validationShare: config.validationShare,
      trainLimit: config.trainLimit || undefined, testLimit: config.testLimit || undefined, splitSeed: config.seed,
    });
    const seedsOfMember = memberSeeds(config, rank);
    member = new Member({ name: config.model, inputShape: [data.train.height, data.train.width, data.train.channels], numClasses: data.train.numClasses }, seedsOfMember.init, { momentum: config.momentum, weightDecay: config.weightDecay });
    const stream = new BatchStream(data.train, { batchSize: config.batchSize, seed: seedsOfMember.data, augmentation: memberAugmentation(config.dataset, seedsOfMember.data), normalization: data.normalization });

    mesh.join({ rank, members: config.members, runId: config.runId, maxFrameBytes: config.maxFrameBytes, receiveTimeoutMs: Math.max(config.heartbeatTimeoutMs * 3, 60_000) });
    heartbeat = new Heartbeat({ url: options.coordinatorUrl, token: options.token, rank, intervalMs: Math.max(100, Math.floor(config.heartbeatTimeoutMs / 5)) });
    await link.send({ type: 'ready', rank, backend: backend.name, signature: member.layout.signature, usingGpu: backend.usingGpu });

    state = 'meshing';
    const { peers } = await nextMessage('peers');
    await mesh.connectAll(peers, 60_000);
    await link.send({ type: 'meshReady', rank });
    await nextMessage('start');

    state = 'training';
    log.info({ backend: backend.name, steps: stream.batchesPerEpoch * config.epochs }, 'training started');
    const result = await trainMember({
      rank, config, member, data, stream, mesh, link, seeds, heartbeat, counter, log,
      checkAbort: () => {
        if (failure) throw failure;
      },
    });

    state = 'finishing';
    mesh.markFinished();
    await link.send({ type: 'final', rank, ...weightBytes(member), bytes: counter.snapshot(), steps: result.steps, valuesMoved: result.valuesMoved, trainSeconds: result.trainSeconds }, 'gather');
    await nextMessage('done');
    state = 'done';
    log.info({ steps: result.steps, seconds: result.trainSeconds }, 'worker finished');
  } catch (error) {
    const washError = isWashError(error) ? error : new WashError('WASH_ERR_ABORTED', error instanceof Error ? error.message : String(error), { cause: error });
    if (state !== 'done') {
      state = 'failed';
      if (!failure || failure === washError) {
        await link.send({ type: 'abort', code: washError.code, message: washError.message }).catch(() => {});
      }
      fail(washError);
    }
    throw failure ?? washError;
  } finally {
    heartbeat?.stop();
    await mesh?.close(failure);
    link.close();
    member?.dispose();
  }
}

function advertiseHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '::') return os.hostname();
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}
