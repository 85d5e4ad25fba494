import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EpochLine } from '../coordinator/epoch-tracker';
import { RunSummary } from '../coordinator/summary';
import { buildReportData, ReportInput } from '../report/report-data';
import { renderMarkdown } from '../report/report-markdown';
import { reportPlots } from '../report/report-plots';
import { RunRecord } from '../report/run-record';
import { renderSvg } from '../report/svg-plot';
import { allElements, parseXml } from '../report/xml-check';

const noBytes = { sent: 0, received: 0 };

/** A finished run whose every accuracy is `accuracy`, with `shuffle` method bytes per member per step over `steps` steps. */
function finished(method: 'wash' | 'papa', seed: number, accuracy: number, shuffle: number, steps: number, epochs: number): RunRecord {
  const summary: RunSummary = {
    status: 'finished', runId: `${method}-shared-seed${seed}`, method, init: 'shared', model: 'mlp', dataset: 'mnist', membersCount: 2,
    members: { mean: accuracy, min: accuracy - 0.01, max: accuracy + 0.01, each: [accuracy - 0.01, accuracy + 0.01] },
    ensemble: accuracy, naiveAverage: accuracy, averaged: accuracy, greedySoup: { accuracy, validation: accuracy, ranks: [0] },
    traffic: {
      bytesPerMemberPerStep: { shuffle, reduce: 0, control: 50, gather: 1000, evaluation: 1000 },
      valuesPerMemberPerStep: shuffle / 4, minimumBytesPerMemberPerStep: shuffle, overheadRatio: 1, totalBytes: 1_000_000,
    },
    wallSeconds: 10 + seed,
  };
  const lines: EpochLine[] = Array.from({ length: epochs }, (_, i) => ({
    epoch: i + 1, step: ((i + 1) * steps) / epochs, members: [], meanLoss: 1, meanTestAccuracy: accuracy, averagedTestAccuracy: accuracy, memberDistance: 0.5 + seed,
    bytes: { shuffle: noBytes, reduce: noBytes, control: noBytes, gather: noBytes, evaluation: noBytes },
  }));
  return { runId: summary.runId, method, init: 'shared', seed, p: 0.01, status: 'finished', summary, epochs: lines };
}

const pending = (method: 'wash' | 'papa', seed: number): RunRecord => ({ runId: `${method}-shared-seed${seed}`, method, init: 'shared', seed, p: 0.01, status: 'pending', epochs: [] });

const input: ReportInput = {
  kind: 'compare',
  state: 'in progress',
  command: 'wash compare --methods wash,papa --seeds 0,1',
  startedAt: '2026-01-01T00:00:00.000Z',
  settings: { model: 'mlp', dataset: 'mnist', members: 2, epochs: 3 },
  records: [finished('wash', 0, 0.7, 4000, 12, 3), finished('papa', 0, 0.6, 100, 12, 3), finished('wash', 1, 0.74, 4400, 12, 3), pending('papa', 1)],
};
const data = buildReportData(input);

