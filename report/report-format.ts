import { Statistic } from './statistics';

/** Formats an accuracy in [0, 1] as a percentage with two decimals, without the sign. */
export function formatPercent(value: number): string {
  return (value * 100).toFixed(2);
}

/** Formats a byte count with binary units, as `wash run` prints traffic. */
export function formatBytes(value: number): string {
  if (Math.abs(value) >= 2 ** 30) return `${(value / 2 ** 30).toFixed(2)} GiB`;
  if (Math.abs(value) >= 2 ** 20) return `${(value / 2 ** 20).toFixed(2)} MiB`;
  if (Math.abs(value) >= 1024) return `${(value / 1024).toFixed(2)} KiB`;
  return `${value.toFixed(0)} B`;
}

/**
 * Formats a statistic as `mean ± deviation`, or the mean alone for a single
 * seed, with `format` applied to both parts; `-` when the value is missing.
 */
export function formatStatistic(statistic: Statistic | null, format: (value: number) => string): string {
  if (!statistic) return '-';
  if (statistic.standardDeviation === null) return format(statistic.mean);
  return `${format(statistic.mean)} ± ${format(statistic.standardDeviation)}`;
}

/**
 * Formats a number for an axis tick or a legend: plain decimals between 0.001
 * and 100000, powers of ten as `1e-4` outside that range.
 */
export function formatCompact(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e5) {
    const [mantissa, exponent] = value.toExponential().split('e');
    return `${Number(Number(mantissa).toPrecision(3))}e${Number(exponent)}`;
  }
  return `${Number(value.toPrecision(4))}`;
}

/** Formats a byte count with SI prefixes for an axis tick: 500, 10k, 2.5M. */
export function formatSiBytes(value: number): string {
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, prefix] of units) {
    if (Math.abs(value) >= size) return `${Number((value / size).toPrecision(3))}${prefix}`;
  }
  return `${Number(value.toPrecision(3))}`;
}
