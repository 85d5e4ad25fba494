import { RunConfig } from '../shared/config';
import { BatchStream, DatasetSplits } from '../shared/data';
import { Logger } from '../shared/log';
import { ByteCounter } from '../shared/net/byte-counter';
import { readValues, writeValues } from '../shared/model/parameters';
import { accuracyOf, predictProbabilities } from '../shared/eval/predict';
import { drawShufflePlan, PlanOptions, ShufflePlan } from '../shared/shuffle/shuffle-plan';
import { Member } from '../shared/train/member';
import { cosineLearningRate } from '../shared/train/schedule';
import { ringAllReduce } from './all-reduce';
import { CoordinatorLink } from './coordinator-link';
import { Heartbeat } from './heartbeat';
import { PeerMesh } from './peer-mesh';
import { SeedQueue } from './seed-queue';
import { runShuffleStep } from './shuffle-step';
import { shuffledTensors } from '../shared/shuffle/tensor-selection';
import { floatBytes } from '../shared/protocol/codec';

export interface LoopContext {
  rank: number;
  config: RunConfig;
  member: Member;
  data: DatasetSplits;
  stream: BatchStream;
  mesh: PeerMesh;
  link: CoordinatorLink;
  seeds: SeedQueue;
  heartbeat: Heartbeat;
  counter: ByteCounter;
  log: Logger;
  /** Throws when the run was aborted from elsewhere. */
  checkAbort: () => void;
}

export interface LoopResult {
  steps: number;
  valuesMoved: number;
  trainSeconds: number;
}

const PROGRESS_INTERVAL_MS = 500;

/** Trains one member for the configured epochs, running the method's communication after every optimizer step. */
export async function trainMember(ctx: LoopContext): Promise<LoopResult> {
  const { config, member, stream, rank } = ctx;
  const totalSteps = stream.batchesPerEpoch * config.epochs;
  const planOptions: PlanOptions = {
    members: config.members,
    shuffled: shuffledTensors(member.layout, config.shuffleLayers),
    schedule: {
      p: config.p,
      depthDecay: config.depthDecay,
      warmupSteps: config.shuffleWarmup,
      decay: config.shuffleDecay,
      finalP: config.shuffleFinalP,
      totalSteps,
      correctFixedPoints: config.correctFixedPoints,
    },
  };
  const started = Date.now();
  let lastReport = 0;
  let valuesMoved = 0;
  let epochLoss = 0;
  let epochSteps = 0;
  let epochStarted = Date.now();
  let reduceOp = 0;
  let nextPlan: ShufflePlan | undefined;

  for (let step = 0; step < totalSteps; step++) {
    ctx.checkAbort();
    const lr = cosineLearningRate(config.lr, step, totalSteps);
    const { x, y } = stream.next();
    let loss: number;
    try {
      loss = member.trainStep(x, y, lr);
    } finally {
      x.dispose();
      y.dispose();
    }
    epochLoss += loss;
    epochSteps++;

    if (config.method === 'wash' || config.method === 'wash-opt') {
      const plan = nextPlan?.step === step ? nextPlan : drawShufflePlan(await ctx.seeds.get(step), step, member.layout, planOptions);
      nextPlan = undefined;
      const drawNext = (): void => {
        const seed = step + 1 < totalSteps ? ctx.seeds.take(step + 1) : undefined;
        if (seed !== undefined) nextPlan = drawShufflePlan(seed, step + 1, member.layout, planOptions);
      };
      valuesMoved += await runShuffleStep(ctx.mesh, plan, {
        rank,
        variables: member.variables,
        momentum: config.method === 'wash-opt' ? member.optimizer.buffers : undefined,
      }, drawNext);
    } else if (config.method === 'papa' && (step + 1) % config.papaEvery === 0) {
      // PAPA's pull weakens as the learning rate decays: (1 - a) is scaled by lr / peak lr.
      const pull = (1 - config.papaAlpha) * (lr / config.lr);
      valuesMoved += await averageWithPeers(ctx, reduceOp++, pull);
    } else if (config.method === 'average-every' && (step + 1) % config.averageEvery === 0) {
      valuesMoved += await averageWithPeers(ctx, reduceOp++, 1);
    } else {
      // Let control messages (aborts, seeds) in between steps when the method sends nothing.
      await new Promise((resolve) => setImmediate(resolve));
    }

    ctx.heartbeat.progress(step + 1);
    const now = Date.now();
    if (now - lastReport >= PROGRESS_INTERVAL_MS) {
      lastReport = now;
      const seconds = (now - started) / 1000;
      ctx.link.post({ type: 'progress', rank, step: step + 1, epoch: stream.epoch, loss, samplesPerSecond: ((step + 1) * config.batchSize) / seconds, bytes: ctx.counter.snapshot() });
    }

    if ((step + 1) % stream.batchesPerEpoch === 0) {
      const epoch = (step + 1) / stream.batchesPerEpoch;
      const testAccuracy = evaluateMember(member, ctx.data);
      const metrics = { epoch, step: step + 1, loss: epochLoss / epochSteps, testAccuracy, seconds: (Date.now() - epochStarted) / 1000 };
      ctx.log.info(metrics, 'epoch finished');
      await ctx.link.send({ type: 'epochEnd', rank, metrics, bytes: ctx.counter.snapshot() });
      if (config.trackAverage) {
        await ctx.link.send({ type: 'snapshot', rank, epoch, ...weightBytes(member) }, 'evaluation');
      }
      epochLoss = 0;
      epochSteps = 0;
      epochStarted = Date.now();
      ctx.heartbeat.progress(step + 1);
    }
  }
  return { steps: totalSteps, valuesMoved, trainSeconds: (Date.now() - started) / 1000 };
}

/**
 * Moves every member towards the population mean with a ring all-reduce:
 * w = (1 - pull) * w + pull * mean. `pull` = 1 replaces the weights by the mean.
 * Returns the number of values this member received.
 */
async function averageWithPeers(ctx: LoopContext, op: number, pull: number): Promise<number> {
  const { member, config } = ctx;
  const tensors = readValues(member.variables);
  const flat = new Float32Array(member.layout.totalSize);
  let offset = 0;
  for (const t of tensors) {
    flat.set(t, offset);
    offset += t.length;
  }
  const sum = await ringAllReduce(ctx.mesh, op, ctx.rank, config.members, flat);
  offset = 0;
  const updated = tensors.map((t) => {
    const out = new Float32Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = (1 - pull) * t[i] + (pull * sum[offset + i]) / config.members;
    offset += t.length;
    return out;
  });
  writeValues(member.variables, updated);
  return config.members > 1 ? Math.round((2 * (config.members - 1) * flat.length) / config.members) : 0;
}

/** Test accuracy of the member with its own batch-norm statistics. */
export function evaluateMember(member: Member, data: DatasetSplits): number {
  const probabilities = predictProbabilities(member.model, data.test, data.normalization);
  return accuracyOf(probabilities, data.test.labels, data.test.numClasses);
}

/** Copies the member's weights and statistics into raw float32 bytes for the coordinator. */
export function weightBytes(member: Member): { parameters: Uint8Array[]; statistics: Uint8Array[] } {
  return {
    parameters: readValues(member.variables).map(floatBytes),
    statistics: readValues(member.statistics).map(floatBytes),
  };
}
