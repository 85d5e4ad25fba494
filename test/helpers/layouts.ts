import { ParameterLayout } from '../../shared/model/parameters';
import { ShuffleSchedule } from '../../shared/shuffle/schedule';

/** A layout with the given tensor sizes, one layer per tensor, depth = index. */
export function syntheticLayout(sizes: number[]): ParameterLayout {
  return {
    parameters: sizes.map((size, i) => ({ name: `layer${i}/kernel`, layerName: `layer${i}`, shape: [size], size, depth: i, isBatchNorm: false })),
    depthCount: sizes.length,
    statistics: [],
    totalSize: sizes.reduce((a, b) => a + b, 0),
    signature: 'synthetic',
  };
}

export const constantSchedule = (p: number): ShuffleSchedule => ({
  p, depthDecay: 'constant', warmupSteps: 0, decay: 'none', finalP: 0, totalSteps: 1000, correctFixedPoints: false,
});

