import * as tf from '@tensorflow/tfjs';
import { BACKEND_CHOICES, BackendChoice, loadBackend } from '../../shared/backend/backends';
import { DATASET_NAMES, DatasetName, loadDataset, Normalization } from '../../shared/data';
import { WashError } from '../../shared/errors';
import { accuracyOf, predictProbabilities } from '../../shared/eval/predict';
import { createLogger } from '../../shared/log';
import { loadModel } from '../../shared/model/model-files';
import { FlagSpecs, parseFlags } from '../flags';

export const EVAL_FLAGS: FlagSpecs = {
  dataset: { type: 'string', choices: DATASET_NAMES, help: 'data set (default: the one the model was trained on)' },
  data: { type: 'string', placeholder: 'DIR', default: '', help: 'data folder (default: the data set\'s)' },
  backend: { type: 'string', choices: BACKEND_CHOICES, default: 'auto', help: 'TensorFlow.js backend' },
  'test-limit': { type: 'int', default: 0, help: 'evaluate only the first N test images, 0 for all' },
};

/** Metadata wash stores in model.json so a saved model can be evaluated with the right preprocessing. */
export interface WashModelMetadata {
  dataset: DatasetName;
  normalization: Normalization;
}

/** `wash eval DIR`: the test accuracy of a saved model. */
export async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, EVAL_FLAGS, 'eval');
  if (positionals.length !== 1) throw new WashError('WASH_ERR_USAGE', 'expected one model folder: wash eval DIR (a run\'s model/ folder)');
  const dir = positionals[0];
  await loadBackend(values.backend as BackendChoice, createLogger('wash-eval', 'warn'));
  const model = await loadModel(dir);
  const metadata = model.getUserDefinedMetadata() as Partial<WashModelMetadata> | undefined;
  const dataset = (values.dataset as DatasetName | undefined) ?? metadata?.dataset;
  if (!dataset) throw new WashError('WASH_ERR_USAGE', `model in ${dir} does not name its data set; pass --dataset`);
  const data = await loadDataset({ name: dataset, dir: (values.data as string) || undefined, testLimit: (values['test-limit'] as number) || undefined, validationShare: 0 });
  const normalization = metadata?.normalization ?? data.normalization;
  const [, h, w, c] = model.inputs[0].shape;
  if (h !== data.test.height || w !== data.test.width || c !== data.test.channels) {
    throw new WashError('WASH_ERR_MODEL', `model in ${dir} takes ${h}x${w}x${c} images; ${dataset} has ${data.test.height}x${data.test.width}x${data.test.channels}`);
  }
  const accuracy = accuracyOf(predictProbabilities(model, data.test, normalization), data.test.labels, data.test.numClasses);
  process.stdout.write(`${JSON.stringify({ model: dir, dataset, testImages: data.test.count, accuracy })}\n`);
  tf.disposeVariables();
  return 0;
}