describe('report table', () => {
  it('groups runs by method in plan order', () => {
    assert.deepEqual(data.groups.map((g) => [g.label, g.seeds, g.planned]), [['wash', [0, 1], 2], ['papa', [0], 2]]);
  });

  it('averages over seeds', () => {
    const wash = data.groups[0].cells;
    // Accuracies 0.70 and 0.74: mean 0.72; deviations of 0.02, so sqrt(2 * 0.02^2 / 1) = 0.028284.
    assert.ok(Math.abs((wash.averaged?.mean ?? 0) - 0.72) < 1e-12);
    assert.ok(Math.abs((wash.averaged?.standardDeviation ?? 0) - 0.02 * Math.SQRT2) < 1e-12);
    // 4000 and 4400 bytes per step over 12 steps: 48000 and 52800, mean 50400, deviation 4800 / sqrt(2) = 3394.11.
    assert.equal(wash.methodBytesPerMember?.mean, 50400);
    assert.ok(Math.abs((wash.methodBytesPerMember?.standardDeviation ?? 0) - 4800 / Math.SQRT2) < 1e-9);
    // Wall time 10 s and 11 s.
    assert.equal(wash.wallSeconds?.mean, 10.5);
  });

  it('copies a single seed unchanged', () => {
    const papa = data.groups[1].cells;
    assert.deepEqual(papa.membersMean, { mean: 0.6, standardDeviation: null, count: 1 });
    assert.deepEqual(papa.methodBytesPerMemberPerStep, { mean: 100, standardDeviation: null, count: 1 });
    assert.deepEqual(papa.methodBytesPerMember, { mean: 1200, standardDeviation: null, count: 1 });
  });

  it('averages epoch curves over seeds', () => {
    // Member distance 0.5 for seed 0 and 1.5 for seed 1 at every epoch.
    assert.deepEqual(data.groups[0].epochs.map((e) => e.memberDistance?.mean), [1, 1, 1]);
    assert.deepEqual(data.groups[0].epochs.map((e) => e.epoch), [1, 2, 3]);
  });

  it('writes mean and deviation in results.md', () => {
    const markdown = renderMarkdown(data);
    assert.ok(markdown.includes('wash compare --methods wash,papa --seeds 0,1'));
    assert.ok(markdown.includes('State: in progress, 3 of 4 runs done.'));
    // 72.00 ± 2.83 is 0.72 ± 0.028284 in percent; 49.22 KiB ± 3.31 KiB is 50400 ± 3394 bytes.
    assert.ok(markdown.includes('| wash | shared | 0, 1 | 72.00 ± 2.83 |'), markdown);
    assert.ok(markdown.includes('49.22 KiB ± 3.31 KiB'), markdown);
    assert.ok(markdown.includes('| papa | shared | 0 (1 of 2) | 60.00 |'), markdown);
    assert.ok(markdown.includes('| papa-shared-seed1 | papa | shared | - | 1 | pending |'), markdown);
  });

  it('plots one series per method with a point per epoch', () => {
    const plots = Object.fromEntries(reportPlots(data).map(({ file, spec }) => [file, parseXml(renderSvg(spec))]));
    assert.deepEqual(Object.keys(plots), ['accuracy.svg', 'bytes-vs-accuracy.svg', 'member-distance.svg']);
    const series = (file: string): Array<[string | undefined, string | undefined, string | undefined]> =>
      allElements(plots[file]).filter((e) => e.attributes.class === 'series').map((e) => [e.attributes['data-label'], e.attributes['data-role'], e.attributes['data-points']]);
    assert.deepEqual(series('accuracy.svg'), [['wash', 'members mean', '3'], ['wash', 'running average', '3'], ['papa', 'members mean', '3'], ['papa', 'running average', '3']]);
    assert.deepEqual(series('bytes-vs-accuracy.svg'), [['wash', undefined, '1'], ['papa', undefined, '1']]);
    assert.deepEqual(series('member-distance.svg'), [['wash', undefined, '3'], ['papa', undefined, '3']]);
  });

  it('adds sweep plots and orders p', () => {
    const sweep = buildReportData({
      ...input,
      kind: 'sweep',
      records: [{ ...finished('wash', 0, 0.7, 40000, 12, 1), p: 0.1 }, { ...finished('wash', 0, 0.72, 400, 12, 1), p: 0.001 }],
    });
    assert.deepEqual(sweep.groups.map((g) => g.label), ['p = 0.1', 'p = 0.001']);
    const plots = Object.fromEntries(reportPlots(sweep).map(({ file, spec }) => [file, spec]));
    assert.deepEqual(Object.keys(plots), ['p-sweep.svg', 'p-sweep-bytes.svg', 'accuracy.svg', 'bytes-vs-accuracy.svg', 'member-distance.svg']);
    assert.deepEqual(plots['p-sweep.svg'].series.map((s) => s.points.map((p) => p.x)), [[0.001, 0.1], [0.001, 0.1], [0.001, 0.1]]);
    assert.deepEqual(plots['p-sweep-bytes.svg'].series[0].points.map((p) => [p.x, p.y]), [[0.001, 400], [0.1, 40000]]);
  });
});
