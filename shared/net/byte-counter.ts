import { ByteCounts, Purpose, PURPOSES } from '../protocol/messages';

/** Bytes a WebSocket frame header adds to a payload (RFC 6455 section 5.2); client frames carry a 4-byte mask. */
export function frameOverhead(payloadBytes: number, masked: boolean): number {
  let length = 8;
  if (payloadBytes < 126) length = 0;
  else if (payloadBytes < 65_536) length = 2;
  return 2 + length + (masked ? 4 : 0);
}

export function emptyCounts(): ByteCounts {
  return Object.fromEntries(PURPOSES.map((p) => [p, { sent: 0, received: 0 }])) as ByteCounts;
}

/** Counts the bytes a worker puts on and takes off the wire, by purpose, WebSocket framing included. */
export class ByteCounter {
  readonly counts: ByteCounts = emptyCounts();

  sent(purpose: Purpose, payloadBytes: number, masked: boolean): void {
    this.counts[purpose].sent += payloadBytes + frameOverhead(payloadBytes, masked);
  }

  received(purpose: Purpose, payloadBytes: number, masked: boolean): void {
    this.counts[purpose].received += payloadBytes + frameOverhead(payloadBytes, masked);
  }

  snapshot(): ByteCounts {
    return JSON.parse(JSON.stringify(this.counts));
  }
}

export function addCounts(a: ByteCounts, b: ByteCounts): ByteCounts {
  const out = emptyCounts();
  for (const p of PURPOSES) {
    out[p].sent = (a[p]?.sent ?? 0) + (b[p]?.sent ?? 0);
    out[p].received = (a[p]?.received ?? 0) + (b[p]?.received ?? 0);
  }
  return out;
}
