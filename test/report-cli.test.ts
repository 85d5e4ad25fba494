import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, promises as fs, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RunSummary } from '../coordinator/summary';
import { encodeIdx } from '../shared/data';
import { ReportData } from '../report/report-data';
import { formatPercent } from '../report/report-format';
import { readEpochLines } from '../report/run-record';
import { allElements, parseXml, XmlElement } from '../report/xml-check';

const WASH = path.resolve(__dirname, '../cli/wash.js');
const scratch = mkdtempSync(path.join(tmpdir(), 'wash-report-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Writes a small MNIST-shaped data set: class c lights a 7x7 block at one of
 * ten places, over uniform noise, so a 1-epoch run learns something quickly.
 */
function writeDataset(dir: string, trainCount: number, testCount: number): void {
  let state = 12345;
  const random = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const images = (count: number): { images: Uint8Array; labels: Uint8Array } => {
    const pixels = new Uint8Array(count * 784);
    const labels = new Uint8Array(count);
    for (let n = 0; n < count; n++) {
      const label = n % 10;
      labels[n] = label;
      for (let i = 0; i < 784; i++) pixels[n * 784 + i] = Math.floor(random() * 100);
      const top = 3 + 7 * Math.floor(label / 5);
      const left = 1 + 5 * (label % 5);
      for (let y = top; y < top + 7; y++) for (let x = left; x < left + 7; x++) pixels[n * 784 + y * 28 + x] = 255;
    }
    return { images: pixels, labels };
  };
  const train = images(trainCount);
  const test = images(testCount);
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), encodeIdx([trainCount, 28, 28], train.images));
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([trainCount], train.labels));
  writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), encodeIdx([testCount, 28, 28], test.images));
  writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([testCount], test.labels));
}

const dataDir = path.join(scratch, 'data');
const TINY_RUN = ['--dataset', 'mnist', '--members', '2', '--epochs', '1', '--train-limit', '2000', '--test-limit', '500', '--backend', 'wasm', '--progress', 'log'];

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function startWash(args: string[]): Started {
  const child = spawn(process.execPath, [WASH, ...args], { env: { ...process.env, WASH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exit };
}

async function readResults(reportDir: string): Promise<ReportData | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(reportDir, 'results.json'), 'utf8')) as ReportData;
  } catch {
    return undefined;
  }
}

async function readSummary(reportDir: string, runId: string): Promise<RunSummary> {
  return JSON.parse(await fs.readFile(path.join(reportDir, runId, 'summary.json'), 'utf8')) as RunSummary;
}

function onlyFolder(out: string, prefix: string): string {
  const names = readdirSync(out).filter((name) => name.startsWith(prefix));
  assert.equal(names.length, 1, `expected one ${prefix} folder in ${out}, found ${names.join(', ')}`);
  return path.join(out, names[0]);
}

async function readSvg(reportDir: string, file: string): Promise<XmlElement> {
  return parseXml(await fs.readFile(path.join(reportDir, file), 'utf8'));
}

/** `[label, role, points]` of every series in a plot, with the circles and polyline points counted. */
function seriesOf(root: XmlElement): Array<{ label: string; role?: string; markers: number; linePoints: number }> {
  return allElements(root)
    .filter((e) => e.attributes.class === 'series')
    .map((e) => ({
      label: e.attributes['data-label'],
      role: e.attributes['data-role'],
      markers: e.children.filter((c) => c.name === 'circle').length,
      linePoints: e.children.filter((c) => c.name === 'polyline').reduce((sum, p) => sum + p.attributes.points.trim().split(/\s+/).length, 0),
    }));
}

before(async () => {
  await fs.mkdir(dataDir);
  writeDataset(dataDir, 2000, 500);
});

