import * as tf from '@tensorflow/tfjs';

/**
 * Reads and writes chosen coordinates of variables without copying the whole
 * tensor off the device: a gather for reading and a scatter for writing.
 * Indices are flat (row-major) positions inside one tensor.
 */
export function gatherCoordinates(variable: tf.Variable, indices: Int32Array): Float32Array {
  if (indices.length === 0) return new Float32Array(0);
  const values = tf.tidy(() => tf.gather(variable.reshape([-1]), tf.tensor1d(indices, 'int32')));
  const host = values.dataSync() as Float32Array;
  values.dispose();
  return new Float32Array(host);
}

export function scatterCoordinates(variable: tf.Variable, indices: Int32Array, values: Float32Array): void {
  if (indices.length !== values.length) {
    throw new Error(`scatter into ${variable.name}: ${indices.length} indices but ${values.length} values`);
  }
  if (indices.length === 0) return;
  tf.tidy(() => {
    const flat = variable.reshape([-1]);
    const updated = tf.tensorScatterUpdate(flat, tf.tensor2d(indices, [indices.length, 1], 'int32'), tf.tensor1d(values, 'float32'));
    variable.assign(updated.reshape(variable.shape));
  });
}
