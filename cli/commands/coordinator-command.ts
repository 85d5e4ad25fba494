import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Coordinator } from '../../coordinator/coordinator';
import { WashError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { FlagSpecs, parseFlags, parseHostPort } from '../flags';
import { formatSummary } from '../results-table';
import { configFromFlags, RUN_FLAGS } from '../run-flags';

export const COORDINATOR_FLAGS: FlagSpecs = {
  ...RUN_FLAGS,
  listen: { type: 'string', placeholder: 'HOST:PORT', default: '127.0.0.1:7070', help: 'HOST:PORT the coordinator binds; 0.0.0.0:PORT accepts workers from other hosts' },
  token: { type: 'string', placeholder: 'TOKEN', default: '', help: 'run token every socket must present (default: $WASH_TOKEN, or a new random token that is printed)' },
  out: { type: 'string', placeholder: 'DIR', default: 'runs', help: 'folder that receives one folder per run' },
  'run-id': { type: 'string', placeholder: 'NAME', default: '', help: 'name of the run folder (default: time stamp and random suffix)' },
};

/** `wash coordinator`: waits for workers started by hand or by a scheduler, on this host or others. */
export async function coordinatorCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, COORDINATOR_FLAGS, 'coordinator');
  const runId = values['run-id'] as string;
  if (runId && !/^[\w.-]{1,100}$/.test(runId)) throw new WashError('WASH_ERR_USAGE', `invalid --run-id "${runId}": expected letters, digits, dot, dash or underscore`);
  const config = configFromFlags(values, runId ? { runId } : {});
  const { host, port } = parseHostPort('listen', values.listen as string);
  let token = (values.token as string) || process.env.WASH_TOKEN || '';
  const log = createLogger('wash-coordinator');
  if (!token) {
    token = randomBytes(24).toString('hex');
    process.stdout.write(`run token (give it to every worker as WASH_TOKEN): ${token}\n`);
  }
  const runDir = path.resolve(values.out as string, config.runId);
  const coordinator = new Coordinator({ config, token, listenHost: host, listenPort: port, runDir, log });
  const onSignal = (signal: NodeJS.Signals): void => coordinator.fail(new WashError('WASH_ERR_ABORTED', `coordinator interrupted by ${signal}`), 'interrupted');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const boundPort = await coordinator.start();
  process.stdout.write(`coordinator listening on ws://${host}:${boundPort} for ${config.members} workers; run folder ${runDir}\n`);
  try {
    const summary = await coordinator.done;
    process.stdout.write(`${formatSummary(summary, runDir)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof WashError && /interrupted/.test(error.message)) return 130;
    throw error;
  }
}
