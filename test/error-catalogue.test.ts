import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { codeForCloseCode, ERRORS, ErrorCode, WashError } from '../shared/errors';

const docs = readFileSync(path.join(__dirname, '../../docs/errors.md'), 'utf8');

test('docs list every error code with its close code', () => {
  for (const [code, entry] of Object.entries(ERRORS)) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.equal(row, `| \`${code}\` | ${entry.closeCode || '-'} | ${entry.summary} |`);
  }
});

test('docs list no code the catalogue lacks', () => {
  const documented = [...docs.matchAll(/^\| `(WASH_ERR_\w+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ERRORS).sort());
});

test('close codes are unique and map back to their error', () => {
  const closeCodes = Object.values(ERRORS).map((e) => e.closeCode).filter((c) => c !== 0);
  assert.equal(new Set(closeCodes).size, closeCodes.length);
  for (const [code, entry] of Object.entries(ERRORS)) {
    if (entry.closeCode !== 0) assert.equal(codeForCloseCode(entry.closeCode), code);
    assert.equal(new WashError(code as ErrorCode, 'x').closeCode, entry.closeCode || 1011);
  }
});
