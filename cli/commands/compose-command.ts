import * as path from 'node:path';
import { writeFileAtomic } from '../../coordinator/run-folder';
import { BACKEND_CHOICES, BackendChoice } from '../../shared/backend/backends';
import { WashError } from '../../shared/errors';
import { checkComposeOptions, composeYaml, ComposeOptions, DEFAULT_COMPOSE_OPTIONS } from '../compose-file';
import { FlagSpecs, FlagValues, parseFlags } from '../flags';
import { configFromFlags, RUN_FLAGS } from '../run-flags';
import { COORDINATOR_FLAGS } from './coordinator-command';

const defaults = DEFAULT_COMPOSE_OPTIONS;

/** Flags of `wash compose` that shape the file itself rather than the run. */
const FILE_FLAGS: FlagSpecs = {
  gpus: { type: 'string', default: defaults.gpus.join(','), help: 'comma-separated GPU indices or UUIDs; one worker service per GPU, so also the number of members' },
  output: { type: 'string', placeholder: 'FILE', default: 'docker-compose.yml', help: 'file to write, replaced atomically; - writes to standard output' },
  image: { type: 'string', default: defaults.image, help: 'tag of the image every service builds from the Dockerfile and runs' },
  port: { type: 'int', default: defaults.port, help: 'coordinator port inside the compose network and on the host' },
  publish: { type: 'string', default: defaults.publishAddress, help: 'host address the coordinator port is published on; 0.0.0.0 lets other hosts reach it' },
  'worker-backend': { type: 'string', choices: BACKEND_CHOICES, default: defaults.workerBackend, help: 'TensorFlow.js backend of every worker' },
  'connect-timeout': { type: 'number', default: defaults.connectTimeoutSeconds, help: 'seconds each worker keeps retrying the coordinator before it gives up' },
};

/** Run flags passed through to the coordinator's command. `--members` is left out because it follows from `--gpus`. */
const RUN_FLAGS_PASSED: FlagSpecs = {
  ...Object.fromEntries(Object.entries(RUN_FLAGS).filter(([name]) => name !== 'members')),
  backend: { ...RUN_FLAGS.backend, default: defaults.coordinatorBackend, help: 'TensorFlow.js backend of the coordinator, which has no GPU and evaluates the averaged model' },
  'run-id': COORDINATOR_FLAGS['run-id'],
};

export const COMPOSE_FLAGS: FlagSpecs = { ...FILE_FLAGS, ...RUN_FLAGS_PASSED };

/** Turns the run flags that differ from their defaults back into arguments, in flag-table order, so equal runs give equal files. */
function runArgsFromValues(values: FlagValues): string[] {
  const args: string[] = [];
  for (const [name, spec] of Object.entries(RUN_FLAGS_PASSED)) {
    const value = values[name];
    if (name === 'backend' || value === undefined || value === spec.default) continue;
    if (spec.type === 'bool') args.push(value ? `--${name}` : `--no-${name}`);
    else args.push(`--${name}`, String(value));
  }
  return args;
}

/** Builds the file's options from parsed flags and checks the run they describe as the coordinator would. */
export function composeOptionsFromFlags(values: FlagValues): ComposeOptions {
  const gpus = (values.gpus as string).split(',').map((gpu) => gpu.trim());
  const runId = values['run-id'] as string;
  if (runId && !/^[\w.-]{1,100}$/.test(runId)) throw new WashError('WASH_ERR_USAGE', `invalid --run-id "${runId}": expected letters, digits, dot, dash or underscore`);
  const options: ComposeOptions = {
    gpus,
    image: values.image as string,
    port: values.port as number,
    publishAddress: values.publish as string,
    coordinatorBackend: values.backend as BackendChoice,
    workerBackend: values['worker-backend'] as BackendChoice,
    connectTimeoutSeconds: values['connect-timeout'] as number,
    runArgs: runArgsFromValues(values),
  };
  checkComposeOptions(options);
  // Checks ranges such as --lr and the member limit now, rather than when the coordinator starts inside its container.
  configFromFlags({ ...values, members: gpus.length });
  return options;
}

/** Formats the `wash compose` command line that writes these options, for the file's header. */
export function composeCommandLine(options: ComposeOptions): string {
  const parts = ['wash', 'compose', '--gpus', options.gpus.join(',')];
  if (options.image !== defaults.image) parts.push('--image', options.image);
  if (options.port !== defaults.port) parts.push('--port', String(options.port));
  if (options.publishAddress !== defaults.publishAddress) parts.push('--publish', options.publishAddress);
  if (options.workerBackend !== defaults.workerBackend) parts.push('--worker-backend', options.workerBackend);
  if (options.connectTimeoutSeconds !== defaults.connectTimeoutSeconds) parts.push('--connect-timeout', String(options.connectTimeoutSeconds));
  if (options.coordinatorBackend !== defaults.coordinatorBackend) parts.push('--backend', options.coordinatorBackend);
  return [...parts, ...options.runArgs].map(shellWord).join(' ');
}

/** Quotes a word for a POSIX shell when it contains anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w.,:\/@%+=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `wash compose`: writes a docker-compose.yml with a coordinator and one worker per GPU. */
export async function composeCommand(args: string[]): Promise<number> {
  if (args.some((arg) => arg === '--members' || arg.startsWith('--members='))) {
    throw new WashError('WASH_ERR_USAGE', 'wash compose sets --members to the number of GPUs in --gpus; list the GPUs instead, e.g. --gpus 0,1');
  }
  const { values, positionals } = parseFlags(args, COMPOSE_FLAGS, 'compose');
  if (positionals.length > 0) {
    throw new WashError('WASH_ERR_USAGE', `unexpected argument "${positionals[0]}" for "wash compose": separate GPUs with commas, e.g. --gpus 0,1`);
  }
  const options = composeOptionsFromFlags(values);
  const text = composeYaml(options, composeCommandLine(options));
  const output = values.output as string;
  if (output === '-') {
    process.stdout.write(text);
    return 0;
  }
  const file = path.resolve(output);
  await writeFileAtomic(file, text);
  process.stdout.write(`wrote ${file}: a coordinator and ${options.gpus.length} workers on GPUs ${options.gpus.join(', ')}\n`);
  return 0;
}
