import * as tf from '@tensorflow/tfjs';
import { RunConfig } from '../shared/config';
import { DatasetSplits } from '../shared/data';
import { recomputeBatchNorm } from '../shared/eval/batch-norm';
import { accuracyOf, predictProbabilities } from '../shared/eval/predict';
import { averageWeights, MemberWeights, writeMemberWeights } from '../shared/eval/weights';
import { Logger } from '../shared/log';
import { ByteCounts, EpochMetrics } from '../shared/protocol/messages';
import { addCounts, emptyCounts } from '../shared/net/byte-counter';
import { meanDistanceToCentroid } from './member-distance';
import { RunFolder } from './run-folder';

interface EpochRecord {
  metrics: Map<number, EpochMetrics>;
  bytes: Map<number, ByteCounts>;
  snapshots: Map<number, MemberWeights>;
}

export interface EpochLine {
  epoch: number;
  step: number;
  members: Array<{ rank: number; loss: number; testAccuracy: number; seconds: number }>;
  meanLoss: number;
  meanTestAccuracy: number;
  /** Test accuracy of the members' weight average with recomputed batch-norm statistics (with trackAverage). */
  averagedTestAccuracy?: number;
  /** Mean L2 distance of members to their centroid (with trackAverage). */
  memberDistance?: number;
  /** Bytes sent by all members so far, by purpose. */
  bytes: ByteCounts;
}

/**
 * Collects every member's epoch-end metrics (and weights, when the run tracks
 * the running average) and appends one line per epoch to `metrics.jsonl` once
 * all members have reported that epoch.
 */
export class EpochTracker {
  readonly #epochs = new Map<number, EpochRecord>();
  #writing: Promise<void> = Promise.resolve();

  constructor(private readonly context: { config: RunConfig; data: DatasetSplits; folder: RunFolder; scratch: () => tf.LayersModel; log: Logger }) {}

  addEpoch(rank: number, metrics: EpochMetrics, bytes: ByteCounts): void {
    const record = this.#record(metrics.epoch);
    record.metrics.set(rank, metrics);
    record.bytes.set(rank, bytes);
    this.#maybeWrite(metrics.epoch);
  }

  addSnapshot(rank: number, epoch: number, weights: MemberWeights): void {
    this.#record(epoch).snapshots.set(rank, weights);
    this.#maybeWrite(epoch);
  }

  /** Waits for lines being written. */
  flush(): Promise<void> {
    return this.#writing;
  }

  #record(epoch: number): EpochRecord {
    let record = this.#epochs.get(epoch);
    if (!record) {
      record = { metrics: new Map(), bytes: new Map(), snapshots: new Map() };
      this.#epochs.set(epoch, record);
    }
    return record;
  }

  #maybeWrite(epoch: number): void {
    const { config } = this.context;
    const record = this.#epochs.get(epoch) as EpochRecord;
    if (record.metrics.size < config.members) return;
    if (config.trackAverage && record.snapshots.size < config.members) return;
    this.#epochs.delete(epoch);
    const line = this.#line(epoch, record);
    this.#writing = this.#writing.then(() => this.context.folder.appendJsonLine('metrics.jsonl', line)).catch((error) => {
      this.context.log.error({ err: (error as Error).message }, 'cannot append metrics line');
    });
  }

  #line(epoch: number, record: EpochRecord): EpochLine {
    const members = [...record.metrics.entries()].sort((a, b) => a[0] - b[0]).map(([rank, m]) => ({ rank, loss: m.loss, testAccuracy: m.testAccuracy, seconds: m.seconds }));
    const line: EpochLine = {
      epoch,
      step: Math.max(...members.map((m) => record.metrics.get(m.rank)?.step ?? 0)),
      members,
      meanLoss: members.reduce((a, m) => a + m.loss, 0) / members.length,
      meanTestAccuracy: members.reduce((a, m) => a + m.testAccuracy, 0) / members.length,
      bytes: [...record.bytes.values()].reduce(addCounts, emptyCounts()),
    };
    if (record.snapshots.size > 0) {
      const snapshots = [...record.snapshots.entries()].sort((a, b) => a[0] - b[0]).map(([, w]) => w);
      line.memberDistance = meanDistanceToCentroid(snapshots.map((w) => w.parameters));
      const { data } = this.context;
      const scratch = this.context.scratch();
      try {
        writeMemberWeights(scratch, averageWeights(snapshots));
        recomputeBatchNorm(scratch, data.train, data.normalization);
        line.averagedTestAccuracy = accuracyOf(predictProbabilities(scratch, data.test, data.normalization), data.test.labels, data.test.numClasses);
      } finally {
        scratch.dispose();
      }
    }
    this.context.log.info({ epoch, meanTestAccuracy: line.meanTestAccuracy, averagedTestAccuracy: line.averagedTestAccuracy }, 'epoch finished');
    return line;
  }
}
