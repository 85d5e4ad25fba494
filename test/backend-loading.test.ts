import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const BACKENDS = path.join(__dirname, '../shared/backend/backends.js');

/** Loads a backend in a fresh process, since a process keeps the first backend it loads; returns its report as JSON. */
function loadInChild(choice: string): { ok: boolean; name?: string; skipped?: Array<{ name: string; reason: string }>; code?: string; message?: string } {
  const script = `
    require(${JSON.stringify(BACKENDS)}).loadBackend(${JSON.stringify(choice)}).then(
      (info) => process.stdout.write(JSON.stringify({ ok: true, name: info.name, skipped: info.skipped })),
      (error) => process.stdout.write(JSON.stringify({ ok: false, code: error.code, message: error.message })));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const nativeMissing = !installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node');

test('auto falls back to wasm and says why', { skip: nativeMissing ? false : 'a native TF.js package is installed here' }, () => {
  const result = loadInChild('auto');
  assert.equal(result.ok, true);
  assert.equal(result.name, 'wasm');
  assert.deepEqual(result.skipped?.map((s) => s.name), ['tensorflow-gpu', 'tensorflow']);
  assert.match(result.skipped?.[0].reason ?? '', /@tensorflow\/tfjs-node-gpu is not installed/);
});

test('named backend that cannot load is an error', { skip: nativeMissing ? false : 'a native TF.js package is installed here' }, () => {
  const result = loadInChild('tensorflow-gpu');
  assert.equal(result.ok, false);
  assert.equal(result.code, 'WASH_ERR_BACKEND');
  assert.match(result.message ?? '', /backend tensorflow-gpu failed to load: @tensorflow\/tfjs-node-gpu is not installed/);
});

test('unknown backend name is a usage error', () => {
  const result = loadInChild('tpu');
  assert.equal(result.code, 'WASH_ERR_USAGE');
  assert.match(result.message ?? '', /invalid --backend "tpu"/);
});

test('cpu backend loads by name', () => {
  assert.deepEqual(loadInChild('cpu'), { ok: true, name: 'cpu', skipped: [] });
});
