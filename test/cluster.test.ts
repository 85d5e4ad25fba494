import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunSummary } from '../coordinator/summary';
import { loadBackend } from '../shared/backend/backends';
import { loadModel } from '../shared/model/model-files';
import { trainableVariables } from '../shared/model/parameters';

const WASH = path.join(__dirname, '../cli/wash.js');
const DATA = '/usr/share/datasets/fashion-mnist';
const TOKEN = 'cluster-test-token';
const children: ChildProcess[] = [];

after(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [WASH, ...args], { env: { ...process.env, WASH_TOKEN: TOKEN, WASH_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const skip = existsSync(DATA) ? false : `Fashion-MNIST is not installed at ${DATA} (apt-get install dataset-fashion-mnist)`;

test('coordinator and three workers on separate loopback hosts finish', { skip, timeout: 180_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'wash-cluster-'));
  const coordinator = start(['coordinator', '--listen', '127.0.0.2:0', '--members', '3', '--method', 'wash', '--p', '0.05', '--epochs', '1',
    '--train-limit', '2400', '--test-limit', '500', '--backend', 'wasm', '--out', out, '--run-id', 'cluster', '--save-members']);
  await waitFor(() => /listening on ws:\/\/127\.0\.0\.2:(\d+)/.test(coordinator.output()), 60_000, 'the coordinator to listen');
  const port = /listening on ws:\/\/127\.0\.0\.2:(\d+)/.exec(coordinator.output())?.[1];
  const workers = [3, 4, 5].map((host) => start(['worker', '--coordinator', `ws://127.0.0.2:${port}`, '--listen', `127.0.0.${host}:0`]));
  const codes = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
  assert.deepEqual(codes, [0, 0, 0, 0], [coordinator, ...workers].map((p) => p.output()).join('\n---\n'));

  const summary = JSON.parse(readFileSync(path.join(out, 'cluster', 'summary.json'), 'utf8')) as RunSummary;
  assert.equal(summary.status, 'finished');
  assert.equal(summary.membersCount, 3);
  assert.deepEqual(summary.workers?.map((w) => w.rank), [0, 1, 2]);
  assert.ok((summary.traffic?.valuesPerMemberPerStep ?? 0) > 0, 'members exchanged shuffled values');
  assert.ok((summary.averaged ?? 0) > 0.5, `averaged accuracy ${summary.averaged}`);
  // Each worker's peer server bound its own loopback address, and peers dialed those addresses.
  for (const [k, host] of [3, 4, 5].entries()) assert.match(workers[k].output(), new RegExp(`"peerUrl":"ws://127\\.0\\.0\\.${host}:\\d+"|joined run`));
  assert.match(coordinator.output(), /"peerUrl":"ws:\/\/127\.0\.0\.3:\d+"/);
  assert.match(coordinator.output(), /"peerUrl":"ws:\/\/127\.0\.0\.5:\d+"/);
  assert.ok(existsSync(path.join(out, 'cluster', 'model', 'model.json')));
  const metrics = readFileSync(path.join(out, 'cluster', 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(metrics.length, 1);

  // The mlp has no batch norm, so the averaged model's weights are exactly the mean of the members' (up to float32 rounding).
  await loadBackend('cpu');
  const averaged = trainableVariables(await loadModel(path.join(out, 'cluster', 'model'))).map((v) => v.dataSync());
  const members = await Promise.all([0, 1, 2].map(async (rank) => trainableVariables(await loadModel(path.join(out, 'cluster', 'members', `rank-${rank}`))).map((v) => v.dataSync())));
  assert.notDeepEqual(members[0], members[1]);
  averaged.forEach((tensor, t) => {
    for (let i = 0; i < tensor.length; i++) {
      const mean = (members[0][t][i] + members[1][t][i] + members[2][t][i]) / 3;
      assert.ok(Math.abs(tensor[i] - mean) <= 1e-6 * Math.max(1, Math.abs(mean)), `tensor ${t} value ${i}: ${tensor[i]} vs mean ${mean}`);
    }
  });
});

test('killed worker stops the run and is named', { skip, timeout: 180_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'wash-cluster-'));
  const coordinator = start(['coordinator', '--listen', '127.0.0.2:0', '--members', '2', '--epochs', '20', '--train-limit', '3000', '--test-limit', '200',
    '--backend', 'wasm', '--out', out, '--run-id', 'killed', '--heartbeat-timeout', '3']);
  await waitFor(() => /listening on ws:\/\/127\.0\.0\.2:(\d+)/.test(coordinator.output()), 60_000, 'the coordinator to listen');
  const port = /listening on ws:\/\/127\.0\.0\.2:(\d+)/.exec(coordinator.output())?.[1];
  const workers = [3, 4].map((host) => start(['worker', '--coordinator', `ws://127.0.0.2:${port}`, '--listen', `127.0.0.${host}:0`]));
  await waitFor(() => /training started/.test(workers[1].output()), 60_000, 'training to start');
  // SIGSTOP freezes the process without closing its sockets: only the missing heartbeats reveal it.
  workers[1].child.kill('SIGSTOP');
  const [coordinatorCode, survivorCode] = await Promise.all([coordinator.exited, workers[0].exited]);
  workers[1].child.kill('SIGKILL');
  assert.equal(coordinatorCode, 1);
  assert.notEqual(survivorCode, 0);
  assert.match(coordinator.output(), /worker rank \d on .* sent no heartbeat for \d+ ms \(limit 3000 ms\)/);
  assert.match(workers[0].output(), /aborted/);
  const summary = JSON.parse(readFileSync(path.join(out, 'killed', 'summary.json'), 'utf8')) as RunSummary;
  assert.equal(summary.status, 'failed');
  assert.equal(summary.error?.code, 'WASH_ERR_PEER_LOST');
});

test('same seed gives the same run twice', { skip, timeout: 180_000 }, async () => {
  // Three members, so every step keeps one peer's frame while it waits for the other's.
  const out = mkdtempSync(path.join(os.tmpdir(), 'wash-repeat-'));
  const summaries: RunSummary[] = [];
  for (const runId of ['first', 'second']) {
    const run = start(['coordinator', '--listen', '127.0.0.2:0', '--members', '3', '--epochs', '1', '--train-limit', '1500', '--test-limit', '300',
      '--backend', 'wasm', '--out', out, '--run-id', runId, '--seed', '4']);
    await waitFor(() => /listening on ws:\/\/127\.0\.0\.2:(\d+)/.test(run.output()), 60_000, 'the coordinator to listen');
    const port = /listening on ws:\/\/127\.0\.0\.2:(\d+)/.exec(run.output())?.[1];
    const workers = [3, 4, 5].map((host) => start(['worker', '--coordinator', `ws://127.0.0.2:${port}`, '--listen', `127.0.0.${host}:0`]));
    assert.deepEqual(await Promise.all([run.exited, ...workers.map((w) => w.exited)]), [0, 0, 0, 0], run.output());
    summaries.push(JSON.parse(readFileSync(path.join(out, runId, 'summary.json'), 'utf8')) as RunSummary);
  }
  assert.deepEqual(summaries[1].members?.each, summaries[0].members?.each);
  assert.equal(summaries[1].averaged, summaries[0].averaged);
  assert.equal(summaries[1].ensemble, summaries[0].ensemble);
});
