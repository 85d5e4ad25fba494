import type { IncomingMessage } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { WashError } from '../errors';
import { ROLE_HEADER, RANK_HEADER, Role, ROLES, TOKEN_HEADER } from '../protocol/messages';

/** Compares a presented token with the run's in constant time. */
export function tokenMatches(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ListenOptions {
  host: string;
  port: number;
  token: string;
  maxPayload: number;
  /** Names the server in errors, e.g. "coordinator" or "peer server of rank 2". */
  label: string;
  /** Called with the remote address of each upgrade request rejected for its token. */
  onReject?: (remote: string) => void;
}

/**
 * Starts a WebSocket server whose upgrade requests must carry the run's token
 * in the `x-wash-token` header; others get HTTP 401 and never become sockets.
 * A port in use is WASH_ERR_ADDRESS_IN_USE naming the address.
 */
export async function listen(options: ListenOptions): Promise<WebSocketServer> {
  const server = new WebSocketServer({
    host: options.host,
    port: options.port,
    maxPayload: options.maxPayload,
    perMessageDeflate: false,
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
      if (!tokenMatches(info.req.headers[TOKEN_HEADER], options.token)) {
        options.onReject?.(`${info.req.socket.remoteAddress}:${info.req.socket.remotePort}`);
        done(false, 401, 'WASH_ERR_TOKEN: missing or wrong run token');
        return;
      }
      done(true);
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new WashError('WASH_ERR_ADDRESS_IN_USE', `${options.label} cannot listen on ${options.host}:${options.port}: the address is already in use; pick another port or stop the process that holds it`));
      } else if (error.code === 'EADDRNOTAVAIL') {
        reject(new WashError('WASH_ERR_ADDRESS_UNAVAILABLE', `${options.label} cannot listen on ${options.host}:${options.port}: no local interface has that address`));
      } else {
        reject(error);
      }
    });
  });
  return server;
}

/** Reads the role and rank headers of an accepted upgrade request. */
export function requestRole(request: IncomingMessage): { role: Role | undefined; rank: number | undefined } {
  const role = request.headers[ROLE_HEADER];
  const rank = Number(request.headers[RANK_HEADER]);
  return {
    role: typeof role === 'string' && (ROLES as readonly string[]).includes(role) ? (role as Role) : undefined,
    rank: Number.isSafeInteger(rank) ? rank : undefined,
  };
}

export interface ConnectOptions {
  token: string;
  role?: Role;
  rank?: number;
  maxPayload: number;
  /** Names the remote in errors, e.g. "coordinator" or "peer rank 3". */
  label: string;
  /** Local side of the connection, named in error messages. */
  from?: string;
  timeoutMs?: number;
}

/**
 * Opens a WebSocket with the run's token. Failures become catalogued errors:
 * HTTP 401 is WASH_ERR_TOKEN, a refused or unresolvable address is
 * `unreachable` (the caller picks the code), naming the address and the side it was dialed from.
 */
export function connect(url: string, options: ConnectOptions, unreachableCode: 'WASH_ERR_PEER_UNREACHABLE' | 'WASH_ERR_COORDINATOR_UNREACHABLE'): Promise<WebSocket> {
  const headers: Record<string, string> = { [TOKEN_HEADER]: options.token };
  if (options.role) headers[ROLE_HEADER] = options.role;
  if (options.rank !== undefined) headers[RANK_HEADER] = String(options.rank);
  const from = options.from ? ` from ${options.from}` : '';
  return new Promise((resolve, reject) => {
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, { headers, maxPayload: options.maxPayload, perMessageDeflate: false, handshakeTimeout: options.timeoutMs ?? 10_000 });
    } catch (error) {
      reject(new WashError('WASH_ERR_USAGE', `invalid ${options.label} address "${url}": expected ws://HOST:PORT (${(error as Error).message})`));
      return;
    }
    const onError = (error: Error & { code?: string }): void => {
      socket.removeAllListeners();
      socket.on('error', () => {});
      socket.terminate();
      if (/Unexpected server response: 401/.test(error.message)) {
        reject(new WashError('WASH_ERR_TOKEN', `${options.label} at ${url} rejected the run token (HTTP 401); pass the token the coordinator was started with`));
      } else {
        reject(new WashError(unreachableCode, `cannot reach ${options.label} at ${url}${from}: ${error.code ?? error.message}`, { cause: error }));
      }
    };
    socket.once('error', onError);
    socket.once('open', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Sends a frame and resolves when it has been handed to the kernel, so memory does not pile up behind a slow reader. */
export function sendFrame(socket: WebSocket, frame: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.send(frame, { binary: true }, (error) => (error ? reject(error) : resolve()));
  });
}

/** Closes a socket with an error's close code and a reason trimmed to the 123 bytes a close frame allows. */
export function closeWithError(socket: WebSocket, error: WashError): void {
  if (socket.readyState !== WebSocket.OPEN && socket.readyState !== WebSocket.CONNECTING) return;
  const reason = `${error.code}: ${error.message}`;
  let trimmed = reason;
  while (Buffer.byteLength(trimmed) > 123) trimmed = trimmed.slice(0, -1);
  socket.close(error.closeCode, trimmed);
}
