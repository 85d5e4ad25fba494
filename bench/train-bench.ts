/**
 * Measures how fast one ensemble member trains, per model and backend, and
 * compares it with PyTorch on the same shapes measured in the same run.
 *
 * Prints one JSON line per model and backend: milliseconds per step, samples
 * per second, the live tensor count before and after the measured steps,
 * and the peer's samples per second with our ratio to it. A step is forward,
 * softmax cross-entropy, backward and the SGD update on one fixed random batch,
 * and it ends when the loss has been read back, so all its work is done.
 *
 * `loadBackend` can load one backend per process, so the bench runs itself
 * once per backend as a child process (`--child BACKEND`) and merges the
 * children's lines with the peer's figures.
 *
 * Run: npm run bench:train -- [--backends wasm,cpu] [--models mlp,cnn,resnet20] [--batch 128]
 *      [--steps N] [--warmup N] [--leak-steps 1000] [--peer-script PATH] [--peer-python PATH]
 */
import * as tf from '@tensorflow/tfjs';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { BACKEND_CHOICES, loadBackend, LoadedBackend } from '../shared/backend/backends';
import { WashError } from '../shared/errors';
import { MODEL_NAMES, ModelName, ModelSpec } from '../shared/model/models';
import { Rng } from '../shared/rng';
import { Member } from '../shared/train/member';

const execFileAsync = promisify(execFile);

/** Default --peer-script: `shared/peer-bench/torch_peer.py` in the folder that contains this repository. */
const DEFAULT_PEER_SCRIPT = path.resolve(__dirname, '..', '..', '..', 'shared', 'peer-bench', 'torch_peer.py');
/** Default --peer-python: Debian's Python, which is the one python3-torch installs into. */
const DEFAULT_PEER_PYTHON = '/usr/bin/python3';
/** Wall-clock limit for one peer run, in milliseconds. */
const PEER_TIMEOUT_MS = 300_000;

const LEARNING_RATE = 0.01;
const NUM_CLASSES = 10;

const INPUT_SHAPES: Record<ModelName, [number, number, number]> = {
  mlp: [28, 28, 1],
  cnn: [28, 28, 1],
  resnet20: [32, 32, 3],
};

/**
 * Untimed and timed steps when --warmup and --steps are not given. The cpu
 * backend of TF.js 4.22 computes Conv2DBackpropFilter in plain JavaScript
 * loops, which took about 95 s of a cnn step at batch 128 on a shared 2-core
 * x86 machine. Convolutional models therefore get one timed step there and no
 * warm-up, since that backend has no one-off setup worth leaving out.
 */
const DEFAULT_STEPS: Record<ModelName, { cpu: [number, number]; other: [number, number] }> = {
  mlp: { cpu: [3, 20], other: [5, 50] },
  cnn: { cpu: [0, 1], other: [2, 20] },
  resnet20: { cpu: [0, 1], other: [1, 2] },
};

interface BenchOptions {
  backends: LoadedBackend[];
  models: ModelName[];
  /** Images per step, 128 by default. */
  batch: number;
  /** Timed steps for every model, or undefined for DEFAULT_STEPS. */
  steps?: number;
  /** Untimed steps before timing, or undefined for DEFAULT_STEPS. */
  warmup?: number;
  /** Steps the tensor count is checked over for mlp on wasm, 1000 by default. */
  leakSteps: number;
  /** The PyTorch peer script, DEFAULT_PEER_SCRIPT by default. */
  peerScript: string;
  /** The Python that runs it, DEFAULT_PEER_PYTHON by default. */
  peerPython: string;
}

/** One child's measurement of one model. */
interface Measurement {
  model: ModelName;
  backend: LoadedBackend;
  batch: number;
  steps: number;
  msPerStep: number;
  samplesPerSecond: number;
  tensorsBefore: number;
  tensorsAfter: number;
  /** Steps between the two tensor counts. */
  leakSteps: number;
  leakFree: boolean;
  finalLoss: number;
}

interface PeerResult {
  peer: string | null;
  peerSamplesPerSecond: number | null;
  peerError?: string;
}

