/** Cosine learning-rate decay from `baseLr` at step 0 to 0 at `totalSteps`, as in SGDR without restarts. */
export function cosineLearningRate(baseLr: number, step: number, totalSteps: number): number {
  if (totalSteps <= 0) return baseLr;
  const progress = Math.min(Math.max(step / totalSteps, 0), 1);
  return 0.5 * baseLr * (1 + Math.cos(Math.PI * progress));
}
