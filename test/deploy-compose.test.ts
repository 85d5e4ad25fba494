import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseDocument } from 'yaml';
import { composeCommand } from '../cli/commands/compose-command';
import { RUNS_MOUNT, RUNS_VOLUME, TOKEN_VARIABLE, WORKER_PEER_PORT } from '../cli/compose-file';
import { parseFlags, parseHostPort } from '../cli/flags';
import { configFromFlags } from '../cli/run-flags';
import { COMMANDS } from '../cli/wash';
import { isWashError } from '../shared/errors';

const ROOT = path.join(__dirname, '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const WASH = path.join(__dirname, '..', 'cli', 'wash.js');
const folders: string[] = [];

after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

function temporaryFolder(): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'wash-compose-'));
  folders.push(folder);
  return folder;
}

interface Service {
  image: string;
  command: string[];
  environment: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { resources: { reservations: { devices: Array<{ driver: string; device_ids: string[]; capabilities: string[] }> } } };
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

function readCompose(text = readFileSync(COMPOSE_FILE, 'utf8')): ComposeFile {
  return parse(text) as ComposeFile;
}

function workerNames(compose: ComposeFile): string[] {
  return Object.keys(compose.services).filter((name) => name !== 'coordinator');
}

/** Parses a service command with the real flag table of its wash subcommand. */
function parseCommand(command: string[]): { name: string; values: Record<string, unknown> } {
  const [name, ...args] = command;
  assert.ok(name in COMMANDS, `"${name}" is not a wash command`);
  const { values, positionals } = parseFlags(args, COMMANDS[name].flags, name);
  assert.deepEqual(positionals, [], `wash ${name} got stray arguments`);
  return { name, values };
}

function runWash(args: string[]): string {
  return execFileSync(process.execPath, [WASH, ...args], { encoding: 'utf8' });
}

test('compose file parses as YAML', () => {
  const document = parseDocument(readFileSync(COMPOSE_FILE, 'utf8'));
  assert.deepEqual(document.errors, []);
  assert.deepEqual(document.warnings, []);
  const compose = readCompose();
  assert.deepEqual(Object.keys(compose.services), ['coordinator', 'worker0', 'worker1', 'worker2', 'worker3']);
  assert.deepEqual(Object.keys(compose.volumes), [RUNS_VOLUME]);
});

test('service commands are valid wash invocations', () => {
  const compose = readCompose();
  for (const [service, spec] of Object.entries(compose.services)) {
    const { name } = parseCommand(spec.command);
    assert.equal(name, service === 'coordinator' ? 'coordinator' : 'worker', `command of ${service}`);
  }
  const check = compose.services.coordinator.healthcheck?.test ?? [];
  assert.deepEqual(check.slice(0, 2), ['CMD', 'wash']);
  assert.equal(parseCommand(check.slice(2)).name, 'status');
});

test('coordinator command describes a valid run', () => {
  const compose = readCompose();
  const coordinator = compose.services.coordinator;
  const { values } = parseCommand(coordinator.command);
  // configFromFlags applies the same range checks as `wash coordinator`.
  const config = configFromFlags(values as Parameters<typeof configFromFlags>[0]);
  assert.equal(config.members, workerNames(compose).length);

  const listen = parseHostPort('listen', values.listen as string);
  assert.equal(listen.host, '0.0.0.0');
  assert.deepEqual(coordinator.ports, [`127.0.0.1:${listen.port}:${listen.port}`]);
  assert.equal(values.out, RUNS_MOUNT);
  assert.deepEqual(coordinator.volumes, [`${RUNS_VOLUME}:${RUNS_MOUNT}`]);
  assert.deepEqual(coordinator.healthcheck?.test.slice(-2), ['--coordinator', `ws://127.0.0.1:${listen.port}`]);
  assert.equal(coordinator.deploy, undefined, 'the coordinator reserves no GPU');
});

test('workers dial coordinator and advertise themselves', () => {
  const compose = readCompose();
  const coordinatorPort = parseHostPort('listen', parseCommand(compose.services.coordinator.command).values.listen as string).port;
  for (const name of workerNames(compose)) {
    const worker = compose.services[name];
    const { values } = parseCommand(worker.command);
    assert.equal(values.coordinator, `ws://coordinator:${coordinatorPort}`, name);
    assert.equal(values.listen, `0.0.0.0:${WORKER_PEER_PORT}`, name);
    assert.equal(values.advertise, `ws://${name}:${WORKER_PEER_PORT}`, name);
    assert.equal(values.backend, 'tensorflow-gpu', name);
    assert.ok((values['connect-timeout'] as number) >= 60, `${name} retries the coordinator for at least a minute`);
    assert.deepEqual(worker.depends_on, { coordinator: { condition: 'service_healthy' } }, name);
  }
});

test('each worker reserves one distinct GPU', () => {
  const compose = readCompose();
  const gpus: string[] = [];
  for (const name of workerNames(compose)) {
    const devices = compose.services[name].deploy?.resources.reservations.devices ?? [];
    assert.equal(devices.length, 1, `${name} has one device reservation`);
    assert.equal(devices[0].driver, 'nvidia', name);
    assert.deepEqual(devices[0].capabilities, ['gpu'], name);
    assert.equal(devices[0].device_ids.length, 1, `${name} reserves exactly one GPU`);
    gpus.push(devices[0].device_ids[0]);
  }
  assert.deepEqual(gpus, ['0', '1', '2', '3']);
  assert.equal(new Set(gpus).size, gpus.length);
});

test('token comes from the environment only', () => {
  const compose = readCompose();
  for (const [name, spec] of Object.entries(compose.services)) {
    assert.deepEqual(spec.environment, { WASH_TOKEN: TOKEN_VARIABLE }, name);
    assert.ok(!spec.command.includes('--token'), `${name} passes no token on the command line`);
  }
});

test('wash compose defaults match the checked-in file', () => {
  const dir = temporaryFolder();
  const output = path.join(dir, 'docker-compose.yml');
  const printed = runWash(['compose', '--output', output]);
  assert.match(printed, /^wrote .*docker-compose\.yml: a coordinator and 4 workers on GPUs 0, 1, 2, 3\n$/);
  assert.equal(readFileSync(output, 'utf8'), readFileSync(COMPOSE_FILE, 'utf8'), 'docker-compose.yml is stale: run `node build/cli/wash.js compose` to rewrite it');
});

test('wash compose --gpus 0,2 writes two workers', () => {
  const defaults = readCompose();
  const text = runWash(['compose', '--gpus', '0,2', '--output', '-']);
  const compose = readCompose(text);
  assert.match(text, /^# Written by `wash compose --gpus 0,2`/);
  assert.deepEqual(Object.keys(compose.services), ['coordinator', 'worker0', 'worker1']);
  assert.deepEqual(compose.services.worker0.deploy?.resources.reservations.devices[0].device_ids, ['0']);
  assert.deepEqual(compose.services.worker1.deploy?.resources.reservations.devices[0].device_ids, ['2']);
  assert.equal(parseCommand(compose.services.coordinator.command).values.members, 2);

  // Apart from --members, the services are those of the default file.
  const members = defaults.services.coordinator.command.indexOf('--members') + 1;
  const expectedCoordinator = { ...defaults.services.coordinator, command: defaults.services.coordinator.command.map((arg, i) => (i === members ? '2' : arg)) };
  assert.deepEqual(compose.services.coordinator, expectedCoordinator);
  assert.deepEqual(compose.services.worker0, defaults.services.worker0);
  const expectedWorker1 = structuredClone(defaults.services.worker1);
  expectedWorker1.deploy!.resources.reservations.devices[0].device_ids = ['2'];
  assert.deepEqual(compose.services.worker1, expectedWorker1);
});

test('wash compose passes run flags to coordinator', () => {
  const text = runWash(['compose', '--gpus', 'GPU-0a1b,GPU-2c3d', '--run-id', 'r1', '--track-average', '--epochs', '10', '--lr', '0.1', '--output', '-']);
  const compose = readCompose(text);
  // Run flags follow the fixed flags in the order of the flag table, whatever the order on the command line.
  assert.deepEqual(compose.services.coordinator.command.slice(9), ['--epochs', '10', '--lr', '0.1', '--track-average', '--run-id', 'r1']);
  assert.match(text, /^# Written by `wash compose --gpus GPU-0a1b,GPU-2c3d --epochs 10 --lr 0\.1 --track-average --run-id r1`/);
  assert.deepEqual(compose.services.worker1.deploy?.resources.reservations.devices[0].device_ids, ['GPU-2c3d']);
  for (const name of workerNames(compose)) assert.deepEqual(compose.services[name].command, readCompose().services[name].command);
});

test('wash compose rejects bad flags', async () => {
  const cases: Array<{ args: string[]; code: string; message: RegExp }> = [
    { args: ['--gpus', '0,0'], code: 'WASH_ERR_USAGE', message: /GPU 0 appears twice/ },
    { args: ['--gpus', ''], code: 'WASH_ERR_USAGE', message: /invalid GPU ""/ },
    { args: ['--gpus', '0,,1'], code: 'WASH_ERR_USAGE', message: /invalid GPU ""/ },
    { args: ['--gpus', '0;rm'], code: 'WASH_ERR_USAGE', message: /invalid GPU "0;rm"/ },
    { args: ['--gpus', '0', '1'], code: 'WASH_ERR_USAGE', message: /unexpected argument "1"/ },
    { args: ['--members', '3'], code: 'WASH_ERR_USAGE', message: /sets --members to the number of GPUs/ },
    { args: ['--token', 'secret'], code: 'WASH_ERR_USAGE', message: /unknown flag --token/ },
    { args: ['--port', String(WORKER_PEER_PORT)], code: 'WASH_ERR_USAGE', message: /peer servers use 7001/ },
    { args: ['--publish', 'localhost'], code: 'WASH_ERR_USAGE', message: /invalid --publish "localhost"/ },
    { args: ['--run-id', '../x'], code: 'WASH_ERR_USAGE', message: /invalid --run-id/ },
    { args: ['--lr', '-1'], code: 'WASH_ERR_CONFIG', message: /invalid --lr -1/ },
  ];
  for (const { args, code, message } of cases) {
    await assert.rejects(composeCommand([...args, '--output', '-']), (error) => isWashError(error) && error.code === code && message.test(error.message), `wash compose ${args.join(' ')}`);
  }
});

test('wash compose replaces an existing file whole', () => {
  const dir = temporaryFolder();
  const output = path.join(dir, 'compose.yml');
  writeFileSync(output, 'x'.repeat(100_000));
  runWash(['compose', '--gpus', '3', '--output', output]);
  assert.deepEqual(Object.keys(readCompose(readFileSync(output, 'utf8')).services), ['coordinator', 'worker0']);
  assert.deepEqual(readdirSync(dir), ['compose.yml'], 'no temporary file is left behind');
});

/** `docker compose` (v2 plugin) or `docker-compose` (v1), whichever is installed; neither needs a Docker engine for `config`. */
function findComposeTool(): string[] | undefined {
  for (const tool of [['docker', 'compose'], ['docker-compose']]) {
    const probe = spawnSync(tool[0], [...tool.slice(1), 'version'], { encoding: 'utf8' });
    if (probe.status === 0) return tool;
  }
  return undefined;
}

const composeTool = findComposeTool();

test('docker compose config accepts the file', { skip: composeTool ? false : 'neither `docker compose` nor `docker-compose` is installed' }, () => {
  const tool = composeTool as string[];
  // An empty env file keeps a developer's .env out of the check.
  const emptyEnv = path.join(temporaryFolder(), 'empty.env');
  writeFileSync(emptyEnv, '');
  const env = { ...process.env };
  delete env.WASH_TOKEN;
  const args = [...tool.slice(1), '--env-file', emptyEnv, '-f', COMPOSE_FILE, 'config', '--quiet'];

  const valid = spawnSync(tool[0], args, { encoding: 'utf8', env: { ...env, WASH_TOKEN: 'compose-config-test' } });
  assert.equal(valid.status, 0, valid.stderr);

  const missingToken = spawnSync(tool[0], args, { encoding: 'utf8', env });
  assert.notEqual(missingToken.status, 0);
  assert.match(missingToken.stderr, /set WASH_TOKEN/);
});