function parseOptions(argv: string[]): { options: BenchOptions; child?: LoadedBackend } {
  const { values } = parseArgs({
    args: argv,
    options: {
      backends: { type: 'string', default: 'wasm,cpu' },
      models: { type: 'string', default: 'mlp,cnn' },
      batch: { type: 'string', default: '128' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      'leak-steps': { type: 'string', default: '1000' },
      'peer-script': { type: 'string', default: DEFAULT_PEER_SCRIPT },
      'peer-python': { type: 'string', default: DEFAULT_PEER_PYTHON },
      child: { type: 'string' },
    },
  });
  const backends = values.backends.split(',').map((name) => checkBackend(name, '--backends'));
  const models = values.models.split(',').map((name) => {
    if (!(MODEL_NAMES as readonly string[]).includes(name)) {
      throw new WashError('WASH_ERR_USAGE', `invalid --models entry "${name}": expected one of ${MODEL_NAMES.join(', ')}`);
    }
    return name as ModelName;
  });
  const options: BenchOptions = {
    backends,
    models,
    batch: parseCount(values.batch, '--batch', 1),
    steps: values.steps === undefined ? undefined : parseCount(values.steps, '--steps', 1),
    warmup: values.warmup === undefined ? undefined : parseCount(values.warmup, '--warmup', 0),
    leakSteps: parseCount(values['leak-steps'], '--leak-steps', 0),
    peerScript: values['peer-script'],
    peerPython: values['peer-python'],
  };
  return { options, child: values.child === undefined ? undefined : checkBackend(values.child, '--child') };
}

function checkBackend(name: string, flag: string): LoadedBackend {
  const choices = BACKEND_CHOICES.filter((choice) => choice !== 'auto');
  if (!(choices as readonly string[]).includes(name)) {
    throw new WashError('WASH_ERR_USAGE', `invalid ${flag} entry "${name}": expected one of ${choices.join(', ')}`);
  }
  return name as LoadedBackend;
}

function parseCount(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new WashError('WASH_ERR_USAGE', `invalid ${flag} "${text}": expected an integer of at least ${min}`);
  }
  return value;
}

/** Trains one member on one random batch and times it, in the child process that loaded `backend`. */
function measure(model: ModelName, backend: LoadedBackend, options: BenchOptions): Measurement {
  const spec: ModelSpec = { name: model, inputShape: INPUT_SHAPES[model], numClasses: NUM_CLASSES };
  const [defaultWarmup, defaultSteps] = DEFAULT_STEPS[model][backend === 'cpu' ? 'cpu' : 'other'];
  const warmup = options.warmup ?? defaultWarmup;
  const steps = options.steps ?? defaultSteps;
  // Only mlp on wasm runs the long leak check, because there 1,000 steps take seconds. Elsewhere the timed steps are checked.
  const leakSteps = model === 'mlp' && backend === 'wasm' ? Math.max(steps, options.leakSteps) : steps;

  const member = new Member(spec, 1);
  const rng = new Rng(2);
  const x = tf.randomNormal([options.batch, ...spec.inputShape], 0, 1, 'float32', 3) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: options.batch }, () => rng.nextInt(NUM_CLASSES)), 'int32');
  const y = tf.oneHot(labels, NUM_CLASSES).toFloat() as tf.Tensor2D;
  labels.dispose();
  try {
    for (let step = 0; step < warmup; step++) member.trainStep(x, y, LEARNING_RATE);

    const tensorsBefore = tf.memory().numTensors;
    let loss = NaN;
    const started = performance.now();
    for (let step = 0; step < steps; step++) loss = member.trainStep(x, y, LEARNING_RATE);
    const msPerStep = (performance.now() - started) / steps;
    for (let step = steps; step < leakSteps; step++) loss = member.trainStep(x, y, LEARNING_RATE);
    const tensorsAfter = tf.memory().numTensors;

    return {
      model,
      backend,
      batch: options.batch,
      steps,
      msPerStep: round(msPerStep, 2),
      samplesPerSecond: Math.round((options.batch * 1000) / msPerStep),
      tensorsBefore,
      tensorsAfter,
      leakSteps,
      leakFree: tensorsAfter === tensorsBefore,
      finalLoss: round(loss, 4),
    };
  } finally {
    member.dispose();
    tf.dispose([x, y]);
  }
}

