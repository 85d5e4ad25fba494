import * as tf from '@tensorflow/tfjs';
import { readValues, statisticVariables, trainableVariables, writeValues } from '../model/parameters';

/** A member's full state off the device: trainable tensors and batch-norm statistics, in layout order. */
export interface MemberWeights {
  parameters: Float32Array[];
  statistics: Float32Array[];
}

export function readMemberWeights(model: tf.LayersModel): MemberWeights {
  return { parameters: readValues(trainableVariables(model)), statistics: readValues(statisticVariables(model)) };
}

export function writeMemberWeights(model: tf.LayersModel, weights: MemberWeights): void {
  writeValues(trainableVariables(model), weights.parameters);
  writeValues(statisticVariables(model), weights.statistics);
}

/** Element-wise mean of tensors in the same layout. */
export function meanTensors(sets: Float32Array[][]): Float32Array[] {
  if (sets.length === 0) throw new Error('cannot average an empty set of members');
  return sets[0].map((first, t) => {
    const out = new Float32Array(first.length);
    for (const set of sets) {
      const values = set[t];
      for (let i = 0; i < out.length; i++) out[i] += values[i];
    }
    for (let i = 0; i < out.length; i++) out[i] /= sets.length;
    return out;
  });
}

/** Uniform weight average of members; the statistics are averaged too, which is the naive average. */
export function averageWeights(members: MemberWeights[]): MemberWeights {
  return {
    parameters: meanTensors(members.map((m) => m.parameters)),
    statistics: meanTensors(members.map((m) => m.statistics)),
  };
}
