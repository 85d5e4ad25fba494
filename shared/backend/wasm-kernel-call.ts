import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { WashError } from '../errors';

/**
 * Runs a kernel that the wasm backend registered, outside the engine, so the
 * result is a bare TensorInfo: no tensor is created, no gradient is recorded,
 * and the caller frees the result with `backend.disposeData`.
 */
export function runWasmKernel(
  kernelName: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (kernel === undefined) {
    throw new WashError('WASH_ERR_BACKEND', `kernel '${kernelName}' is not registered for backend 'wasm'. Require '@tensorflow/tfjs-backend-wasm' first`);
  }
  const result = kernel.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(result)) {
    throw new WashError('WASH_ERR_BACKEND', `wasm kernel '${kernelName}' returned ${result.length} outputs, expected 1`);
  }
  return result;
}

/**
 * Intermediate results of a composed kernel. Each one added here is freed by
 * `dispose`, which the composed kernel calls in `finally`, so neither a
 * success nor a thrown error leaves wasm memory behind.
 */
export class TemporaryTensors {
  readonly #backend: BackendWasm;
  readonly #infos: tf.TensorInfo[] = [];

  constructor(backend: BackendWasm) {
    this.#backend = backend;
  }

  /** Records `info` for disposal and returns it, so a kernel call can be wrapped in place. */
  add(info: tf.TensorInfo): tf.TensorInfo {
    this.#infos.push(info);
    return info;
  }

  /** Frees every recorded intermediate. A second call frees nothing. */
  dispose(): void {
    for (const info of this.#infos.splice(0)) {
      this.#backend.disposeData(info.dataId);
    }
  }
}

/** Returns the permutation that swaps the last two axes of a tensor of rank `rank`. */
export function swapLastTwoAxes(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, axis) => axis);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}
