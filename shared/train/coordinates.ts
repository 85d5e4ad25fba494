import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Reads and writes chosen coordinates of variables without copying the whole
 * tensor off the device. Indices are flat (row-major) positions inside one
 * tensor. On the wasm and cpu backends a variable's values already live in
 * host memory, so the coordinates are read and written there directly: a
 * gather or scatter kernel would cost more in dispatch than the copy itself.
 * Other backends (tfjs-node, GPU) use a gather kernel for reading and a
 * scatter kernel for writing.
 */
export function gatherCoordinates(variable: tf.Variable, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length);
  if (indices.length === 0) return out;
  const storage = hostStorage(variable);
  if (storage) {
    const { values } = storage;
    for (let k = 0; k < indices.length; k++) out[k] = values[checkedIndex(variable, indices[k], values.length)];
    return out;
  }
  const gathered = tf.tidy(() => tf.gather(variable.reshape([-1]), tf.tensor1d(indices, 'int32')));
  out.set(gathered.dataSync() as Float32Array);
  gathered.dispose();
  return out;
}

export function scatterCoordinates(variable: tf.Variable, indices: Int32Array, values: Float32Array): void {
  if (indices.length !== values.length) {
    throw new Error(`scatter into ${variable.name}: ${indices.length} indices but ${values.length} values`);
  }
  if (indices.length === 0) return;
  const storage = hostStorage(variable);
  if (storage) {
    const current = storage.values;
    for (let k = 0; k < indices.length; k++) checkedIndex(variable, indices[k], current.length);
    // Data that another tensor also refers to is never written in place, so the variable gets its own copy first.
    // The cpu backend's scatter kernel is no substitute, because in tfjs 4.22 it writes into its input's buffer.
    const target = storage.shared ? current.slice() : current;
    for (let k = 0; k < indices.length; k++) target[indices[k]] = values[k];
    if (storage.shared) {
      const copy = tf.tensor(target, variable.shape, 'float32');
      variable.assign(copy);
      copy.dispose();
    }
    return;
  }
  tf.tidy(() => {
    const flat = variable.reshape([-1]);
    const updated = tf.tensorScatterUpdate(flat, tf.tensor2d(indices, [indices.length, 1], 'int32'), tf.tensor1d(values, 'float32'));
    variable.assign(updated.reshape(variable.shape));
  });
}

interface HostStorage {
  /** A view of the variable's values, valid only until the backend allocates again. */
  values: Float32Array;
  /** True when another tensor refers to the same data. */
  shared: boolean;
}

function hostStorage(variable: tf.Variable): HostStorage | undefined {
  if (variable.dtype !== 'float32') return undefined;
  const name = tf.getBackend();
  if (name === 'wasm') {
    const wasm = tf.backend() as BackendWasm;
    if (!wasm.dataIdMap.has(variable.dataId)) return undefined;
    return { values: wasm.typedArrayFromHeap(variable) as Float32Array, shared: wasm.refCount(variable.dataId) > 1 };
  }
  if (name === 'cpu') {
    const cpu = tf.backend() as MathBackendCPU;
    const data = cpu.data.has(variable.dataId) ? cpu.data.get(variable.dataId) : undefined;
    if (!(data?.values instanceof Float32Array) || data.values.length !== variable.size) return undefined;
    return { values: data.values, shared: cpu.refCount(variable.dataId) > 1 };
  }
  return undefined;
}

function checkedIndex(variable: tf.Variable, index: number, size: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`coordinate ${index} is outside ${variable.name}, which has ${size} values`);
  }
  return index;
}
