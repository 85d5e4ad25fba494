import { isIP } from 'node:net';
import { Document, isMap, isScalar, isSeq, visit } from 'yaml';
import { BackendChoice } from '../shared/backend/backends';
import { WashError } from '../shared/errors';

/** Port that every worker's peer server binds inside its container. Each container has its own network namespace, so one value serves all. */
export const WORKER_PEER_PORT = 7001;

/** Mount point of the runs volume in the coordinator's container. The Dockerfile creates it, owned by the `wash` user. */
export const RUNS_MOUNT = '/runs';

/** Name of the named volume that receives the run folders. */
export const RUNS_VOLUME = 'runs';

/** Compose variable reference for the run token, so the file itself never contains the token. */
export const TOKEN_VARIABLE = '${WASH_TOKEN:?set WASH_TOKEN}';

export interface ComposeOptions {
  /** GPU indices or UUIDs, one worker service each, in order: worker0 gets the first. */
  gpus: string[];
  /** Tag of the image that every service builds from the Dockerfile and runs. */
  image: string;
  /** Coordinator port, the same inside the compose network and on the host. */
  port: number;
  /** Host address the coordinator port is published on: 127.0.0.1 keeps it local, 0.0.0.0 opens it to other hosts. */
  publishAddress: string;
  /** Backend of the coordinator, which loads no GPU and evaluates the averaged model. */
  coordinatorBackend: BackendChoice;
  /** Backend of every worker. */
  workerBackend: BackendChoice;
  /** Seconds a worker keeps retrying the coordinator before it gives up. */
  connectTimeoutSeconds: number;
  /** Further coordinator flags, e.g. ['--epochs', '10'], already checked against the coordinator's flags. */
  runArgs: string[];
}

export const DEFAULT_COMPOSE_OPTIONS: ComposeOptions = {
  gpus: ['0', '1', '2', '3'],
  image: 'wash:gpu',
  port: 7070,
  publishAddress: '127.0.0.1',
  coordinatorBackend: 'wasm',
  workerBackend: 'tensorflow-gpu',
  connectTimeoutSeconds: 300,
  runArgs: [],
};

/** Service name of the worker on the `index`-th GPU of the list. */
export function workerServiceName(index: number): string {
  return `worker${index}`;
}

/**
 * Checks the options that end up as names or addresses in the file. The
 * caller checks the run flags against the coordinator's flag table.
 */
export function checkComposeOptions(options: ComposeOptions): void {
  if (options.gpus.length === 0) throw new WashError('WASH_ERR_USAGE', 'invalid --gpus "": expected a comma-separated list of GPU indices or UUIDs, e.g. 0,1,2,3');
  const seen = new Set<string>();
  for (const gpu of options.gpus) {
    if (!/^[A-Za-z0-9-]+$/.test(gpu)) {
      throw new WashError('WASH_ERR_USAGE', `invalid GPU "${gpu}" in --gpus: expected an index such as 0 or a UUID such as GPU-5f1a...`);
    }
    if (seen.has(gpu)) throw new WashError('WASH_ERR_USAGE', `GPU ${gpu} appears twice in --gpus: each worker needs a GPU of its own`);
    seen.add(gpu);
  }
  if (!/^[a-z0-9][\w.\/:@-]*$/i.test(options.image)) throw new WashError('WASH_ERR_USAGE', `invalid --image "${options.image}": expected an image reference such as wash:gpu`);
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65_535) {
    throw new WashError('WASH_ERR_USAGE', `invalid --port ${options.port}: expected a port in [1, 65535]`);
  }
  if (options.port === WORKER_PEER_PORT) {
    throw new WashError('WASH_ERR_USAGE', `invalid --port ${options.port}: the workers' peer servers use ${WORKER_PEER_PORT}; pick another port`);
  }
  if (isIP(options.publishAddress) === 0) throw new WashError('WASH_ERR_USAGE', `invalid --publish "${options.publishAddress}": expected an IP address such as 127.0.0.1 or 0.0.0.0`);
  if (!(options.connectTimeoutSeconds > 0)) {
    throw new WashError('WASH_ERR_USAGE', `invalid --connect-timeout ${options.connectTimeoutSeconds}: expected a number of seconds above 0`);
  }
}

