import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';

/** One trainable tensor of a member, in the model's stable order. */
export interface ParameterInfo {
  /** `layer/weight`, e.g. `conv1/kernel`, equal in every member and process. */
  name: string;
  layerName: string;
  shape: number[];
  size: number;
  /** Depth of the layer, 0 for the first layer with weights; a batch norm shares the depth of the layer it normalizes. */
  depth: number;
  isBatchNorm: boolean;
}

/** A model's trainable tensors and batch-norm running statistics, with their depth. */
export interface ParameterLayout {
  parameters: ParameterInfo[];
  /** Number of distinct depths (L in the layer-wise shuffle probability). */
  depthCount: number;
  /** Batch-norm moving means and variances, kept apart from the trainable tensors. */
  statistics: Array<{ name: string; shape: number[]; size: number }>;
  totalSize: number;
  /** A digest of names and shapes; members whose models differ have different signatures. */
  signature: string;
}

function isBatchNormLayer(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

function weightName(layerName: string, variableName: string): string {
  // Variable names look like `conv1/kernel` or `conv1/kernel_3` when TF.js made them unique.
  const base = variableName.split('/').pop() ?? variableName;
  return `${layerName}/${base.replace(/_\d+$/, '')}`;
}

/**
 * Depth of the layer that feeds a batch norm. In a functional model the layer
 * list is topological, so another branch's layer (a ResNet shortcut
 * convolution) can come between a convolution and its batch norm.
 */
function normalizedLayerDepth(layer: tf.layers.Layer, depthOfLayer: Map<string, number>, currentDepth: number): number {
  const source = layer.inboundNodes[0]?.inboundLayers[0];
  const sourceDepth = source === undefined ? undefined : depthOfLayer.get(source.name);
  return sourceDepth ?? Math.max(currentDepth, 0);
}

/** Describes a model's parameters in the order of `model.trainableWeights`, which is the layer order. */
export function describeParameters(model: tf.LayersModel): ParameterLayout {
  const parameters: ParameterInfo[] = [];
  const statistics: ParameterLayout['statistics'] = [];
  const depthOfLayer = new Map<string, number>();
  let depth = -1;
  for (const layer of model.layers) {
    if (layer.trainableWeights.length > 0 && !isBatchNormLayer(layer)) depth++;
    const layerDepth = isBatchNormLayer(layer) ? normalizedLayerDepth(layer, depthOfLayer, depth) : Math.max(depth, 0);
    depthOfLayer.set(layer.name, layerDepth);
    for (const weight of layer.trainableWeights) {
      const shape = weight.shape.map((d) => d as number);
      parameters.push({
        name: weightName(layer.name, weight.originalName),
        layerName: layer.name,
        shape,
        size: shape.reduce((a, b) => a * b, 1),
        depth: layerDepth,
        isBatchNorm: isBatchNormLayer(layer),
      });
    }
    for (const weight of layer.nonTrainableWeights) {
      const shape = weight.shape.map((d) => d as number);
      statistics.push({ name: weightName(layer.name, weight.originalName), shape, size: shape.reduce((a, b) => a * b, 1) });
    }
  }
  const hash = createHash('sha256');
  for (const p of parameters) hash.update(`${p.name}:${p.shape.join('x')};`);
  for (const s of statistics) hash.update(`${s.name}:${s.shape.join('x')};`);
  return {
    parameters,
    depthCount: depth + 1,
    statistics,
    totalSize: parameters.reduce((sum, p) => sum + p.size, 0),
    signature: hash.digest('hex').slice(0, 16),
  };
}

/** Returns the model's trainable variables, in the same order as `describeParameters`. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.layers.flatMap((layer) => layer.trainableWeights.map((w) => w.read() as tf.Variable));
}

/** Returns the model's batch-norm moving statistics, in the same order as `describeParameters`. */
export function statisticVariables(model: tf.LayersModel): tf.Variable[] {
  return model.layers.flatMap((layer) => layer.nonTrainableWeights.map((w) => w.read() as tf.Variable));
}

/** Copies every trainable tensor (or statistic) off the device, in layout order. */
export function readValues(variables: tf.Variable[]): Float32Array[] {
  return variables.map((v) => v.dataSync() as Float32Array).map((a) => new Float32Array(a));
}

/** Writes host arrays into the variables, checking each size. */
export function writeValues(variables: tf.Variable[], values: Float32Array[]): void {
  if (values.length !== variables.length) throw new Error(`expected ${variables.length} tensors, got ${values.length}`);
  variables.forEach((v, i) => {
    if (values[i].length !== v.size) throw new Error(`tensor ${v.name}: expected ${v.size} values, got ${values[i].length}`);
    tf.tidy(() => v.assign(tf.tensor(values[i], v.shape, 'float32')));
  });
}
