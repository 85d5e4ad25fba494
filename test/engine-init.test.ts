import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadBackend } from '../shared/backend/backends';
import { buildModel, ModelSpec } from '../shared/model/models';
import { describeParameters, readValues, statisticVariables, trainableVariables } from '../shared/model/parameters';

const execFileAsync = promisify(execFile);

before(async () => {
  await loadBackend('cpu');
});

const SPECS: ModelSpec[] = [
  { name: 'mlp', inputShape: [8, 8, 1], numClasses: 3 },
  { name: 'cnn', inputShape: [8, 8, 1], numClasses: 3 },
  { name: 'resnet20', inputShape: [8, 8, 3], numClasses: 10 },
];

/** Builds a model and returns host copies of its trainable tensors, then its statistics, in layout order. */
function initialValues(spec: ModelSpec, seed: number): Float32Array[] {
  const model = buildModel(spec, seed);
  try {
    return [...readValues(trainableVariables(model)), ...readValues(statisticVariables(model))];
  } finally {
    model.dispose();
  }
}

/** Hashes the raw float32 bytes with SHA-256, in the same order as the child script below. */
function sha256Of(values: Float32Array[]): string {
  const hash = createHash('sha256');
  for (const v of values) hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return hash.digest('hex');
}

/**
 * Builds the model in a fresh Node process on `backend` and returns the
 * SHA-256 it prints. The script loads the compiled modules by absolute path,
 * so it does not depend on the child's working directory.
 */
async function hashInChild(spec: ModelSpec, seed: number, backend: 'cpu' | 'wasm'): Promise<string> {
  const module = (name: string): string => JSON.stringify(path.resolve(__dirname, '..', 'shared', name));
  const script = `
    const { createHash } = require('node:crypto');
    const { loadBackend } = require(${module('backend/backends.js')});
    const { buildModel } = require(${module('model/models.js')});
    const { readValues, statisticVariables, trainableVariables } = require(${module('model/parameters.js')});
    loadBackend(${JSON.stringify(backend)}).then(() => {
      const model = buildModel(${JSON.stringify(spec)}, ${seed});
      const hash = createHash('sha256');
      for (const v of [...readValues(trainableVariables(model)), ...readValues(statisticVariables(model))]) {
        hash.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      }
      process.stdout.write(hash.digest('hex') + '\\n');
    });
  `;
  const { stdout } = await execFileAsync(process.execPath, ['-e', script], { timeout: 30_000 });
  return stdout.trim();
}

describe('buildModel initial weights', () => {
  it('are bit-identical for one seed', () => {
    for (const spec of SPECS) {
      const first = initialValues(spec, 42);
      const second = initialValues(spec, 42);
      assert.equal(second.length, first.length);
      first.forEach((values, i) => {
        assert.ok(Buffer.from(values.buffer).equals(Buffer.from(second[i].buffer)), `${spec.name} tensor ${i}`);
      });
    }
  });

  it('differ for another seed', () => {
    for (const spec of SPECS) {
      const layout = describeParameters(buildModel(spec, 1));
      const first = initialValues(spec, 1);
      const second = initialValues(spec, 2);
      layout.parameters.forEach((p, i) => {
        // Biases start at zero and batch norm at gamma 1, beta 0 whatever the seed, so only kernels must differ.
        if (!p.name.endsWith('/kernel')) return;
        assert.ok(!Buffer.from(first[i].buffer).equals(Buffer.from(second[i].buffer)), `${spec.name} ${p.name}`);
      });
    }
  });

  it('give each kernel its own stream', () => {
    // Every stage-1 convolution of resnet20 is 3x3x16x16, so with one shared seed they would start equal.
    const spec = SPECS[2];
    const layout = describeParameters(buildModel(spec, 1));
    const values = initialValues(spec, 1);
    const hashes = layout.parameters
      .map((p, i) => ({ p, values: values[i] }))
      .filter(({ p }) => /^s1b\d_conv\d\/kernel$/.test(p.name))
      .map(({ values }) => sha256Of([values]));
    assert.equal(hashes.length, 6);
    assert.equal(new Set(hashes).size, 6);
  });

  it('match a child process', async () => {
    for (const spec of SPECS) {
      const expected = sha256Of(initialValues(spec, 7));
      assert.equal(await hashInChild(spec, 7, 'cpu'), expected, spec.name);
    }
  });

  it('match a child on wasm', async () => {
    // TF.js 4.22 draws seeded truncatedNormal and randomUniform values in JavaScript, so the backend must not change them.
    for (const spec of SPECS) {
      const expected = sha256Of(initialValues(spec, 7));
      assert.equal(await hashInChild(spec, 7, 'wasm'), expected, spec.name);
    }
  });

  it('differ in a child for another seed', async () => {
    const spec = SPECS[0];
    assert.notEqual(await hashInChild(spec, 8, 'cpu'), sha256Of(initialValues(spec, 7)));
  });
});
