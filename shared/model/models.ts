import * as tf from '@tensorflow/tfjs';
import { WashError } from '../errors';
import { deriveSeed } from '../rng';

export const MODEL_NAMES = ['mlp', 'cnn', 'resnet20'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface ModelSpec {
  name: ModelName;
  /** Input image shape, height x width x channels. */
  inputShape: [number, number, number];
  numClasses: number;
}

/**
 * Builds a member's network. Every initializer is seeded from `seed` and the
 * layer's name, so the same spec and seed give bit-identical weights in any
 * process. Layer names are fixed (not TF.js's global counters), which keeps
 * parameter names equal across members and processes. The output is logits.
 */
export function buildModel(spec: ModelSpec, seed: number): tf.LayersModel {
  if (!(MODEL_NAMES as readonly string[]).includes(spec.name)) {
    throw new WashError('WASH_ERR_USAGE', `invalid model "${spec.name}": expected one of ${MODEL_NAMES.join(', ')}`);
  }
  const init = new SeededInit(seed);
  switch (spec.name) {
    case 'mlp':
      return buildMlp(spec, init);
    case 'cnn':
      return buildCnn(spec, init);
    case 'resnet20':
      return buildResnet20(spec, init);
  }
}

class SeededInit {
  constructor(readonly seed: number) {}

  heNormal(layerName: string): ReturnType<typeof tf.initializers.heNormal> {
    return tf.initializers.heNormal({ seed: deriveSeed(this.seed, layerName, 'kernel') });
  }

  glorotUniform(layerName: string): ReturnType<typeof tf.initializers.heNormal> {
    return tf.initializers.glorotUniform({ seed: deriveSeed(this.seed, layerName, 'kernel') });
  }
}

function dense(name: string, units: number, init: SeededInit, activation: 'relu' | 'linear'): tf.layers.Layer {
  return tf.layers.dense({ name, units, activation, kernelInitializer: init.glorotUniform(name), biasInitializer: 'zeros' });
}

function conv(name: string, filters: number, strides: number, init: SeededInit, useBias = false): tf.layers.Layer {
  return tf.layers.conv2d({
    name,
    filters,
    kernelSize: 3,
    strides,
    padding: 'same',
    useBias,
    kernelInitializer: init.heNormal(name),
  });
}

function batchNorm(name: string): tf.layers.Layer {
  // momentum 0.9 matches PyTorch's BatchNorm default (0.1 in its convention).
  return tf.layers.batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-5 });
}

/** 784-256-128-10 with ReLU, as in the peer benchmark. */
function buildMlp(spec: ModelSpec, init: SeededInit): tf.LayersModel {
  return tf.sequential({
    name: 'mlp',
    layers: [
      tf.layers.flatten({ name: 'flatten', inputShape: spec.inputShape }),
      dense('dense1', 256, init, 'relu'),
      dense('dense2', 128, init, 'relu'),
      dense('logits', spec.numClasses, init, 'linear'),
    ],
  });
}

/** Two 3x3 convolutions (32 and 64 channels), each with batch norm, ReLU and 2x2 max pooling, then dense 128 and the classifier. */
function buildCnn(spec: ModelSpec, init: SeededInit): tf.LayersModel {
  return tf.sequential({
    name: 'cnn',
    layers: [
      tf.layers.inputLayer({ name: 'input', inputShape: spec.inputShape }),
      conv('conv1', 32, 1, init),
      batchNorm('bn1'),
      tf.layers.reLU({ name: 'relu1' }),
      tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
      conv('conv2', 64, 1, init),
      batchNorm('bn2'),
      tf.layers.reLU({ name: 'relu2' }),
      tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
      tf.layers.flatten({ name: 'flatten' }),
      dense('dense1', 128, init, 'relu'),
      dense('logits', spec.numClasses, init, 'linear'),
    ],
  });
}

/**
 * The CIFAR ResNet-20 of He et al. (2016): a 16-channel stem, three stages of
 * three basic blocks with 16, 32 and 64 channels, global average pooling and
 * the classifier. Downsampling blocks use a 1x1 strided convolution with batch
 * norm on the shortcut (option B of the paper).
 */
function buildResnet20(spec: ModelSpec, init: SeededInit): tf.LayersModel {
  const input = tf.input({ name: 'input', shape: spec.inputShape });
  let x = conv('stem_conv', 16, 1, init).apply(input) as tf.SymbolicTensor;
  x = batchNorm('stem_bn').apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as tf.SymbolicTensor;
  let channels = 16;
  for (const [stage, width] of [16, 32, 64].entries()) {
    for (let block = 0; block < 3; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const prefix = `s${stage + 1}b${block + 1}`;
      let y = conv(`${prefix}_conv1`, width, stride, init).apply(x) as tf.SymbolicTensor;
      y = batchNorm(`${prefix}_bn1`).apply(y) as tf.SymbolicTensor;
      y = tf.layers.reLU({ name: `${prefix}_relu1` }).apply(y) as tf.SymbolicTensor;
      y = conv(`${prefix}_conv2`, width, 1, init).apply(y) as tf.SymbolicTensor;
      y = batchNorm(`${prefix}_bn2`).apply(y) as tf.SymbolicTensor;
      let shortcut = x;
      if (stride !== 1 || channels !== width) {
        const name = `${prefix}_shortcut`;
        shortcut = tf.layers
          .conv2d({ name, filters: width, kernelSize: 1, strides: stride, padding: 'same', useBias: false, kernelInitializer: init.heNormal(name) })
          .apply(x) as tf.SymbolicTensor;
        shortcut = batchNorm(`${prefix}_shortcut_bn`).apply(shortcut) as tf.SymbolicTensor;
      }
      x = tf.layers.add({ name: `${prefix}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: `${prefix}_relu2` }).apply(x) as tf.SymbolicTensor;
      channels = width;
    }
  }
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const logits = dense('logits', spec.numClasses, init, 'linear').apply(x) as tf.SymbolicTensor;
  return tf.model({ name: 'resnet20', inputs: input, outputs: logits });
}
