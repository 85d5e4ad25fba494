import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runWasmKernel, swapLastTwoAxes, TemporaryTensors } from './wasm-kernel-call';

/**
 * Wraps the wasm kernel of BatchMatMul or _FusedMatMul so that a transposed
 * operand is first copied into row-major order with the wasm Transpose kernel
 * and the product runs with both transpose flags false.
 *
 * tfjs-backend-wasm 4.22 hands a product to XNNPACK only when neither operand is
 * transposed and both have a batch size of 1. Every other product runs in a
 * plain blocked loop, which bench/kernel-bench.ts measured 13 times slower at
 * 128x784 by 784x256 (2.3 against 30 GFLOP/s, one core of a 2-core AMD EPYC). The
 * dense-layer gradients, x^T dy and dy w^T, are exactly such transposed products.
 * Batched products (batch size > 1) gain nothing from the copy, because they
 * run in the loop either way, so they go to `original` unchanged, as do
 * non-float32 operands, which `original` rejects with its own message.
 */
export function withTransposedOperandsCopied(original: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs = {} }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
    if (!reachesXnnpackOnceCopied(a, b, transposeA, transposeB)) {
      return original({ inputs, backend, attrs });
    }

    const wasm = backend as BackendWasm;
    const temporaries = new TemporaryTensors(wasm);
    try {
      const rowMajorA = transposeA ? temporaries.add(transposeLastTwoAxes(a, wasm)) : a;
      const rowMajorB = transposeB ? temporaries.add(transposeLastTwoAxes(b, wasm)) : b;
      return original({
        inputs: { ...inputs, a: rowMajorA, b: rowMajorB },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      temporaries.dispose();
    }
  };
}

function reachesXnnpackOnceCopied(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  if (!transposeA && !transposeB) return false;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  return batchSize(a) === 1 && batchSize(b) === 1;
}

function batchSize(info: tf.TensorInfo): number {
  return tf.util.sizeFromShape(info.shape.slice(0, -2));
}

function transposeLastTwoAxes(info: tf.TensorInfo, backend: BackendWasm): tf.TensorInfo {
  return runWasmKernel('Transpose', backend, { x: info }, { perm: swapLastTwoAxes(info.shape.length) });
}
