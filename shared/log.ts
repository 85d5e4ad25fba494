import pino, { Logger } from 'pino';

/**
 * Creates the root logger. Logs are pino JSON lines on stderr, so stdout stays
 * free for tables and progress. WASH_LOG_LEVEL sets the level (default info).
 */
export function createLogger(name: string, level = process.env.WASH_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for library callers and tests that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });

export type { Logger };
