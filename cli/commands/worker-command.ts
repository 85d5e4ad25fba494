import { BACKEND_CHOICES, BackendChoice } from '../../shared/backend/backends';
import { WashError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { runWorker } from '../../worker/worker';
import { FlagSpecs, parseFlags, parseHostPort } from '../flags';

export const WORKER_FLAGS: FlagSpecs = {
  coordinator: { type: 'string', placeholder: 'URL', help: 'coordinator address, ws://HOST:PORT (required)' },
  token: { type: 'string', placeholder: 'TOKEN', default: '', help: 'run token (default: $WASH_TOKEN)' },
  listen: { type: 'string', placeholder: 'HOST:PORT', default: '127.0.0.1:0', help: 'HOST:PORT the peer server binds; use 0.0.0.0:PORT to accept peers from other hosts' },
  advertise: { type: 'string', placeholder: 'URL', default: '', help: 'ws://HOST:PORT that peers dial to reach this worker (default: ws://LISTEN_HOST:PORT)' },
  backend: { type: 'string', choices: BACKEND_CHOICES, help: 'TensorFlow.js backend on this host (default: the run\'s)' },
  data: { type: 'string', placeholder: 'DIR', default: '', help: 'data folder on this host (default: the run\'s)' },
  'connect-timeout': { type: 'number', default: 120, help: 'seconds to keep retrying the coordinator before giving up' },
};

export async function workerCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, WORKER_FLAGS, 'worker');
  const coordinatorUrl = values.coordinator as string | undefined;
  if (!coordinatorUrl) throw new WashError('WASH_ERR_USAGE', 'missing --coordinator ws://HOST:PORT: the address of the run\'s coordinator');
  if (!/^wss?:\/\/[^/]+/.test(coordinatorUrl)) throw new WashError('WASH_ERR_USAGE', `invalid --coordinator "${coordinatorUrl}": expected ws://HOST:PORT`);
  const token = (values.token as string) || process.env.WASH_TOKEN || '';
  if (!token) throw new WashError('WASH_ERR_USAGE', 'missing run token: pass --token or set WASH_TOKEN to the token the coordinator printed');
  const advertise = values.advertise as string;
  if (advertise && !/^wss?:\/\/[^/]+:\d+\/?$/.test(advertise)) throw new WashError('WASH_ERR_USAGE', `invalid --advertise "${advertise}": expected ws://HOST:PORT`);
  const { host, port } = parseHostPort('listen', values.listen as string);
  const log = createLogger('wash-worker');
  const stop = (): void => {
    log.warn('interrupted; stopping worker');
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await runWorker({
    coordinatorUrl, token, listenHost: host, listenPort: port, advertise: advertise || undefined,
    backend: values.backend as BackendChoice | undefined, dataDir: (values.data as string) || undefined,
    connectTimeoutMs: (values['connect-timeout'] as number) * 1000, log,
  });
  return 0;
}