async function runChild(backend: LoadedBackend, options: BenchOptions): Promise<void> {
  await loadBackend(backend);
  for (const model of options.models) {
    process.stdout.write(`${JSON.stringify(measure(model, backend, options))}\n`);
  }
}

/** Runs this script as a child on `backend` and returns its lines. The child's stderr passes through, so its failures show. */
function spawnChild(backend: LoadedBackend, argv: string[]): Promise<{ lines: Measurement[]; exitCode: number | null; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [__filename, ...argv, '--child', backend], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.on('error', (error) => resolve({ lines: [], exitCode: null, error: error.message }));
    child.on('close', (exitCode) => {
      // Anything else on stdout (a library banner) goes to stderr, so it cannot break the JSON lines.
      const lines: Measurement[] = [];
      for (const line of stdout.split('\n')) {
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Measurement);
        else if (line.trim() !== '') process.stderr.write(`${line}\n`);
      }
      resolve({ lines, exitCode });
    });
  });
}

/**
 * Runs the PyTorch peer for one model at our batch size, single-threaded as one
 * member runs here, with the OpenBLAS core-type settings unset because they
 * slow a current OpenBLAS down. A failure is returned as `peerError` instead
 * of being thrown.
 */
async function runPeer(model: ModelName, options: BenchOptions): Promise<PeerResult> {
  const { peerScript, peerPython, batch } = options;
  const failed = (peerError: string): PeerResult => ({ peer: null, peerSamplesPerSecond: null, peerError });
  if (!existsSync(peerScript)) return failed(`peer script not found at ${peerScript}`);

  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(peerPython, [peerScript, '--model', model, '--batch', String(batch)], { env, timeout: PEER_TIMEOUT_MS }));
  } catch (error) {
    const { stderr, killed, code, message } = error as { stderr?: string; killed?: boolean; code?: number | string; message: string };
    const command = `${peerPython} ${peerScript} --model ${model}`;
    if (killed) return failed(`${command} timed out after ${PEER_TIMEOUT_MS / 1000} s`);
    const lastLine = (stderr ?? '').trim().split('\n').pop();
    if (lastLine) return failed(`${command} failed: ${lastLine}`);
    // A number is the exit code; a string such as ENOENT means the process did not start.
    return failed(`${command} failed: ${typeof code === 'number' ? `exit code ${code}` : message.split('\n')[0]}`);
  }

  try {
    const line = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { peer?: unknown; samples_per_s?: unknown };
    if (typeof line.samples_per_s !== 'number' || !(line.samples_per_s > 0)) {
      return failed(`peer output has no positive samples_per_s: ${stdout.trim()}`);
    }
    return { peer: typeof line.peer === 'string' ? line.peer : 'torch', peerSamplesPerSecond: line.samples_per_s };
  } catch {
    return failed(`peer output is not a JSON line: ${stdout.trim().slice(0, 200)}`);
  }
}

async function runParent(options: BenchOptions, argv: string[]): Promise<void> {
  // Peers run first and alone, so they do not share the cores with a child.
  const peers = new Map<ModelName, PeerResult>();
  for (const model of options.models) peers.set(model, await runPeer(model, options));

  for (const backend of options.backends) {
    const { lines, exitCode, error } = await spawnChild(backend, argv);
    for (const measurement of lines) {
      const peer = peers.get(measurement.model)!;
      const ratio = peer.peerSamplesPerSecond === null ? null : round(measurement.samplesPerSecond / peer.peerSamplesPerSecond, 3);
      process.stdout.write(`${JSON.stringify({ ...measurement, ...peer, ratio })}\n`);
    }
    const measured = new Set(lines.map((line) => line.model));
    for (const model of options.models.filter((name) => !measured.has(name))) {
      const reason = error ?? `child process exited with code ${exitCode} before measuring it`;
      process.stdout.write(`${JSON.stringify({ model, backend, error: reason })}\n`);
      process.exitCode = 1;
    }
  }
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { options, child } = parseOptions(argv);
  if (child !== undefined) {
    await runChild(child, options);
  } else {
    await runParent(options, argv);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