/** Returns the keys every service shares: the wash image, its build, the command and the token. */
function imageService(options: ComposeOptions, command: string[]): Record<string, unknown> {
  return {
    image: options.image,
    build: { context: '.', args: { VARIANT: 'gpu' } },
    init: true,
    command,
    environment: { WASH_TOKEN: TOKEN_VARIABLE },
  };
}

function coordinatorService(options: ComposeOptions): Record<string, unknown> {
  const command = [
    'coordinator',
    '--listen', `0.0.0.0:${options.port}`,
    '--members', String(options.gpus.length),
    '--backend', options.coordinatorBackend,
    '--out', RUNS_MOUNT,
    ...options.runArgs,
  ];
  const host = isIP(options.publishAddress) === 6 ? `[${options.publishAddress}]` : options.publishAddress;
  return {
    ...imageService(options, command),
    ports: [`${host}:${options.port}:${options.port}`],
    volumes: [`${RUNS_VOLUME}:${RUNS_MOUNT}`],
    // `wash status` exits 0 only when the coordinator returned a status, so the service turns healthy once the coordinator listens.
    healthcheck: {
      test: ['CMD', 'wash', 'status', '--coordinator', `ws://127.0.0.1:${options.port}`],
      interval: '5s',
      timeout: '5s',
      retries: 5,
      // The coordinator loads the data set before it listens, and failed checks in this period do not count.
      start_period: '120s',
    },
  };
}

function workerService(options: ComposeOptions, index: number): Record<string, unknown> {
  const name = workerServiceName(index);
  const command = [
    'worker',
    '--coordinator', `ws://coordinator:${options.port}`,
    '--listen', `0.0.0.0:${WORKER_PEER_PORT}`,
    '--advertise', `ws://${name}:${WORKER_PEER_PORT}`,
    '--backend', options.workerBackend,
    '--connect-timeout', String(options.connectTimeoutSeconds),
  ];
  return {
    ...imageService(options, command),
    depends_on: { coordinator: { condition: 'service_healthy' } },
    deploy: {
      resources: {
        reservations: {
          devices: [{ driver: 'nvidia', device_ids: [options.gpus[index]], capabilities: ['gpu'] }],
        },
      },
    },
  };
}

/** Builds the compose file as a plain object: a coordinator, one worker per GPU and the runs volume. */
export function composeObject(options: ComposeOptions): Record<string, unknown> {
  checkComposeOptions(options);
  const services: Record<string, unknown> = { coordinator: coordinatorService(options) };
  options.gpus.forEach((_, index) => {
    services[workerServiceName(index)] = workerService(options, index);
  });
  return { services, volumes: { [RUNS_VOLUME]: {} } };
}

/** Lists written on one line, like a command line. */
const FLOW_KEYS = new Set(['command', 'test', 'device_ids', 'capabilities']);

/**
 * Renders the compose file as YAML, headed by the `wash compose` command
 * that writes it again. `commandLine` is that command, e.g.
 * `wash compose --gpus 0,1,2,3`.
 */
export function composeYaml(options: ComposeOptions, commandLine: string): string {
  const document = new Document(composeObject(options));
  visit(document, {
    Pair(_, pair) {
      if (isScalar(pair.key) && FLOW_KEYS.has(String(pair.key.value)) && isSeq(pair.value)) pair.value.flow = true;
    },
  });
  // Blank lines separate the services from each other and from the volumes.
  const top = document.contents;
  const services = document.get('services');
  for (const map of [top, services]) {
    if (!isMap(map)) continue;
    map.items.forEach((pair, index) => {
      if (index > 0 && isScalar(pair.key)) pair.key.spaceBefore = true;
    });
  }
  document.commentBefore = [
    ` Written by \`${commandLine}\`. To change it, run that command with other flags.`,
    ' A coordinator and one worker per GPU, each worker with a GPU of its own.',
    ' Set WASH_TOKEN (see .env.example), then run: docker compose up --build',
    ' docs/deployment.md describes the services and how to run workers on other hosts.',
  ].join('\n');
  // lineWidth 0 keeps long strings on one line, so a command reads as it runs.
  return document.toString({ lineWidth: 0 });
}
