import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import { Coordinator } from '../coordinator/coordinator';
import { RunSummary } from '../coordinator/summary';
import { RunConfig } from '../shared/config';
import { WashError } from '../shared/errors';
import { Logger } from '../shared/log';
import { formatStatus } from './commands/status-command';

export interface LocalRunOptions {
  config: RunConfig;
  /** Parent folder of run folders; the run writes into OUT/RUN_ID. */
  out: string;
  log: Logger;
  /** `tty` redraws a progress table and writes worker logs to files; `log` lets worker logs through to stderr. */
  progress: 'tty' | 'log';
  /** Loopback address the coordinator binds, 127.0.0.1 by default. */
  host?: string;
}

/** Grace period between SIGTERM and SIGKILL when stopping workers, in milliseconds. */
const KILL_GRACE_MS = 3000;

/**
 * Runs a whole ensemble on this machine: a coordinator in this process and
 * one worker process per member, all on loopback. Ctrl-C (SIGINT) or SIGTERM
 * stops the run, writes its summary as interrupted and stops every worker.
 */
export async function runLocal(options: LocalRunOptions): Promise<{ summary: RunSummary; runDir: string }> {
  const { config, log } = options;
  const host = options.host ?? '127.0.0.1';
  const token = randomBytes(24).toString('hex');
  const runDir = path.resolve(options.out, config.runId);
  const coordinator = new Coordinator({ config, token, listenHost: host, listenPort: 0, runDir, log });
  const workers: ChildProcess[] = [];
  const script = path.join(__dirname, 'wash.js');

  const stopWorkers = async (): Promise<void> => {
    const exited = (w: ChildProcess): boolean => w.exitCode !== null || w.signalCode !== null;
    if (coordinator.phase === 'finished') {
      // Workers exit by themselves once they have the coordinator's 'done'; give them the grace period first.
      const deadline = Date.now() + KILL_GRACE_MS;
      while (!workers.every(exited) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const alive = workers.filter((w) => !exited(w));
    for (const w of alive) w.kill('SIGTERM');
    await Promise.race([
      Promise.all(alive.map((w) => new Promise((resolve) => (w.exitCode !== null || w.signalCode !== null ? resolve(null) : w.once('exit', resolve))))),
      new Promise((resolve) => setTimeout(resolve, KILL_GRACE_MS)),
    ]);
    for (const w of alive) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log.warn({ signal }, 'interrupted; stopping the run');
    coordinator.fail(new WashError('WASH_ERR_ABORTED', `interrupted by ${signal}`), 'interrupted');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const killOnExit = (): void => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  let ticker: NodeJS.Timeout | undefined;
  try {
    const port = await coordinator.start();
    if (coordinator.phase === 'failed') await coordinator.done;
    for (let rank = 0; rank < config.members; rank++) {
      const logFile = options.progress === 'tty' ? openSync(path.join(runDir, `worker-${rank}.log`), 'a') : undefined;
      const child = spawn(process.execPath, [script, 'worker', '--coordinator', `ws://${host}:${port}`, '--listen', `${host}:0`], {
        env: { ...process.env, WASH_TOKEN: token },
        stdio: ['ignore', logFile ?? 'inherit', logFile ?? 'inherit'],
      });
      if (logFile !== undefined) closeSync(logFile);
      child.on('exit', (code, signal) => {
        if (code !== 0 && coordinator.phase !== 'finished' && coordinator.phase !== 'failed') {
          coordinator.fail(new WashError('WASH_ERR_PEER_LOST', `worker process ${child.pid} exited with ${signal ?? `code ${code}`}${logFile !== undefined ? `; see ${runDir}/worker-*.log` : ''}`));
        }
      });
      workers.push(child);
    }
    if (options.progress === 'tty') {
      let drawn = 0;
      ticker = setInterval(() => {
        const text = formatStatus(coordinator.status());
        process.stdout.write(`${drawn ? `\x1b[${drawn}A\x1b[0J` : ''}${text}\n`);
        drawn = text.split('\n').length;
      }, 1000);
    }
    const summary = await coordinator.done;
    return { summary, runDir };
  } finally {
    if (ticker) clearInterval(ticker);
    await stopWorkers();
    await coordinator.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killOnExit);
  }
}
