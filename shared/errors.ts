/**
 * The catalogue of errors that wash raises. Each code is stable, so scripts and
 * tests can match on it. `closeCode` is the WebSocket close code sent when the
 * error ends a connection (4000-4999 is the range RFC 6455 leaves to applications).
 */
export const ERRORS = {
  WASH_ERR_USAGE: { closeCode: 0, summary: 'invalid command line flag or value' },
  WASH_ERR_CONFIG: { closeCode: 0, summary: 'invalid run configuration' },
  WASH_ERR_BACKEND: { closeCode: 0, summary: 'a TensorFlow.js backend failed to load' },
  WASH_ERR_DATA_MISSING: { closeCode: 0, summary: 'a data set file is missing or empty' },
  WASH_ERR_DATA_FORMAT: { closeCode: 0, summary: 'a data set file has the wrong format' },
  WASH_ERR_DATA_TRUNCATED: { closeCode: 0, summary: 'a data set file is shorter than its header says' },
  WASH_ERR_DATA_MISMATCH: { closeCode: 0, summary: 'image and label files disagree' },
  WASH_ERR_DATA_LABEL: { closeCode: 0, summary: 'a label is out of range' },
  WASH_ERR_MODEL: { closeCode: 0, summary: 'a saved model is invalid or does not match' },
  WASH_ERR_TOKEN: { closeCode: 4001, summary: 'the run token is missing or wrong' },
  WASH_ERR_VERSION: { closeCode: 4002, summary: 'the peer speaks another protocol version' },
  WASH_ERR_MODEL_MISMATCH: { closeCode: 4003, summary: 'the peer built a different model' },
  WASH_ERR_FRAME_SIZE: { closeCode: 4004, summary: 'a frame is larger than the limit' },
  WASH_ERR_FRAME_MALFORMED: { closeCode: 4005, summary: 'a frame does not match the message schema' },
  WASH_ERR_NON_FINITE: { closeCode: 4006, summary: 'a frame carries a value that is not finite' },
  WASH_ERR_PLAN_MISMATCH: { closeCode: 4007, summary: 'a frame carries a value count that does not match the plan' },
  WASH_ERR_RUN_FULL: { closeCode: 4008, summary: 'the run already has all its members' },
  WASH_ERR_PEER_LOST: { closeCode: 4009, summary: 'a peer disconnected or stopped sending heartbeats' },
  WASH_ERR_PEER_UNREACHABLE: { closeCode: 0, summary: 'a peer address could not be reached' },
  WASH_ERR_COORDINATOR_UNREACHABLE: { closeCode: 0, summary: 'the coordinator could not be reached' },
  WASH_ERR_ADDRESS_IN_USE: { closeCode: 0, summary: 'a listen address is already in use' },
  WASH_ERR_ADDRESS_UNAVAILABLE: { closeCode: 0, summary: 'no local interface has the listen address' },
  WASH_ERR_ABORTED: { closeCode: 4010, summary: 'the run was aborted' },
  WASH_ERR_TIMEOUT: { closeCode: 4011, summary: 'an operation timed out' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class WashError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WashError';
    this.code = code;
  }

  /** WebSocket close code for this error, or 1011 (internal error) where the catalogue sets none. */
  get closeCode(): number {
    return ERRORS[this.code].closeCode || 1011;
  }
}

export function isWashError(error: unknown, code?: ErrorCode): error is WashError {
  return error instanceof WashError && (code === undefined || error.code === code);
}

/** Finds the catalogue entry whose close code a peer sent, so a receiver can rebuild the error. */
export function codeForCloseCode(closeCode: number): ErrorCode | undefined {
  for (const [code, entry] of Object.entries(ERRORS)) {
    if (entry.closeCode === closeCode && closeCode !== 0) return code as ErrorCode;
  }
  return undefined;
}
