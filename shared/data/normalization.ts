import { WashError } from '../errors';
import { ImageSet } from './image-set';

/** Per-channel mean and standard deviation, in 0..1 pixel units (a byte divided by 255). */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * Smallest standard deviation used: one pixel step. A channel that is constant
 * over the training set would otherwise divide by zero, and with this floor its
 * normalized values stay finite.
 */
const MIN_STD = 1 / 255;

/**
 * Computes the per-channel mean and population standard deviation of a set's
 * pixels. It counts byte values per channel first, so the cost is one pass
 * over the bytes with no floating point per pixel.
 */
export function computeNormalization(set: ImageSet): Normalization {
  const { channels } = set;
  const histogram = new Float64Array(256 * channels);
  const { images } = set;
  if (channels === 1) {
    for (let i = 0; i < images.length; i++) histogram[images[i]]++;
  } else {
    for (let channel = 0; channel < channels; channel++) {
      const offset = channel * 256;
      for (let i = channel; i < images.length; i += channels) histogram[offset + images[i]]++;
    }
  }

  const mean: number[] = [];
  const std: number[] = [];
  for (let channel = 0; channel < channels; channel++) {
    let count = 0;
    let sum = 0;
    let sumOfSquares = 0;
    for (let value = 0; value < 256; value++) {
      const n = histogram[channel * 256 + value];
      const scaled = value / 255;
      count += n;
      sum += n * scaled;
      sumOfSquares += n * scaled * scaled;
    }
    const channelMean = count > 0 ? sum / count : 0;
    const variance = count > 0 ? Math.max(0, sumOfSquares / count - channelMean * channelMean) : 0;
    mean.push(channelMean);
    std.push(Math.max(MIN_STD, Math.sqrt(variance)));
  }
  return { mean, std };
}

/**
 * Builds a lookup table from byte value to normalized float, 256 entries per
 * channel: entry `channel * 256 + v` is `(v / 255 - mean[channel]) / std[channel]`.
 * Raises WASH_ERR_CONFIG when the normalization does not have one finite mean
 * and one positive std per channel.
 */
export function normalizationTable(normalization: Normalization, channels: number): Float32Array {
  const { mean, std } = normalization;
  if (mean.length !== channels || std.length !== channels) {
    throw new WashError(
      'WASH_ERR_CONFIG',
      `normalization has ${mean.length} means and ${std.length} standard deviations, expected ${channels} of each (one per channel)`,
    );
  }
  const table = new Float32Array(256 * channels);
  for (let channel = 0; channel < channels; channel++) {
    if (!Number.isFinite(mean[channel]) || !(std[channel] > 0) || !Number.isFinite(std[channel])) {
      throw new WashError(
        'WASH_ERR_CONFIG',
        `invalid normalization for channel ${channel}: mean ${mean[channel]}, std ${std[channel]}; expected a finite mean and a positive finite std`,
      );
    }
    for (let value = 0; value < 256; value++) {
      table[channel * 256 + value] = (value / 255 - mean[channel]) / std[channel];
    }
  }
  return table;
}
