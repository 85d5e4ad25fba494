/** Mean and spread of one quantity over the seeds of a group. */
export interface Statistic {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); null for a single value. */
  standardDeviation: number | null;
  count: number;
}

/**
 * Computes the mean and the sample standard deviation of `values`. Returns
 * null for an empty list, so a missing quantity never shows up as zero.
 */
export function meanAndDeviation(values: readonly number[]): Statistic | null {
  const count = values.length;
  if (count === 0) return null;

  let sum = 0;
  for (const value of values) sum += value;
  const mean = sum / count;
  if (count === 1) return { mean, standardDeviation: null, count };

  let squares = 0;
  for (const value of values) squares += (value - mean) ** 2;
  return { mean, standardDeviation: Math.sqrt(squares / (count - 1)), count };
}
