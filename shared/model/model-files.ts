import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { WashError } from '../errors';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

/** A TF.js IOHandler that saves to and loads from a folder: `model.json` plus `weights.bin`, the TF.js layers format. */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    save: (artifacts) => saveArtifacts(dir, artifacts),
    load: () => loadArtifacts(dir),
  };
}

/**
 * Writes the artifacts into a sibling temporary folder, then renames it into
 * place, so a reader never sees half a model and an interrupted save leaves the
 * previous one intact.
 */
async function saveArtifacts(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new WashError('WASH_ERR_MODEL', 'saving a graph model is not supported; only layers models are');
  }
  const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : new tf.io.CompositeArrayBuffer(artifacts.weightData).slice();
  const manifest: tf.io.WeightsManifestConfig = [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }];
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology ?? {},
    format: artifacts.format ?? 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: manifest,
  };
  if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
  if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;

  const parent = path.dirname(path.resolve(dir));
  await fs.mkdir(parent, { recursive: true });
  const staging = await fs.mkdtemp(path.join(parent, `.${path.basename(dir)}.saving-`));
  try {
    await fs.writeFile(path.join(staging, WEIGHTS_BIN), new Uint8Array(weightData));
    await fs.writeFile(path.join(staging, MODEL_JSON), JSON.stringify(modelJson));
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
  } catch (error) {
    await fs.rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function loadArtifacts(dir: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = path.join(dir, MODEL_JSON);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new WashError('WASH_ERR_MODEL', `cannot read ${jsonPath}: ${reason}; expected a TF.js layers model folder (model.json and weights)`, { cause: error });
  }
  if (!modelJson || typeof modelJson !== 'object' || !modelJson.modelTopology || !Array.isArray(modelJson.weightsManifest)) {
    throw new WashError('WASH_ERR_MODEL', `${jsonPath} is not a TF.js layers model: expected modelTopology and weightsManifest`);
  }
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const relative of group.paths) {
        const file = path.join(dir, relative);
        const bytes = await fs.readFile(file).catch((error: unknown) => {
          throw new WashError('WASH_ERR_MODEL', `cannot read weights file ${file} named in ${jsonPath}: ${(error as Error).message}`);
        });
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      }
    }
    const data = tf.io.concatenateArrayBuffers(buffers);
    const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
    if (data.byteLength !== expected) {
      throw new WashError('WASH_ERR_MODEL', `weights in ${dir} have ${data.byteLength} bytes; model.json describes ${expected}`);
    }
    return [specs, data];
  });
}

/** Saves a layers model to a folder atomically. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileHandler(dir));
}

/** Loads a layers model saved by `saveModel` (or any TF.js layers model folder with float32 weights). */
export async function loadModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileHandler(dir));
}
