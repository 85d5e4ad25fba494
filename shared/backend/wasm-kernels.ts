import * as tf from '@tensorflow/tfjs';
import { WashError } from '../errors';
import { withTransposedOperandsCopied } from './batch-matmul';
import { withFewerKernelsBatchNormGradient } from './batch-norm-grad';
import { withConvolutionBackpropInput } from './conv2d-backprop-input';
import { conv2DBackpropFilterWasm } from './conv2d-backprop-filter';
import { withSharedIdentity } from './identity';
import { withWindowScanMaxPoolGrad } from './max-pool-grad';
import { withMiddleAxesReduction } from './middle-axes-reduction';
import { withBlockCopyTile } from './tile';

/**
 * Wrappers around wasm kernels, by kernel name. Each wrapper handles the cases
 * it is faster at and hands every other call to the original kernel.
 */
const KERNEL_WRAPPERS: ReadonlyArray<[string, (original: tf.KernelFunc) => tf.KernelFunc]> = [
  [tf.BatchMatMul, withTransposedOperandsCopied],
  [tf._FusedMatMul, withTransposedOperandsCopied],
  [tf.Conv2DBackpropInput, withConvolutionBackpropInput],
  [tf.Identity, withSharedIdentity],
  [tf.MaxPoolGrad, withWindowScanMaxPoolGrad],
  [tf.Sum, (original) => withMiddleAxesReduction(original, 'sum')],
  [tf.Mean, (original) => withMiddleAxesReduction(original, 'mean')],
  [tf.Tile, withBlockCopyTile],
];

/** Wrappers this module registered, so a second call can recognise its own work. */
const installedWrappers = new WeakSet<tf.KernelFunc>();
const installedGradients = new WeakSet<tf.GradConfig>();

/**
 * Registers the wasm kernels that training needs and tfjs-backend-wasm 4.22
 * lacks (Conv2DBackpropFilter), and wraps those that it runs slowly for the
 * shapes of training (the kernels in KERNEL_WRAPPERS). Only the 'wasm'
 * registrations change, and the kernels of every other backend stay as they
 * are. The batch-norm gradient is replaced for every backend, but it runs the
 * original on any backend other than wasm.
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

  for (const [kernelName, wrap] of KERNEL_WRAPPERS) {
    wrapKernel(kernelName, wrap);
  }

  // The gradient registry has no per-backend entries, so this wrapper checks the backend on each call.
  const batchNormGradient = tf.getGradient(tf.FusedBatchNorm);
  if (batchNormGradient !== undefined && !installedGradients.has(batchNormGradient)) {
    const wrapped = withFewerKernelsBatchNormGradient(batchNormGradient);
    installedGradients.add(wrapped);
    tf.registerGradient(wrapped);
  }
}

function wrapKernel(kernelName: string, wrap: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(kernelName, 'wasm');
  if (original === undefined) {
    throw new WashError('WASH_ERR_BACKEND', `kernel '${kernelName}' is not registered for backend 'wasm'. Install @tensorflow/tfjs-backend-wasm 4.22, the version this code was written for`);
  }
  if (installedWrappers.has(original.kernelFunc)) return;

  const wrapper = wrap(original.kernelFunc);
  installedWrappers.add(wrapper);
  // Registering over an existing kernel only logs a warning, but unregistering
  // first keeps the log clean. The setupFunc stays, because the engine runs it
  // when the backend is first selected, to bind the C++ function that the
  // original kernelFunc calls.
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...original, kernelFunc: wrapper });
}
