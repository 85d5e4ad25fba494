import * as tf from '@tensorflow/tfjs';
import { BatchStream, ImageSet, NO_AUGMENTATION, Normalization } from '../data';

export interface RecomputeOptions {
  /** Training batches to run, 50 by default. */
  batches: number;
  batchSize: number;
  seed: number;
}

export const DEFAULT_RECOMPUTE: RecomputeOptions = { batches: 50, batchSize: 128, seed: 0 };

interface BatchNormLayer extends tf.layers.Layer {
  momentum: number;
}

function batchNormLayers(model: tf.LayersModel): BatchNormLayer[] {
  return model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization') as BatchNormLayer[];
}

/**
 * Replaces every batch-norm layer's running mean and variance with the mean
 * of its batch statistics over training batches, as a model whose weights were
 * averaged needs (the members' averaged statistics do not describe the
 * averaged weights' activations). Setting each layer's momentum to (k-1)/k at
 * the k-th batch turns the moving average into an exact running mean.
 * Returns false, doing nothing, for a model without batch norm.
 */
export function recomputeBatchNorm(model: tf.LayersModel, set: ImageSet, normalization: Normalization, options: RecomputeOptions = DEFAULT_RECOMPUTE): boolean {
  const layers = batchNormLayers(model);
  if (layers.length === 0) return false;
  const savedMomentum = layers.map((layer) => layer.momentum);
  const batchSize = Math.min(options.batchSize, set.count);
  const stream = new BatchStream(set, { batchSize, seed: options.seed, augmentation: NO_AUGMENTATION, normalization });
  try {
    const batches = Math.max(1, Math.min(options.batches, stream.batchesPerEpoch));
    for (let k = 1; k <= batches; k++) {
      for (const layer of layers) layer.momentum = (k - 1) / k;
      const { x, y } = stream.next();
      try {
        tf.tidy(() => {
          model.apply(x, { training: true });
        });
      } finally {
        x.dispose();
        y.dispose();
      }
    }
  } finally {
    layers.forEach((layer, i) => (layer.momentum = savedMomentum[i]));
  }
  return true;
}
