import { BACKEND_CHOICES } from '../shared/backend/backends';
import { checkConfig, DEFAULT_CONFIG, DEFAULT_LR, defaultInit, INIT_MODES, Method, METHODS, newRunId, RunConfig } from '../shared/config';
import { DATASET_NAMES } from '../shared/data';
import { MODEL_NAMES } from '../shared/model/models';
import { DEPTH_DECAYS, P_DECAYS } from '../shared/shuffle/schedule';
import { FlagSpecs, FlagValues } from './flags';

const d = DEFAULT_CONFIG;

/** Flags that set the run configuration, shared by `wash run`, `wash coordinator` and `wash compare`. */
export const RUN_FLAGS: FlagSpecs = {
  method: { type: 'string', choices: METHODS, default: d.method, help: 'training method: WASH, WASH with optimizer state, PAPA, periodic averaging or independent members' },
  members: { type: 'int', default: d.members, help: 'ensemble members, one worker process each' },
  model: { type: 'string', choices: MODEL_NAMES, default: d.model, help: 'network of every member' },
  dataset: { type: 'string', choices: DATASET_NAMES, default: d.dataset, help: 'data set' },
  data: { type: 'string', placeholder: 'DIR', default: '', help: 'data folder (default: $WASH_DATA_DIR, or /usr/share/datasets/fashion-mnist for fashion-mnist)' },
  'train-limit': { type: 'int', default: d.trainLimit, help: 'use only the first N training images, 0 for all' },
  'test-limit': { type: 'int', default: d.testLimit, help: 'use only the first N test images, 0 for all' },
  'validation-share': { type: 'number', default: d.validationShare, help: 'share of the training images held out for validation (greedy soup)' },
  epochs: { type: 'int', default: d.epochs, help: 'training epochs' },
  'batch-size': { type: 'int', default: d.batchSize, help: 'images per step and member' },
  lr: { type: 'number', help: 'peak learning rate of the cosine schedule (default: 0.05 for mlp, 0.01 for cnn, 0.1 for resnet20)' },
  momentum: { type: 'number', default: d.momentum, help: 'SGD momentum' },
  'weight-decay': { type: 'number', default: d.weightDecay, help: 'L2 weight decay' },
  seed: { type: 'int', default: d.seed, help: 'run seed: initialization, data order and shuffle plans' },
  init: { type: 'string', choices: INIT_MODES, help: 'shared: one initialization for all members; separate: one each (default: shared, separate for independent)' },
  backend: { type: 'string', choices: BACKEND_CHOICES, default: d.backend, help: 'TensorFlow.js backend' },
  p: { type: 'number', default: d.p, help: 'WASH: shuffle probability of the first layer\'s coordinates per step' },
  'depth-decay': { type: 'string', choices: DEPTH_DECAYS, default: d.depthDecay, help: 'WASH: linear makes p fall with depth as p * (1 - l/L); constant keeps p' },
  'shuffle-warmup': { type: 'int', default: d.shuffleWarmup, help: 'WASH: steps without shuffling at the start' },
  'shuffle-decay': { type: 'string', choices: P_DECAYS, default: d.shuffleDecay, help: 'WASH: decay of p over training after the warm-up' },
  'shuffle-final-p': { type: 'number', default: d.shuffleFinalP, help: 'WASH: p at the last step when --shuffle-decay is set' },
  'correct-fixed-points': { type: 'bool', default: d.correctFixedPoints, help: 'WASH: divide p by (1 - 1/members) so the share of values that move equals p' },
  'shuffle-layers': { type: 'string', default: d.shuffleLayers, help: 'WASH: all, no-batch-norm, or comma-separated layer names whose tensors shuffle' },
  'papa-alpha': { type: 'number', default: d.papaAlpha, help: 'PAPA: a in w = a*w + (1-a)*mean' },
  'papa-every': { type: 'int', default: d.papaEvery, help: 'PAPA: steps between pulls towards the mean' },
  'average-every': { type: 'int', default: d.averageEvery, help: 'average-every: steps between full averages' },
  'track-average': { type: 'bool', default: d.trackAverage, help: 'gather weights at every epoch end to record the running average\'s accuracy and the member distance (counted as evaluation traffic)' },
  'save-members': { type: 'bool', default: d.saveMembers, help: 'also save every member\'s final model, under members/rank-N in the run folder' },
  'max-frame-mb': { type: 'number', default: d.maxFrameBytes / 2 ** 20, help: 'largest frame a socket accepts, in MiB' },
  'heartbeat-timeout': { type: 'number', default: d.heartbeatTimeoutMs / 1000, help: 'seconds without a heartbeat after which a worker is declared lost' },
};

/** Builds and checks a run configuration from parsed flags. */
export function configFromFlags(values: FlagValues, overrides: Partial<RunConfig> = {}): RunConfig {
  const method = values.method as Method;
  const config: RunConfig = {
    runId: newRunId(),
    method,
    members: values.members as number,
    model: values.model as RunConfig['model'],
    dataset: values.dataset as RunConfig['dataset'],
    dataDir: values.data as string,
    trainLimit: values['train-limit'] as number,
    testLimit: values['test-limit'] as number,
    validationShare: values['validation-share'] as number,
    epochs: values.epochs as number,
    batchSize: values['batch-size'] as number,
    lr: (values.lr as number | undefined) ?? DEFAULT_LR[values.model as RunConfig['model']],
    momentum: values.momentum as number,
    weightDecay: values['weight-decay'] as number,
    seed: values.seed as number,
    init: (values.init as RunConfig['init'] | undefined) ?? defaultInit(method),
    backend: values.backend as RunConfig['backend'],
    p: values.p as number,
    depthDecay: values['depth-decay'] as RunConfig['depthDecay'],
    shuffleWarmup: values['shuffle-warmup'] as number,
    shuffleDecay: values['shuffle-decay'] as RunConfig['shuffleDecay'],
    shuffleFinalP: values['shuffle-final-p'] as number,
    correctFixedPoints: values['correct-fixed-points'] as boolean,
    shuffleLayers: values['shuffle-layers'] as string,
    papaAlpha: values['papa-alpha'] as number,
    papaEvery: values['papa-every'] as number,
    averageEvery: values['average-every'] as number,
    trackAverage: values['track-average'] as boolean,
    saveMembers: values['save-members'] as boolean,
    maxFrameBytes: Math.round((values['max-frame-mb'] as number) * 2 ** 20),
    heartbeatTimeoutMs: Math.round((values['heartbeat-timeout'] as number) * 1000),
    ...overrides,
  };
  return checkConfig(config);
}
