import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanAndDeviation } from '../report/statistics';
import { formatBytes, formatCompact, formatSiBytes, formatStatistic } from '../report/report-format';

const close = (actual: number | null | undefined, expected: number, label: string): void => {
  assert.equal(typeof actual, 'number', `${label} is missing`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-12, `${label}: ${actual} is not ${expected}`);
};

describe('meanAndDeviation', () => {
  it('averages three seeds', () => {
    // Mean (0.70 + 0.72 + 0.74) / 3 = 0.72; deviations -0.02, 0, 0.02;
    // squares 0.0004 + 0 + 0.0004 = 0.0008; / (3 - 1) = 0.0004; sqrt = 0.02.
    const statistic = meanAndDeviation([0.7, 0.72, 0.74]);
    close(statistic?.mean, 0.72, 'mean');
    close(statistic?.standardDeviation, 0.02, 'standard deviation');
    assert.equal(statistic?.count, 3);
  });

  it('uses n - 1 for two seeds', () => {
    // Mean 3; deviations -1 and 1; squares 2; / (2 - 1) = 2; sqrt(2) = 1.41421356...
    const statistic = meanAndDeviation([2, 4]);
    close(statistic?.mean, 3, 'mean');
    close(statistic?.standardDeviation, Math.SQRT2, 'standard deviation');
  });

  it('gives no deviation for one seed', () => {
    assert.deepEqual(meanAndDeviation([0.5]), { mean: 0.5, standardDeviation: null, count: 1 });
  });

  it('returns null for no values', () => {
    assert.equal(meanAndDeviation([]), null);
  });

  it('gives zero deviation for equal values', () => {
    assert.deepEqual(meanAndDeviation([7, 7, 7]), { mean: 7, standardDeviation: 0, count: 3 });
  });
});

describe('report formatting', () => {
  it('formats mean and deviation', () => {
    // 0.72 and 0.02 as percentages with two decimals.
    assert.equal(formatStatistic({ mean: 0.72, standardDeviation: 0.02, count: 3 }, (v) => (v * 100).toFixed(2)), '72.00 ± 2.00');
    assert.equal(formatStatistic({ mean: 0.72, standardDeviation: null, count: 1 }, (v) => (v * 100).toFixed(2)), '72.00');
    assert.equal(formatStatistic(null, String), '-');
  });

  it('formats bytes with binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    // 4456 / 1024 = 4.3516
    assert.equal(formatBytes(4456), '4.35 KiB');
    // 3 * 2^20 + 2^19 = 3.5 MiB
    assert.equal(formatBytes(3.5 * 2 ** 20), '3.50 MiB');
  });

  it('formats axis numbers', () => {
    assert.equal(formatCompact(0), '0');
    assert.equal(formatCompact(0.001), '0.001');
    assert.equal(formatCompact(0.0001), '1e-4');
    assert.equal(formatCompact(0.00025), '2.5e-4');
    assert.equal(formatCompact(72.5), '72.5');
    assert.equal(formatCompact(200000), '2e5');
    assert.equal(formatSiBytes(500), '500');
    assert.equal(formatSiBytes(10_000), '10k');
    assert.equal(formatSiBytes(2_500_000), '2.5M');
  });
});
