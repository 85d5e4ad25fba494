import * as tf from '@tensorflow/tfjs';
import { evalBatches, ImageSet, Normalization } from '../data';

/** Softmax probabilities of a model on a set, [count * numClasses] row-major, in the set's order. */
export function predictProbabilities(model: tf.LayersModel, set: ImageSet, normalization: Normalization, batchSize = 500): Float32Array {
  const out = new Float32Array(set.count * set.numClasses);
  let offset = 0;
  for (const batch of evalBatches(set, batchSize, normalization)) {
    try {
      const probs = tf.tidy(() => tf.softmax(model.predict(batch.x) as tf.Tensor2D));
      out.set(probs.dataSync() as Float32Array, offset);
      probs.dispose();
      offset += batch.count * set.numClasses;
    } finally {
      batch.x.dispose();
    }
  }
  return out;
}

/** Share of rows whose largest probability is at the label (ties go to the lowest class index). */
export function accuracyOf(probabilities: Float32Array, labels: Uint8Array, numClasses: number): number {
  if (labels.length === 0) return 0;
  let correct = 0;
  for (let row = 0; row < labels.length; row++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < numClasses; c++) {
      const value = probabilities[row * numClasses + c];
      if (value > bestValue) {
        bestValue = value;
        best = c;
      }
    }
    if (best === labels[row]) correct++;
  }
  return correct / labels.length;
}

/** Mean of the members' probabilities, the ensemble's prediction. */
export function meanProbabilities(members: Float32Array[]): Float32Array {
  const out = new Float32Array(members[0].length);
  for (const probs of members) {
    for (let i = 0; i < out.length; i++) out[i] += probs[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= members.length;
  return out;
}
