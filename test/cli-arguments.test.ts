import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWashError } from '../shared/errors';
import { main } from '../cli/wash';

/** Runs `wash ARGS` in process and returns the usage error it rejects with. */
async function usageError(args: string[]): Promise<string> {
  try {
    await main(args);
  } catch (error) {
    assert.ok(isWashError(error), `wash ${args.join(' ')} rejects with a WashError`);
    assert.equal(error.code, 'WASH_ERR_USAGE');
    return error.message;
  }
  assert.fail(`wash ${args.join(' ')} should have been rejected`);
}

describe('wash command line', () => {
  it('names an unknown flag followed by a value', async () => {
    assert.match(await usageError(['run', '--bogus', '1']), /unknown flag --bogus for "wash run"/);
  });

  it('names a stray argument', async () => {
    assert.match(await usageError(['run', '--members', '2', 'extra']), /unexpected argument "extra" for "wash run"/);
  });

  it('names a flag without its value', async () => {
    assert.match(await usageError(['worker', '--coordinator']), /flag --coordinator needs a value/);
  });
});
