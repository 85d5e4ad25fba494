import * as tf from '@tensorflow/tfjs';
import { WashError } from '../errors';
import { Logger, silentLogger } from '../log';
import { registerWasmTrainingKernels } from './wasm-kernels';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type LoadedBackend = Exclude<BackendChoice, 'auto'>;

export interface BackendInfo {
  /** The backend that loaded. */
  name: LoadedBackend;
  /** TF.js's own name for it (`tensorflow` for both native packages). */
  tfName: string;
  /** Backends that `auto` tried and skipped, in order, each with the reason. */
  skipped: Array<{ name: LoadedBackend; reason: string }>;
  /** For the GPU package: whether TensorFlow placed work on a GPU. */
  usingGpu?: boolean;
}

const AUTO_ORDER: LoadedBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

let loaded: BackendInfo | undefined;

/**
 * Loads a TF.js backend once per process. `auto` tries the native GPU package,
 * the native CPU package, wasm and the pure JS cpu backend in that order and
 * logs why each earlier one was skipped. A named backend that cannot load is an
 * error, never a silent fallback.
 */
export async function loadBackend(choice: BackendChoice, log: Logger = silentLogger): Promise<BackendInfo> {
  if (loaded) {
    if (choice !== 'auto' && choice !== loaded.name) {
      throw new WashError('WASH_ERR_BACKEND', `backend ${loaded.name} is already loaded in this process; cannot switch to ${choice}`);
    }
    return loaded;
  }
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new WashError('WASH_ERR_USAGE', `invalid --backend "${choice}": expected one of ${BACKEND_CHOICES.join(', ')}`);
  }
  const candidates = choice === 'auto' ? AUTO_ORDER : [choice];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of candidates) {
    try {
      const info = await tryLoad(name);
      info.skipped = skipped;
      loaded = info;
      log.info({ backend: name, skipped, usingGpu: info.usingGpu }, 'loaded tensorflow.js backend');
      return info;
    } catch (error) {
      const reason = describeLoadFailure(name, error);
      if (choice !== 'auto') throw new WashError('WASH_ERR_BACKEND', `backend ${name} failed to load: ${reason}`, { cause: error });
      skipped.push({ name, reason });
      log.debug({ backend: name, reason }, 'skipped tensorflow.js backend');
    }
  }
  throw new WashError('WASH_ERR_BACKEND', `no backend could load: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

async function tryLoad(name: LoadedBackend): Promise<BackendInfo> {
  if (name === 'tensorflow-gpu' || name === 'tensorflow') {
    const packageName = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    // The native packages register the `tensorflow` backend on the shared tfjs-core when required.
    require(packageName);
    await setBackendOrThrow('tensorflow');
    const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
    if (name === 'tensorflow-gpu' && backend.isUsingGpuDevice === false) {
      throw new Error('libtensorflow loaded but found no usable GPU (check CUDA_VISIBLE_DEVICES and the NVIDIA driver)');
    }
    return { name, tfName: 'tensorflow', skipped: [], usingGpu: backend.isUsingGpuDevice };
  }
  if (name === 'wasm') {
    require('@tensorflow/tfjs-backend-wasm');
    registerWasmTrainingKernels();
    await setBackendOrThrow('wasm');
    return { name, tfName: 'wasm', skipped: [] };
  }
  await setBackendOrThrow('cpu');
  return { name, tfName: 'cpu', skipped: [] };
}

async function setBackendOrThrow(tfName: string): Promise<void> {
  // Production mode skips per-op debug checks and the cpu backend's banner that recommends tfjs-node.
  tf.enableProdMode();
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') returned false`);
  await tf.ready();
}

function describeLoadFailure(name: LoadedBackend, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/Cannot find module '@tensorflow\/tfjs-node/.test(message)) {
    const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    return `${pkg} is not installed (its install step downloads libtensorflow; run npm install with internet access)`;
  }
  const library = /(lib[\w+-]+\.so(?:\.[\d.]+)?)/.exec(message);
  if (library) {
    return `shared library ${library[1]} could not be loaded (${name === 'tensorflow-gpu' ? 'install CUDA 11.2+ and cuDNN 8 and add them to LD_LIBRARY_PATH' : 'reinstall the package'}): ${message.split('\n')[0]}`;
  }
  return message.split('\n')[0];
}
