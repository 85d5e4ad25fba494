import { formatCompact } from './report-format';

export type ScaleKind = 'linear' | 'log';

export interface Tick {
  value: number;
  /** Pixel coordinate along the axis. */
  position: number;
  label: string;
}

export interface Scale {
  kind: ScaleKind;
  /** Maps a data value to a pixel coordinate along the axis. */
  toPixel(value: number): number;
  ticks: Tick[];
  /** Pixel coordinate between the slot for 0 and the decades of a log scale; absent without that slot. */
  breakAt?: number;
  /** Whether a value sits in the slot for 0 rather than on the scale proper. */
  inZeroSlot(value: number): boolean;
}

export interface ScaleOptions {
  kind: ScaleKind;
  /** Pixel coordinates of the domain's lower and upper end; for a y axis the lower end is the larger pixel value. */
  range: [number, number];
  /** Ticks only at whole numbers, for epochs. */
  integer?: boolean;
  /** Tick label of a value; `formatCompact` by default. */
  format?: (value: number) => string;
}

/** Ticks aimed at on a linear axis; the nice step makes the real count 4 to 10. */
const LINEAR_TICK_TARGET = 5;

/** Share of a log axis set apart at its lower end for the value 0, which has no logarithm. */
const ZERO_SLOT_SHARE = 0.1;

/** Builds a scale whose domain covers every finite value in `values`, with ticks at round numbers. */
export function makeScale(values: readonly number[], options: ScaleOptions): Scale {
  const finite = values.filter((value) => Number.isFinite(value));
  return options.kind === 'log' ? logScale(finite, options) : linearScale(finite, options);
}

/** Returns 1, 2 or 5 times a power of ten, the smallest of those at least `raw`. */
export function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  for (const nice of [1, 2, 5]) {
    if (fraction <= nice) return nice * power;
  }
  return 10 * power;
}

function linearScale(values: number[], options: ScaleOptions): Scale {
  const format = options.format ?? formatCompact;
  let low = values.length ? Math.min(...values) : 0;
  let high = values.length ? Math.max(...values) : 1;
  if (low === high) {
    const pad = options.integer ? 1 : Math.abs(low) * 0.1 || 1;
    low -= pad;
    high += pad;
  }

  let step = niceStep((high - low) / LINEAR_TICK_TARGET);
  if (options.integer) step = Math.max(1, Math.round(step));
  low = Math.floor(low / step) * step;
  high = Math.ceil(high / step) * step;

  const [start, end] = options.range;
  const toPixel = (value: number): number => start + ((value - low) / (high - low)) * (end - start);
  const ticks: Tick[] = [];
  const count = Math.round((high - low) / step);
  for (let i = 0; i <= count; i++) {
    // Rounding to 12 digits removes the float drift of low + i * step (0.30000000000000004).
    const value = Number((low + i * step).toPrecision(12));
    ticks.push({ value, position: toPixel(value), label: format(value) });
  }
  return { kind: 'linear', toPixel, ticks, inZeroSlot: () => false };
}

/**
 * Builds a base-10 log scale over whole decades. Values of 0 or below have no
 * logarithm, so they sit in a slot at the lower end labelled 0. The report
 * plots only byte counts and probabilities there, which are never negative.
 */
function logScale(values: number[], options: ScaleOptions): Scale {
  const format = options.format ?? formatCompact;
  const positive = values.filter((value) => value > 0);
  const hasZero = values.some((value) => value <= 0);
  let lowExponent = positive.length ? Math.floor(Math.log10(Math.min(...positive))) : 0;
  const highExponent = positive.length ? Math.ceil(Math.log10(Math.max(...positive))) : 1;
  // A single exact power of ten gives one exponent; widen to the decade below it.
  if (lowExponent === highExponent) lowExponent -= 1;

  const [start, end] = options.range;
  const logStart = hasZero ? start + ZERO_SLOT_SHARE * (end - start) : start;
  const toPixel = (value: number): number => {
    if (value <= 0) return start;
    return logStart + ((Math.log10(value) - lowExponent) / (highExponent - lowExponent)) * (end - logStart);
  };

  const ticks: Tick[] = [];
  if (hasZero) ticks.push({ value: 0, position: start, label: format(0) });
  // Over two decades or fewer, 2x and 5x ticks add detail and still fit.
  const multiples = highExponent - lowExponent <= 2 ? [1, 2, 5] : [1];
  for (let exponent = lowExponent; exponent <= highExponent; exponent++) {
    for (const multiple of multiples) {
      const value = Number((multiple * 10 ** exponent).toPrecision(12));
      if (exponent === highExponent && multiple > 1) break;
      ticks.push({ value, position: toPixel(value), label: format(value) });
    }
  }
  const breakAt = hasZero ? (start + logStart) / 2 : undefined;
  return { kind: 'log', toPixel, ticks, breakAt, inZeroSlot: (value) => hasZero && value <= 0 };
}
