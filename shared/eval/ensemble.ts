import * as tf from '@tensorflow/tfjs';
import { DatasetSplits } from '../data';
import { accuracyOf, meanProbabilities, predictProbabilities } from './predict';
import { DEFAULT_RECOMPUTE, recomputeBatchNorm, RecomputeOptions } from './batch-norm';
import { averageWeights, MemberWeights, readMemberWeights, writeMemberWeights } from './weights';

/** Test accuracies of a set of members, their ensemble, their weight average and their greedy soup. */
export interface EnsembleEvaluation {
  /** Each member's test accuracy, by rank. */
  members: number[];
  /** Each member's validation accuracy, by rank (orders the greedy soup). */
  membersValidation: number[];
  /** Mean of the members' softmax outputs. */
  ensemble: number;
  /** Uniform average of weights and batch-norm statistics, with no recomputation. */
  naiveAverage: number;
  /** Uniform weight average after its batch-norm statistics are recomputed on training batches. */
  averaged: number;
  greedySoup: { accuracy: number; validation: number; ranks: number[] };
}

export interface EvaluationResult {
  evaluation: EnsembleEvaluation;
  /** The averaged model's weights with recomputed statistics. */
  averaged: MemberWeights;
}

/**
 * Evaluates members on the test split. `scratch` is any model with the
 * members' layout; its weights are overwritten. The greedy soup adds members
 * in order of validation accuracy while the soup's validation accuracy does
 * not drop (Wortsman et al., 2022, "Model soups").
 */
export function evaluateEnsemble(scratch: tf.LayersModel, members: MemberWeights[], data: DatasetSplits, recompute: RecomputeOptions = DEFAULT_RECOMPUTE): EvaluationResult {
  const { test, validation, normalization } = data;
  const testProbs: Float32Array[] = [];
  const membersValidation: number[] = [];
  for (const weights of members) {
    writeMemberWeights(scratch, weights);
    testProbs.push(predictProbabilities(scratch, test, normalization));
    membersValidation.push(accuracyOf(predictProbabilities(scratch, validation, normalization), validation.labels, validation.numClasses));
  }
  const memberAccuracies = testProbs.map((probs) => accuracyOf(probs, test.labels, test.numClasses));
  const ensemble = accuracyOf(meanProbabilities(testProbs), test.labels, test.numClasses);

  const naive = averageWeights(members);
  writeMemberWeights(scratch, naive);
  const naiveAverage = accuracyOf(predictProbabilities(scratch, test, normalization), test.labels, test.numClasses);
  recomputeBatchNorm(scratch, data.train, normalization, recompute);
  const averagedWeights = readMemberWeights(scratch);
  const averaged = accuracyOf(predictProbabilities(scratch, test, normalization), test.labels, test.numClasses);

  const greedySoup = greedySoupOf(scratch, members, membersValidation, data, recompute);
  return {
    evaluation: { members: memberAccuracies, membersValidation, ensemble, naiveAverage, averaged, greedySoup },
    averaged: averagedWeights,
  };
}

function soupAccuracy(scratch: tf.LayersModel, members: MemberWeights[], data: DatasetSplits, recompute: RecomputeOptions, split: 'validation' | 'test'): number {
  writeMemberWeights(scratch, averageWeights(members));
  recomputeBatchNorm(scratch, data.train, data.normalization, recompute);
  const set = data[split];
  return accuracyOf(predictProbabilities(scratch, set, data.normalization), set.labels, set.numClasses);
}

function greedySoupOf(scratch: tf.LayersModel, members: MemberWeights[], validation: number[], data: DatasetSplits, recompute: RecomputeOptions): EnsembleEvaluation['greedySoup'] {
  const order = validation.map((accuracy, rank) => ({ accuracy, rank })).sort((a, b) => b.accuracy - a.accuracy || a.rank - b.rank);
  const ranks = [order[0].rank];
  let best = order[0].accuracy;
  for (const candidate of order.slice(1)) {
    const trial = [...ranks, candidate.rank];
    const accuracy = soupAccuracy(scratch, trial.map((r) => members[r]), data, recompute, 'validation');
    if (accuracy >= best) {
      ranks.push(candidate.rank);
      best = accuracy;
    }
  }
  const accuracy = soupAccuracy(scratch, ranks.map((r) => members[r]), data, recompute, 'test');
  return { accuracy, validation: best, ranks };
}
