import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { RunSummary } from '../coordinator/summary';
import { DEFAULT_FASHION_MNIST_DIR } from '../shared/data/datasets';

const ROOT = path.join(__dirname, '..', '..');
const WASH = path.join(__dirname, '..', 'cli', 'wash.js');
/** A slice of Fashion-MNIST small enough for a run of a few seconds. */
const RUN_SLICE = ['--train-limit', '2000', '--test-limit', '500', '--epochs', '1'];

interface Service {
  command: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
}

interface Started {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const folders: string[] = [];

after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

/**
 * Expands compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` forms
 * from `variables`, as `docker compose` does from the shell and .env.
 */
function interpolate(value: string, variables: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?:(:?[-?])([^}]*))?\}/g, (_, name: string, operator: string | undefined, operand: string) => {
    const set = variables[name];
    const missing = set === undefined || (operator?.startsWith(':') === true && set === '');
    if (!missing) return set;
    if (operator?.endsWith('?')) throw new Error(`compose would stop: ${name} is not set (${operand})`);
    return operator?.endsWith('-') ? operand : '';
  });
}

/** Finds a free port on `address`: `preferred` when no process has bound it there, otherwise one that the kernel picks. */
async function portOn(address: string, preferred: number): Promise<number> {
  for (const port of [preferred, 0]) {
    const server = createServer();
    const bound = await new Promise<number | undefined>((resolve) => {
      server.once('error', () => resolve(undefined));
      server.listen(port, address, () => resolve((server.address() as AddressInfo).port));
    });
    await new Promise((resolve) => server.close(resolve));
    if (bound !== undefined) return bound;
  }
  throw new Error(`no free port on ${address}`);
}

function flagValue(command: string[], flag: string): string {
  const index = command.indexOf(flag);
  assert.ok(index >= 0, `${command.join(' ')} has ${flag}`);
  assert.ok(index + 1 < command.length, `${flag} has a value in ${command.join(' ')}`);
  return command[index + 1];
}

function start(name: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, [WASH, ...args], { env: { ...process.env, WASH_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { name, child, output: () => output, exited };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Joins the last lines of every process's output, for a failure message. */
function outputs(started: Started[]): string {
  return started.map((s) => `--- ${s.name}\n${s.output().split('\n').slice(-15).join('\n')}`).join('\n');
}

const skip = existsSync(DEFAULT_FASHION_MNIST_DIR) ? false : `Fashion-MNIST is not installed at ${DEFAULT_FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;

test('compose services run as local processes', { skip, timeout: 120_000 }, async (t) => {
  const began = Date.now();
  const services = (parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> }).services;
  const names = Object.keys(services);
  const workers = names.filter((name) => name !== 'coordinator');
  const out = mkdtempSync(path.join(os.tmpdir(), 'wash-deploy-'));
  folders.push(out);
  const shell = { WASH_TOKEN: randomBytes(16).toString('hex') };

  // Each service gets its own loopback address, as each container has its own IP address in the compose network.
  // It keeps the compose file's port where that port is free on the address.
  const hosts = new Map<string, { address: string; listenPort: number; port: number }>();
  for (const [index, name] of names.entries()) {
    const address = `127.0.0.${2 + index}`;
    const listenPort = Number(/:(\d+)$/.exec(flagValue(services[name].command, '--listen'))?.[1]);
    hosts.set(name, { address, listenPort, port: await portOn(address, listenPort) });
  }
  const rewrite = (name: string, args: string[]): string[] => {
    const own = hosts.get(name)!;
    return args.map((arg, i) => {
      if (args[i - 1] === '--backend') return 'wasm';
      if (args[i - 1] === '--out') return out;
      if (arg === `0.0.0.0:${own.listenPort}`) return `${own.address}:${own.port}`;
      const url = /^ws:\/\/([\w.-]+):(\d+)$/.exec(arg);
      if (!url) return arg;
      const target = url[1] === '127.0.0.1' ? own : hosts.get(url[1]);
      assert.ok(target, `${name} dials ${arg}, but no service has that name`);
      assert.equal(Number(url[2]), target.listenPort, `${name} dials ${arg}, but that service listens on another port`);
      return `ws://${target.address}:${target.port}`;
    });
  };
  const environment = (name: string): Record<string, string> =>
    Object.fromEntries(Object.entries(services[name].environment ?? {}).map(([key, value]) => [key, interpolate(value, shell)]));

  const coordinatorCommand = rewrite('coordinator', services.coordinator.command);
  assert.equal(flagValue(coordinatorCommand, '--members'), String(workers.length));
  assert.equal(coordinatorCommand[0], 'coordinator');

  // Workers start first, as they may on separate hosts, and must wait for the coordinator by retrying.
  const started = workers.map((name) => start(name, rewrite(name, services[name].command), environment(name)));
  await waitFor(() => started.some((s) => s.output().includes('coordinator not reachable yet, retrying')), 30_000, 'a worker to retry the coordinator');
  const coordinator = start('coordinator', [...coordinatorCommand, ...RUN_SLICE], environment('coordinator'));
  started.unshift(coordinator);
  await waitFor(() => /coordinator listening on ws:\/\//.test(coordinator.output()), 30_000, 'the coordinator to listen');

  // The compose health check, run as compose would run it inside the coordinator's container.
  const check = services.coordinator.healthcheck?.test ?? [];
  assert.deepEqual(check.slice(0, 2), ['CMD', 'wash']);
  const checkArgs = rewrite('coordinator', check.slice(2));
  const healthy = start('health check', checkArgs, environment('coordinator'));
  const healthCode = await healthy.exited;
  const wrongToken = start('health check with a wrong token', checkArgs, { WASH_TOKEN: 'wrong-token' });
  const wrongTokenCode = await wrongToken.exited;

  // One process that fails leaves the others waiting for it, so the first failure ends the wait.
  const firstFailure = new Promise<never>((_, reject) => {
    for (const s of started) void s.exited.then((code) => code !== 0 && reject(new Error(`${s.name} exited with code ${code}\n${outputs(started)}`)));
  });
  const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the run did not finish within 90 s\n${outputs(started)}`)), 90_000).unref());
  await Promise.race([Promise.all(started.map((s) => s.exited)), firstFailure, deadline]);
  t.diagnostic(`${workers.length} workers and the coordinator finished in ${((Date.now() - began) / 1000).toFixed(1)} s`);

  assert.equal(healthCode, 0, healthy.output());
  assert.match(healthy.output(), /^run \S+: \w+, method wash, \d\/4 workers joined/);
  assert.equal(wrongTokenCode, 1, wrongToken.output());
  assert.match(wrongToken.output(), /WASH_ERR_TOKEN/);

  const runs = readdirSync(out);
  assert.equal(runs.length, 1, `one run folder in ${out}`);
  const summary = JSON.parse(readFileSync(path.join(out, runs[0], 'summary.json'), 'utf8')) as RunSummary;
  assert.equal(summary.status, 'finished');
  assert.equal(summary.membersCount, workers.length);
  assert.deepEqual(summary.workers?.map((w) => w.rank), workers.map((_, rank) => rank));
  assert.ok(summary.workers?.every((w) => w.backend === 'wasm'), 'every worker trained on wasm');
});
