import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isWashError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { RunSummary } from '../../coordinator/summary';
import { FlagSpecs, parseFlags } from '../flags';
import { runLocal } from '../local-run';
import { formatSummary } from '../results-table';
import { configFromFlags, RUN_FLAGS } from '../run-flags';

export const RUN_COMMAND_FLAGS: FlagSpecs = {
  ...RUN_FLAGS,
  out: { type: 'string', placeholder: 'DIR', default: 'runs', help: 'folder that receives one folder per run' },
  progress: { type: 'string', choices: ['auto', 'tty', 'log'], default: 'auto', help: 'auto: a live table on a terminal, plain log lines otherwise' },
};

/** `wash run`: a coordinator and N local worker processes on loopback. */
export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, RUN_COMMAND_FLAGS, 'run');
  const config = configFromFlags(values);
  let progress = values.progress as 'auto' | 'tty' | 'log';
  if (progress === 'auto') progress = process.stdout.isTTY ? 'tty' : 'log';
  const log = createLogger('wash', progress === 'tty' ? (process.env.WASH_LOG_LEVEL ?? 'warn') : undefined);
  const out = values.out as string;
  try {
    const { summary, runDir } = await runLocal({ config, out, log, progress });
    process.stdout.write(`${formatSummary(summary, runDir)}\n`);
    return 0;
  } catch (error) {
    const runDir = path.resolve(out, config.runId);
    const summary = await fs.readFile(path.join(runDir, 'summary.json'), 'utf8').then((text) => JSON.parse(text) as RunSummary).catch(() => undefined);
    if (summary) process.stdout.write(`${formatSummary(summary, runDir)}\n`);
    if (isWashError(error) && summary?.status === 'interrupted') return 130;
    throw error;
  }
}
