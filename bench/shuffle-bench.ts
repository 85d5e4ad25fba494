/**
 * Shuffle benchmark: for N members and shuffle probability p, real worker-like
 * processes train an MLP on random batches and run WASH's peer-to-peer
 * shuffle on loopback after every step. Prints one JSON line per (N, p) with
 * bytes on the wire per member per step against the 4-bytes-per-value
 * minimum, and the share of a step that the shuffle takes.
 *
 *   npm run bench:shuffle -- [--members 2,4,8] [--p 0.001,0.01,0.05] [--steps 200] [--backend wasm]
 */
import { fork } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { BackendChoice, loadBackend } from '../shared/backend/backends';
import { silentLogger } from '../shared/log';
import { ByteCounter } from '../shared/net/byte-counter';
import { PeerAddress } from '../shared/protocol/messages';
import { deriveSeed } from '../shared/rng';
import { drawShufflePlan } from '../shared/shuffle/shuffle-plan';
import { Member } from '../shared/train/member';
import { PeerMesh } from '../worker/peer-mesh';
import { runShuffleStep } from '../worker/shuffle-step';

interface MemberJob { rank: number; members: number; p: number; steps: number; warmup: number; backend: BackendChoice }
interface MemberResult { rank: number; trainMs: number; shuffleMs: number; wallMs: number; cpuMs: number; bytesSent: number; valuesReceived: number; steps: number }

const TOKEN = 'bench-token';

function listArg(name: string, fallback: number[]): number[] {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1].split(',').map(Number) : fallback;
}

function arg(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : fallback;
}

