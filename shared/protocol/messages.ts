import type { RunConfig } from '../config';

/** Bumped whenever a message changes shape; peers of another version are rejected. */
export const PROTOCOL_VERSION = 1;

/** Traffic purposes that byte counters keep apart. */
export const PURPOSES = ['shuffle', 'reduce', 'control', 'gather', 'evaluation'] as const;
export type Purpose = (typeof PURPOSES)[number];
export type ByteCounts = Record<Purpose, { sent: number; received: number }>;

/** A peer's address as workers reach it. */
export interface PeerAddress {
  rank: number;
  url: string;
}

/** Metrics of one member at the end of an epoch. */
export interface EpochMetrics {
  epoch: number;
  step: number;
  loss: number;
  testAccuracy: number;
  seconds: number;
}

/** Messages on a worker's control socket to the coordinator. */
export type WorkerMessage =
  /** Worker → coordinator, first frame: who it is and where peers reach it. */
  | { type: 'hello'; protocol: number; host: string; pid: number; peerUrl: string; backend: string }
  /** Worker → coordinator: backend loaded, data loaded and member built; carries the model signature. */
  | { type: 'ready'; rank: number; backend: string; signature: string; usingGpu?: boolean }
  /** Worker → coordinator: links to every peer are open. */
  | { type: 'meshReady'; rank: number }
  /** Worker → coordinator, a few times a second: training progress. */
  | { type: 'progress'; rank: number; step: number; epoch: number; loss: number; samplesPerSecond: number; bytes: ByteCounts }
  /** Worker → coordinator: metrics at an epoch end. */
  | { type: 'epochEnd'; rank: number; metrics: EpochMetrics; bytes: ByteCounts }
  /** Worker → coordinator, for epoch-end evaluation: the member's weights as raw float32 bytes. */
  | { type: 'snapshot'; rank: number; epoch: number; parameters: Uint8Array[]; statistics: Uint8Array[] }
  /** Worker → coordinator after the last step: final weights and traffic totals. */
  | { type: 'final'; rank: number; parameters: Uint8Array[]; statistics: Uint8Array[]; bytes: ByteCounts; steps: number; valuesMoved: number; trainSeconds: number }
  /** Either side: the run cannot go on. */
  | { type: 'abort'; code: string; message: string; rank?: number };

/** Messages from the coordinator to a worker. */
export type CoordinatorMessage =
  /** The rank given to the worker and the whole run configuration. */
  | { type: 'welcome'; rank: number; config: RunConfig }
  /** Every worker's peer address, sent once all are ready. */
  | { type: 'peers'; peers: PeerAddress[] }
  /** Start training; the first shuffle-plan seeds ride along. */
  | { type: 'start'; firstStep: number; seeds: number[] }
  /** More shuffle-plan seeds, sent ahead of the steps that use them. */
  | { type: 'seeds'; firstStep: number; seeds: number[] }
  /** Send the member's weights for epoch-end evaluation. */
  | { type: 'snapshotRequest'; epoch: number }
  /** The run finished; the worker may exit. */
  | { type: 'done' }
  /** Stop now: another member failed or the run was interrupted. */
  | { type: 'abort'; code: string; message: string; rank?: number };

/** Messages on the heartbeat socket, sent by a worker's heartbeat thread. */
export type HeartbeatMessage = { type: 'heartbeat'; rank: number; step: number; busyMs: number };

/** Messages between workers on the peer mesh. */
export type PeerMessage =
  /** Dialing worker → listening worker, first frame: its rank, run and version. */
  | { type: 'peerHello'; protocol: number; runId: string; rank: number }
  /** Values of one shuffle step, float32 in plan order (weights, then momentum for WASH+Opt). */
  | { type: 'shuffle'; step: number; from: number; values: Uint8Array }
  /** One chunk of a ring all-reduce. */
  | { type: 'reduce'; op: number; phase: number; from: number; values: Uint8Array }
  /** Either side: the run cannot go on. */
  | { type: 'abort'; code: string; message: string; rank?: number };

/** Messages of `wash status`. */
export type StatusMessage = { type: 'statusRequest' };

/** Kind of socket a connection is, from the `x-wash-role` header of its upgrade request. */
export const ROLES = ['worker', 'heartbeat', 'status'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_HEADER = 'x-wash-token';
export const ROLE_HEADER = 'x-wash-role';
export const RANK_HEADER = 'x-wash-rank';
