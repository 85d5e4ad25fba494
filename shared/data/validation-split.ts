import { WashError } from '../errors';
import { deriveSeed, Rng } from '../rng';
import { ImageSet, selectImages } from './image-set';

export interface ValidationSplit {
  train: ImageSet;
  validation: ImageSet;
}

/**
 * Holds out `round(count * share)` images, chosen at random from `seed`, as the
 * validation set. Both parts keep the original image order. The choice depends
 * only on the set's count, the share and the seed, so every process that loads
 * the same files with the same options holds out the same images.
 */
export function splitValidation(set: ImageSet, share: number, seed: number): ValidationSplit {
  if (!(share >= 0 && share < 1)) {
    throw new WashError('WASH_ERR_CONFIG', `invalid validation share ${share}: expected a number in [0, 1)`);
  }
  const validationCount = Math.round(set.count * share);
  if (validationCount >= set.count) {
    throw new WashError(
      'WASH_ERR_CONFIG',
      `validation share ${share} of ${set.count} images leaves no training images; lower the share or raise the training limit`,
    );
  }

  const order = new Int32Array(set.count);
  for (let i = 0; i < set.count; i++) order[i] = i;
  new Rng(deriveSeed(seed, 'validation-split')).shuffle(order);
  const isValidation = new Uint8Array(set.count);
  for (let i = 0; i < validationCount; i++) isValidation[order[i]] = 1;

  const trainIndices = new Int32Array(set.count - validationCount);
  const validationIndices = new Int32Array(validationCount);
  let trainNext = 0;
  let validationNext = 0;
  for (let i = 0; i < set.count; i++) {
    if (isValidation[i]) validationIndices[validationNext++] = i;
    else trainIndices[trainNext++] = i;
  }
  return { train: selectImages(set, trainIndices), validation: selectImages(set, validationIndices) };
}
