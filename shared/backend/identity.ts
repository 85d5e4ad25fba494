import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Wraps the wasm kernel of Identity so that the output shares the input's data
 * instead of copying it.
 *
 * tfjs-core 4.22 clones, through Identity, every tensor that a gradient saves
 * for the backward pass. The wasm Identity of tfjs-backend-wasm 4.22 copies
 * the whole buffer each time, which took 16 to 28 ms over the 77 calls of a
 * cnn training step at batch size 128 (tf.profile, one core of a 2-core AMD
 * EPYC). The cpu backend's Identity and the wasm Reshape kernel already share
 * the input's buffer. Sharing is safe because no wasm kernel writes into its
 * inputs, and the backend counts references to the buffer and frees it with
 * the last tensor. String tensors, which live outside the heap, go to `original`.
 */
export function withSharedIdentity(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original({ inputs, backend, attrs });

    (backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}
