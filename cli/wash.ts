#!/usr/bin/env node
import { ERRORS, isWashError, WashError } from '../shared/errors';
import { flagHelp, FlagSpecs, parseFlags } from './flags';
import { COMPOSE_FLAGS, composeCommand } from './commands/compose-command';
import { COMPARE_FLAGS, compareCommand } from './commands/compare-command';
import { COORDINATOR_FLAGS, coordinatorCommand } from './commands/coordinator-command';
import { EVAL_FLAGS, evalCommand } from './commands/eval-command';
import { RUN_COMMAND_FLAGS, runCommand } from './commands/run-command';
import { STATUS_FLAGS, statusCommand } from './commands/status-command';
import { SWEEP_FLAGS, sweepCommand } from './commands/sweep-command';
import { WORKER_FLAGS, workerCommand } from './commands/worker-command';

interface Command {
  summary: string;
  usage: string;
  flags: FlagSpecs;
  run: (args: string[]) => Promise<number>;
}

/** Every subcommand; `commands` also lets tests check compose files and docs against the real flags. */
export const COMMANDS: Record<string, Command> = {
  run: { summary: 'train an ensemble with local worker processes and print the results', usage: 'wash run [flags]', flags: RUN_COMMAND_FLAGS, run: runCommand },
  coordinator: { summary: 'start a coordinator that waits for workers', usage: 'wash coordinator --listen HOST:PORT --members N [flags]', flags: COORDINATOR_FLAGS, run: coordinatorCommand },
  worker: { summary: 'join a run as one member', usage: 'wash worker --coordinator ws://HOST:PORT [--listen HOST:PORT] [--advertise ws://HOST:PORT]', flags: WORKER_FLAGS, run: workerCommand },
  status: { summary: 'print a running coordinator\'s progress', usage: 'wash status --coordinator ws://HOST:PORT', flags: STATUS_FLAGS, run: statusCommand },
  compose: { summary: 'write a docker-compose.yml with a coordinator and one worker per GPU', usage: 'wash compose [--gpus 0,1,2,3] [--output FILE] [run flags]', flags: COMPOSE_FLAGS, run: composeCommand },
  eval: { summary: 'evaluate a saved model on a data set', usage: 'wash eval DIR [--dataset NAME] [--data DIR]', flags: EVAL_FLAGS, run: evalCommand },
  compare: { summary: 'run several methods with the same seeds, data and model and write a report with tables and plots', usage: 'wash compare [flags] --methods M1,M2 [--init shared,separate] [--seeds 0,1,2] [--out DIR]', flags: COMPARE_FLAGS, run: compareCommand },
  sweep: { summary: 'run WASH for several shuffle probabilities p and write a report with tables and plots', usage: 'wash sweep [flags] --p 0.001,0.01,0.1 [--seeds 0,1] [--out DIR]', flags: SWEEP_FLAGS, run: sweepCommand },
};

/** Reports whether `arg` is a flag that consumes the next argument as its value. */
function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'wash: train an ensemble with WASH weight shuffling, then average it into one model',
    '',
    'usage: wash COMMAND [flags]   (wash COMMAND --help for its flags)',
    '',
    ...names.map((name) => `  ${name.padEnd(width)}  ${COMMANDS[name].summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`wash: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n\nflags:\n${flagHelp(command.flags)}\n`);
    return 0;
  }
  if (name !== 'eval' && name !== 'compose') {
    // Parsing here reports an unknown flag by its name before the value after it could pass for a stray argument.
    const [stray] = parseFlags(args, command.flags, name).positionals;
    if (stray !== undefined) throw new WashError('WASH_ERR_USAGE', `unexpected argument "${stray}" for "wash ${name}": flags start with --; run "wash ${name} --help" for the list`);
  }
  return command.run(args);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (isWashError(error)) {
        process.stderr.write(`wash: ${error.message} [${error.code}: ${ERRORS[error.code].summary}]\n`);
        process.exitCode = error.code === 'WASH_ERR_USAGE' || error.code === 'WASH_ERR_CONFIG' ? 2 : 1;
      } else {
        process.stderr.write(`wash: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