describe('wash compare interrupted after two runs', () => {
  const out = path.join(scratch, 'compare');
  const args = ['compare', '--methods', 'wash,independent,papa', '--data', dataDir, ...TINY_RUN, '--out', out];
  let exitCode: number | null;
  let output = '';
  let reportDir = '';
  let results: ReportData;
  let finishedRuns: string[];

  before(async () => {
    const started = startWash(args);
    // Ctrl-C once results.json lists two finished runs: the third is starting or running.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const folder = await fs.readdir(out).then((names) => names.find((n) => n.startsWith('compare-'))).catch(() => undefined);
      const current = folder ? await readResults(path.join(out, folder)) : undefined;
      if (current && current.runs.filter((r) => r.status === 'finished').length >= 2) break;
      if (started.child.exitCode !== null || Date.now() > deadline) assert.fail(`compare ended or timed out before two runs finished:\n${started.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    started.child.kill('SIGINT');
    exitCode = await started.exit;
    output = started.output();
    reportDir = onlyFolder(out, 'compare-');
    results = (await readResults(reportDir)) as ReportData;
    finishedRuns = results.runs.filter((r) => r.status === 'finished').map((r) => r.runId);
  });

  it('exits with 130 and an interrupted report', (t) => {
    t.diagnostic(`third run: ${results.runs[2].status}`);
    assert.equal(exitCode, 130, output);
    assert.equal(results.state, 'interrupted');
    assert.deepEqual(results.runs.map((r) => r.runId), ['wash-shared-seed0', 'independent-separate-seed0', 'papa-shared-seed0']);
    assert.deepEqual(results.runs.slice(0, 2).map((r) => r.status), ['finished', 'finished']);
    // A Ctrl-C that lands while the third run loads its data reaches no run handler yet, so that run may still finish.
    assert.ok(['pending', 'interrupted', 'finished'].includes(results.runs[2].status), results.runs[2].status);
  });

  it('keeps the finished run folders', async () => {
    for (const runId of finishedRuns) {
      assert.equal((await readSummary(reportDir, runId)).status, 'finished', runId);
    }
  });

  it('copies summary numbers into the table', async () => {
    for (const runId of finishedRuns) {
      const summary = await readSummary(reportDir, runId);
      const group = results.groups.find((g) => g.runIds.includes(runId));
      assert.ok(group, `no group for ${runId}`);
      const traffic = summary.traffic as NonNullable<RunSummary['traffic']>;
      const expected: Record<string, number | undefined> = {
        membersMean: summary.members?.mean,
        membersMin: summary.members?.min,
        membersMax: summary.members?.max,
        ensemble: summary.ensemble,
        naiveAverage: summary.naiveAverage,
        averaged: summary.averaged,
        greedySoup: summary.greedySoup?.accuracy,
        valuesPerMemberPerStep: traffic.valuesPerMemberPerStep,
        methodBytesPerMemberPerStep: traffic.bytesPerMemberPerStep.shuffle + traffic.bytesPerMemberPerStep.reduce,
        minimumBytesPerMemberPerStep: traffic.minimumBytesPerMemberPerStep,
        totalBytes: traffic.totalBytes,
        wallSeconds: summary.wallSeconds,
      };
      for (const [id, value] of Object.entries(expected)) {
        assert.deepEqual(group.cells[id as keyof typeof group.cells], { mean: value, standardDeviation: null, count: 1 }, `${runId} ${id}`);
      }
      const epochs = await readEpochLines(path.join(reportDir, runId, 'metrics.jsonl'));
      assert.equal(epochs.length, 1, `${runId} epoch lines`);
      // Bytes per step times the steps of the last (only) epoch line.
      assert.equal(group.cells.methodBytesPerMember?.mean, (expected.methodBytesPerMemberPerStep as number) * epochs[0].step, `${runId} methodBytesPerMember`);
    }
    // Independent members exchange nothing; WASH shuffles.
    assert.equal(results.groups[1].cells.methodBytesPerMemberPerStep?.mean, 0);
    assert.ok((results.groups[0].cells.methodBytesPerMemberPerStep?.mean ?? 0) > 0);
  });

  it('writes the command and numbers to results.md', async () => {
    const markdown = await fs.readFile(path.join(reportDir, 'results.md'), 'utf8');
    assert.ok(markdown.includes(`wash ${args.join(' ')}`), markdown);
    const wash = await readSummary(reportDir, 'wash-shared-seed0');
    assert.ok(markdown.includes(`| wash | shared | 0 | ${formatPercent(wash.members?.mean as number)} |`), markdown);
  });

  it('plots one series per finished method', async () => {
    const labels = results.groups.filter((g) => g.seeds.length > 0).map((g) => g.label);
    assert.deepEqual(labels, results.runs.filter((r) => r.status === 'finished').map((r) => `${r.method} (${r.init})`));

    // One epoch: one point per curve.
    const accuracy = seriesOf(await readSvg(reportDir, 'accuracy.svg'));
    assert.deepEqual(accuracy, labels.flatMap((label) => [
      { label, role: 'members mean', markers: 1, linePoints: 1 },
      { label, role: 'running average', markers: 1, linePoints: 1 },
    ]));
    const bytes = seriesOf(await readSvg(reportDir, 'bytes-vs-accuracy.svg'));
    assert.deepEqual(bytes, labels.map((label) => ({ label, role: undefined, markers: 1, linePoints: 0 })));
    const distance = seriesOf(await readSvg(reportDir, 'member-distance.svg'));
    assert.deepEqual(distance, labels.map((label) => ({ label, role: undefined, markers: 1, linePoints: 1 })));
  });
});

describe('wash sweep over two values of p', () => {
  const out = path.join(scratch, 'sweep');
  let exitCode: number | null;
  let output = '';
  let reportDir = '';
  let results: ReportData;

  before(async () => {
    const started = startWash(['sweep', '--p', '0.001,0.1', '--seeds', '0', '--data', dataDir, ...TINY_RUN, '--out', out]);
    exitCode = await started.exit;
    output = started.output();
    reportDir = onlyFolder(out, 'sweep-');
    results = (await readResults(reportDir)) as ReportData;
  });

  it('finishes both runs', () => {
    assert.equal(exitCode, 0, output);
    assert.equal(results.state, 'finished');
    assert.deepEqual(results.runs.map((r) => [r.runId, r.status]), [['wash-p0.001-seed0', 'finished'], ['wash-p0.1-seed0', 'finished']]);
    assert.deepEqual(results.groups.map((g) => g.label), ['p = 0.001', 'p = 0.1']);
  });

  it('moves more bytes at a larger p', () => {
    const [low, high] = results.groups.map((g) => g.cells.methodBytesPerMemberPerStep?.mean ?? NaN);
    assert.ok(high > 10 * low, `${high} bytes per step at p = 0.1 against ${low} at p = 0.001`);
  });

  it('plots accuracy and bytes against p', async () => {
    const accuracy = seriesOf(await readSvg(reportDir, 'p-sweep.svg'));
    assert.deepEqual(accuracy.map((s) => [s.label, s.markers, s.linePoints]), [
      ['averaged, batch norm recomputed', 2, 2],
      ['ensemble', 2, 2],
      ["members' mean", 2, 2],
    ]);
    const bytes = seriesOf(await readSvg(reportDir, 'p-sweep-bytes.svg'));
    assert.deepEqual(bytes.map((s) => [s.label, s.markers, s.linePoints]), [['method bytes per member per step', 2, 2]]);
  });
});
