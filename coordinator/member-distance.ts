/**
 * Mean L2 distance of the members' flattened parameters to their centroid:
 * (1/N) * sum_i || w_i - mean_j w_j ||. Zero when all members are equal; it
 * grows as members drift apart, which shows whether they stay in one basin.
 */
export function meanDistanceToCentroid(members: Float32Array[][]): number {
  if (members.length === 0) return 0;
  const n = members.length;
  let total = 0;
  const squared = new Float64Array(n);
  for (let t = 0; t < members[0].length; t++) {
    const size = members[0][t].length;
    for (let i = 0; i < size; i++) {
      let mean = 0;
      for (let m = 0; m < n; m++) mean += members[m][t][i];
      mean /= n;
      for (let m = 0; m < n; m++) {
        const d = members[m][t][i] - mean;
        squared[m] += d * d;
      }
    }
  }
  for (let m = 0; m < n; m++) total += Math.sqrt(squared[m]);
  return total / n;
}
