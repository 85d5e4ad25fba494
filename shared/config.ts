import { randomBytes } from 'node:crypto';
import { BACKEND_CHOICES, BackendChoice } from './backend/backends';
import { DATASET_NAMES, DatasetName } from './data';
import { WashError } from './errors';
import { MODEL_NAMES, ModelName } from './model/models';
import { DEPTH_DECAYS, DepthDecay, P_DECAYS, PDecay } from './shuffle/schedule';
import { MAX_MEMBERS } from './shuffle/shuffle-plan';

export const METHODS = ['wash', 'wash-opt', 'papa', 'average-every', 'independent'] as const;
export type Method = (typeof METHODS)[number];
export const INIT_MODES = ['shared', 'separate'] as const;
export type InitMode = (typeof INIT_MODES)[number];

/** Everything a run needs; the coordinator sends it to every worker. Units are in the field comments. */
export interface RunConfig {
  runId: string;
  method: Method;
  members: number;
  model: ModelName;
  dataset: DatasetName;
  /** Data folder on the workers' hosts; empty for the data set's default. */
  dataDir: string;
  /** Training images used (0 = all), for short runs. */
  trainLimit: number;
  /** Test images used (0 = all). */
  testLimit: number;
  /** Share of the training set held out for validation (greedy soup). */
  validationShare: number;
  epochs: number;
  batchSize: number;
  /** Peak learning rate of the cosine schedule. */
  lr: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  /** `shared`: every member starts from one initialization; `separate`: each from its own. */
  init: InitMode;
  backend: BackendChoice;
  /** WASH: shuffle probability of the first layer. */
  p: number;
  depthDecay: DepthDecay;
  /** WASH: steps without shuffling at the start. */
  shuffleWarmup: number;
  shuffleDecay: PDecay;
  shuffleFinalP: number;
  /** WASH: divide p by (1 - 1/members) so that the share of values that move is p. */
  correctFixedPoints: boolean;
  /** WASH: `all`, `no-batch-norm`, or a comma-separated list of layer names whose tensors shuffle. */
  shuffleLayers: string;
  /** PAPA: pull strength a in w = a*w + (1-a)*mean. */
  papaAlpha: number;
  /** PAPA: steps between pulls. */
  papaEvery: number;
  /** average-every: steps between full averages. */
  averageEvery: number;
  /** Epoch-end gather of every member's weights for the running average and member distance (counted as evaluation traffic). */
  trackAverage: boolean;
  /** Save every member's final model next to the averaged one, under members/rank-N. */
  saveMembers: boolean;
  /** Largest frame a socket accepts, in bytes. */
  maxFrameBytes: number;
  /** A worker without a heartbeat for this long is declared lost, in milliseconds. */
  heartbeatTimeoutMs: number;
}

export const DEFAULT_CONFIG: Omit<RunConfig, 'runId'> = {
  method: 'wash',
  members: 4,
  model: 'mlp',
  dataset: 'fashion-mnist',
  dataDir: '',
  trainLimit: 0,
  testLimit: 0,
  validationShare: 0.05,
  epochs: 3,
  batchSize: 128,
  lr: 0.05,
  momentum: 0.9,
  weightDecay: 5e-4,
  seed: 0,
  init: 'shared',
  backend: 'auto',
  p: 0.01,
  depthDecay: 'linear',
  shuffleWarmup: 0,
  shuffleDecay: 'none',
  shuffleFinalP: 0,
  correctFixedPoints: false,
  shuffleLayers: 'all',
  papaAlpha: 0.99,
  papaEvery: 10,
  averageEvery: 100,
  trackAverage: false,
  saveMembers: false,
  maxFrameBytes: 64 * 1024 * 1024,
  heartbeatTimeoutMs: 10_000,
};

/**
 * Peak learning rate when none is given. The cnn's batch norm makes 0.05 too
 * large: on Fashion-MNIST its members drifted into different basins within two
 * epochs and their average failed, where 0.01 trained better and averaged well.
 * The resnet20 value is the usual one for CIFAR at batch 128, not tuned here.
 */
export const DEFAULT_LR: Record<ModelName, number> = { mlp: 0.05, cnn: 0.01, resnet20: 0.1 };

/** The default initialization of a method: shared for the methods that average, separate for independent members. */
export function defaultInit(method: Method): InitMode {
  return method === 'independent' ? 'separate' : 'shared';
}

export function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

function oneOf<T extends string>(name: string, value: string, choices: readonly T[]): void {
  if (!(choices as readonly string[]).includes(value)) {
    throw new WashError('WASH_ERR_CONFIG', `invalid ${name} "${value}": expected one of ${choices.join(', ')}`);
  }
}

function inRange(name: string, value: number, min: number, max: number, integer = false): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new WashError('WASH_ERR_CONFIG', `invalid ${name} ${value}: expected ${integer ? 'a whole number' : 'a number'} in [${min}, ${max}]`);
  }
}

/** Checks every field of a configuration; the message names the field and the expected range. */
export function checkConfig(config: RunConfig): RunConfig {
  oneOf('--method', config.method, METHODS);
  oneOf('--model', config.model, MODEL_NAMES);
  oneOf('--dataset', config.dataset, DATASET_NAMES);
  oneOf('--init', config.init, INIT_MODES);
  oneOf('--backend', config.backend, BACKEND_CHOICES);
  oneOf('--depth-decay', config.depthDecay, DEPTH_DECAYS);
  oneOf('--shuffle-decay', config.shuffleDecay, P_DECAYS);
  inRange('--members', config.members, 1, MAX_MEMBERS, true);
  inRange('--epochs', config.epochs, 1, 10_000, true);
  inRange('--batch-size', config.batchSize, 1, 65_536, true);
  inRange('--lr', config.lr, 0, 100);
  inRange('--momentum', config.momentum, 0, 1);
  inRange('--weight-decay', config.weightDecay, 0, 1);
  inRange('--seed', config.seed, 0, 2 ** 32 - 1, true);
  inRange('--train-limit', config.trainLimit, 0, 1e9, true);
  inRange('--test-limit', config.testLimit, 0, 1e9, true);
  inRange('--validation-share', config.validationShare, 0, 0.5);
  inRange('--p', config.p, 0, 1);
  inRange('--shuffle-final-p', config.shuffleFinalP, 0, 1);
  inRange('--shuffle-warmup', config.shuffleWarmup, 0, 1e9, true);
  inRange('--papa-alpha', config.papaAlpha, 0, 1);
  inRange('--papa-every', config.papaEvery, 1, 1e9, true);
  inRange('--average-every', config.averageEvery, 1, 1e9, true);
  if (!Number.isInteger(config.maxFrameBytes) || config.maxFrameBytes < 1024 || config.maxFrameBytes > 2 ** 31 - 1) {
    throw new WashError('WASH_ERR_CONFIG', `invalid --max-frame-mb ${config.maxFrameBytes / 2 ** 20}: expected 0.001 to 2047 MiB`);
  }
  if (!Number.isInteger(config.heartbeatTimeoutMs) || config.heartbeatTimeoutMs < 100 || config.heartbeatTimeoutMs > 3_600_000) {
    throw new WashError('WASH_ERR_CONFIG', `invalid --heartbeat-timeout ${config.heartbeatTimeoutMs / 1000}: expected 0.1 to 3600 seconds`);
  }
  if (config.shuffleLayers.trim() === '') throw new WashError('WASH_ERR_CONFIG', 'invalid --shuffle-layers "": expected all, no-batch-norm or a comma-separated list of layer names');
  return config;
}
