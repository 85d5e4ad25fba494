import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

/** Switches the process to a backend, failing the test when it cannot; kernel tests move between cpu and wasm. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  assert.equal(await tf.setBackend(name), true, `tf.setBackend('${name}')`);
  await tf.ready();
}
