import WebSocket from 'ws';
import { RunStatus } from '../../coordinator/run-status';
import { WashError } from '../../shared/errors';
import { connect } from '../../shared/net/sockets';
import { decodeFrame, encodeFrame } from '../../shared/protocol/codec';
import { CoordinatorMessage } from '../../shared/protocol/messages';
import { FlagSpecs, parseFlags } from '../flags';

export const STATUS_FLAGS: FlagSpecs = {
  coordinator: { type: 'string', placeholder: 'URL', default: 'ws://127.0.0.1:7070', help: 'coordinator address, ws://HOST:PORT' },
  token: { type: 'string', placeholder: 'TOKEN', default: '', help: 'run token (default: $WASH_TOKEN)' },
  json: { type: 'bool', default: false, help: 'print the raw status as JSON' },
};

/** Asks a coordinator for its run's status over a status socket. */
export async function fetchStatus(url: string, token: string, timeoutMs = 5000): Promise<RunStatus> {
  const socket = await connect(url, { token, role: 'status', maxPayload: 16 * 1024 * 1024, label: 'coordinator', timeoutMs }, 'WASH_ERR_COORDINATOR_UNREACHABLE');
  try {
    return await new Promise<RunStatus>((resolve, reject) => {
      const timer = setTimeout(() => reject(new WashError('WASH_ERR_TIMEOUT', `coordinator at ${url} sent no status within ${timeoutMs} ms`)), timeoutMs);
      socket.once('message', (data: Buffer) => {
        clearTimeout(timer);
        try {
          const message = decodeFrame<CoordinatorMessage | { type: 'status'; status: RunStatus }>('coordinator', data, `coordinator ${url}`, 16 * 1024 * 1024);
          if (message.type !== 'status') throw new WashError('WASH_ERR_FRAME_MALFORMED', `coordinator at ${url} responded with ${message.type} instead of status`);
          resolve(message.status);
        } catch (error) {
          reject(error);
        }
      });
      socket.once('close', (code, reason) => {
        clearTimeout(timer);
        reject(new WashError('WASH_ERR_PEER_LOST', `coordinator at ${url} closed the status socket: ${reason.toString() || code}`));
      });
      socket.send(encodeFrame({ type: 'statusRequest' }));
    });
  } finally {
    if (socket.readyState === WebSocket.OPEN) socket.close(1000);
  }
}

function kib(value: number): string {
  return `${(value / 1024).toFixed(1)} KiB`;
}

/** Formats a status as the table `wash status` prints. */
export function formatStatus(status: RunStatus): string {
  const lines = [
    `run ${status.runId}: ${status.phase}, method ${status.method}, ${status.joined}/${status.members} workers joined`,
    // `status.epoch` counts completed epochs; people read the one in progress.
    `epoch ${Math.min(status.epoch + 1, status.epochs)}/${status.epochs}, step ${status.step}/${status.totalSteps}, elapsed ${status.elapsedSeconds.toFixed(0)} s`,
    '',
    'rank  host                  backend   step      loss    samples/s  heartbeat  sent        received',
  ];
  for (const w of status.workers) {
    const sent = w.bytes ? Object.values(w.bytes).reduce((a, b) => a + b.sent, 0) : 0;
    const received = w.bytes ? Object.values(w.bytes).reduce((a, b) => a + b.received, 0) : 0;
    const beat = w.lastHeartbeatMsAgo === null ? '-' : `${(w.lastHeartbeatMsAgo / 1000).toFixed(1)} s ago`;
    lines.push(
      `${String(w.rank).padEnd(6)}${w.host.slice(0, 21).padEnd(22)}${w.backend.padEnd(10)}${String(w.step).padEnd(10)}${(w.loss === null ? '-' : w.loss.toFixed(4)).padEnd(8)}${w.samplesPerSecond.toFixed(0).padStart(9)}  ${beat.padEnd(11)}${kib(sent).padEnd(12)}${kib(received)}`,
    );
  }
  return lines.join('\n');
}

export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, STATUS_FLAGS, 'status');
  const token = (values.token as string) || process.env.WASH_TOKEN || '';
  if (!token) throw new WashError('WASH_ERR_USAGE', 'missing run token: pass --token or set WASH_TOKEN');
  const status = await fetchStatus(values.coordinator as string, token);
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status)}\n`);
  return 0;
}