async function memberProcess(): Promise<void> {
  const job = await new Promise<MemberJob>((resolve) => process.once('message', (m) => resolve(m as MemberJob)));
  await loadBackend(job.backend);
  const counter = new ByteCounter();
  const mesh = new PeerMesh({ rank: job.rank, members: job.members, runId: 'bench', token: TOKEN, listenHost: '127.0.0.1', listenPort: 0, maxFrameBytes: 64 << 20, receiveTimeoutMs: 120_000, maxPendingFrames: 8, log: silentLogger, counter });
  const port = await mesh.start();
  process.send?.({ port });
  const peers = await new Promise<PeerAddress[]>((resolve) => process.once('message', (m) => resolve(m as PeerAddress[])));
  await mesh.connectAll(peers, 60_000);

  const member = new Member({ name: 'mlp', inputShape: [28, 28, 1], numClasses: 10 }, 1);
  const x = tf.randomNormal([128, 28, 28, 1], 0, 1, 'float32', job.rank) as tf.Tensor4D;
  const y = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32', job.rank) as tf.Tensor1D, 10).toFloat() as tf.Tensor2D;
  const schedule = { p: job.p, depthDecay: 'linear' as const, warmupSteps: 0, decay: 'none' as const, finalP: 0, totalSteps: job.steps, correctFixedPoints: false };
  const shuffled = member.layout.parameters.map(() => true);
  let trainMs = 0;
  let shuffleMs = 0;
  let bytesAtStart = 0;
  let values = 0;
  let wallStart = 0;
  let cpuStart = process.cpuUsage();
  let nextPlan: ReturnType<typeof drawShufflePlan> | undefined;
  for (let step = 0; step < job.warmup + job.steps; step++) {
    if (step === job.warmup) {
      bytesAtStart = counter.counts.shuffle.sent;
      wallStart = performance.now();
      cpuStart = process.cpuUsage();
    }
    const t0 = performance.now();
    member.trainStep(x, y, 0.01);
    const t1 = performance.now();
    // As in the training loop, the next step's plan is drawn while this step's frames travel.
    const plan = nextPlan ?? drawShufflePlan(deriveSeed(7, step), step, member.layout, { members: job.members, shuffled, schedule });
    const drawNext = (): void => {
      nextPlan = drawShufflePlan(deriveSeed(7, step + 1), step + 1, member.layout, { members: job.members, shuffled, schedule });
    };
    const moved = await runShuffleStep(mesh, plan, { rank: job.rank, variables: member.variables }, drawNext);
    const t2 = performance.now();
    if (step >= job.warmup) {
      trainMs += t1 - t0;
      shuffleMs += t2 - t1;
      values += moved;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  const result: MemberResult = { rank: job.rank, trainMs, shuffleMs, wallMs: performance.now() - wallStart, cpuMs: (cpu.user + cpu.system) / 1000, bytesSent: counter.counts.shuffle.sent - bytesAtStart, valuesReceived: values, steps: job.steps };
  process.send?.(result);
  mesh.markFinished();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await mesh.close();
  process.exit(0);
}

async function runCase(members: number, p: number, steps: number, backend: BackendChoice): Promise<object> {
  const children = Array.from({ length: members }, () => fork(__filename, ['--member'], { stdio: 'inherit' }));
  const ports = await Promise.all(
    children.map((child, rank) => {
      child.send({ rank, members, p, steps, warmup: 5, backend } satisfies MemberJob);
      return new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
    }),
  );
  const peers = ports.map((port, rank) => ({ rank, url: `ws://127.0.0.1:${port}` }));
  const results = await Promise.all(
    children.map((child) => {
      child.send(peers);
      return new Promise<MemberResult>((resolve) => child.once('message', (m) => resolve(m as MemberResult)));
    }),
  );
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  const perStep = (f: (r: MemberResult) => number): number => results.reduce((sum, r) => sum + f(r) / r.steps, 0) / results.length;
  const bytes = perStep((r) => r.bytesSent);
  const minimum = 4 * perStep((r) => r.valuesReceived);
  const trainMs = perStep((r) => r.trainMs);
  const shuffleMs = perStep((r) => r.shuffleMs);
  return {
    model: 'mlp', backend, members, p, steps,
    bytesPerMemberPerStep: Math.round(bytes), minimumBytesPerMemberPerStep: Math.round(minimum), bytesOverMinimum: minimum > 0 ? Number((bytes / minimum).toFixed(4)) : null,
    trainMsPerStep: Number(trainMs.toFixed(2)), shuffleMsPerStep: Number(shuffleMs.toFixed(2)), cpuMsPerStep: Number(perStep((r) => r.cpuMs).toFixed(2)), wallMsPerStep: Number(Math.max(...results.map((r) => r.wallMs / r.steps)).toFixed(2)),
    cores: require('node:os').cpus().length,
  };
}

/**
 * The shuffle's added time is measured against a run of the same members with
 * no communication (p = 0), so it includes waiting for the slowest peer. With
 * more members than cores, members also wait for the CPU in both runs, and the
 * barrier of every step leaves a core idle while the last member finishes, so
 * `shuffleAddedShareOfStep` then measures the oversubscription too.
 * `shuffleAddedCpuShareOfStep` is the CPU time the shuffle adds to a member's
 * step (sending, receiving, drawing, gathering, scattering) without any waiting.
 */
async function main(): Promise<void> {
  const memberCounts = listArg('members', [2, 4, 8]);
  const ps = listArg('p', [0.001, 0.01, 0.05]);
  const steps = Number(arg('steps', '200'));
  const backend = arg('backend', 'wasm') as BackendChoice;
  type CaseResult = { wallMsPerStep: number; cpuMsPerStep: number };
  for (const members of memberCounts) {
    const baseline = (await runCase(members, 0, steps, backend)) as CaseResult;
    for (const p of ps) {
      const result = (await runCase(members, p, steps, backend)) as CaseResult;
      const added = (result.wallMsPerStep - baseline.wallMsPerStep) / result.wallMsPerStep;
      const addedCpu = (result.cpuMsPerStep - baseline.cpuMsPerStep) / result.cpuMsPerStep;
      const line = {
        ...result,
        baselineWallMsPerStep: baseline.wallMsPerStep,
        baselineCpuMsPerStep: baseline.cpuMsPerStep,
        shuffleAddedShareOfStep: Number(added.toFixed(4)),
        shuffleAddedCpuShareOfStep: Number(addedCpu.toFixed(4)),
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  }
}

if (process.argv.includes('--member')) void memberProcess();
else void main();
