import * as tf from '@tensorflow/tfjs';
import { WashError } from '../errors';
import { withTransposedOperandsCopied } from './batch-matmul';
import { conv2DBackpropFilterWasm } from './conv2d-backprop-filter';

/** Kernels whose wasm versions get transposed operands copied before the product. */
const MATMUL_KERNELS = [tf.BatchMatMul, tf._FusedMatMul];

/** Wrappers this module registered, so a second call can recognise its own work. */
const installedWrappers = new WeakSet<tf.KernelFunc>();

/**
 * Registers the wasm kernels that training needs and tfjs-backend-wasm 4.22
 * lacks (Conv2DBackpropFilter) or runs slowly (BatchMatMul and _FusedMatMul
 * with a transposed operand). Only the 'wasm' registrations change, and the
 * kernels of every other backend stay as they are.
 *
 * Loads '@tensorflow/tfjs-backend-wasm' if nothing has yet, which registers the
 * 'wasm' backend without selecting it. Safe to call more than once, and before
 * or after `tf.setBackend('wasm')`. A wasm Conv2DBackpropFilter that some later
 * tfjs version registers is kept in place of this one.
 */
export function registerWasmTrainingKernels(): void {
  // Loaded here, not at the top of the file, so processes on another backend never load wasm.
  require('@tensorflow/tfjs-backend-wasm');

  if (tf.getKernel(tf.Conv2DBackpropFilter, 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: tf.Conv2DBackpropFilter,
      backendName: 'wasm',
      kernelFunc: conv2DBackpropFilterWasm,
    });
  }

  for (const kernelName of MATMUL_KERNELS) {
    wrapMatMulKernel(kernelName);
  }
}

function wrapMatMulKernel(kernelName: string): void {
  const original = tf.getKernel(kernelName, 'wasm');
  if (original === undefined) {
    throw new WashError('WASH_ERR_BACKEND', `kernel '${kernelName}' is not registered for backend 'wasm'. Install @tensorflow/tfjs-backend-wasm 4.22, the version this code was written for`);
  }
  if (installedWrappers.has(original.kernelFunc)) return;

  const wrapper = withTransposedOperandsCopied(original.kernelFunc);
  installedWrappers.add(wrapper);
  // Registering over an existing kernel only logs a warning, but unregistering
  // first keeps the log clean. The setupFunc stays, because the engine runs it
  // when the backend is first selected, to bind the C++ function that the
  // original kernelFunc calls.
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: wrapper });
}
