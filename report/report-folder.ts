import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ReportKind } from './report-data';

/**
 * Creates `OUT/KIND-YYYYMMDD-HHMMSS`, adding `-2`, `-3` and so on when a
 * report of the same second exists, and returns its absolute path.
 */
export async function createReportFolder(out: string, kind: ReportKind, now = new Date()): Promise<string> {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  await fs.mkdir(out, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const dir = path.resolve(out, attempt === 1 ? `${kind}-${stamp}` : `${kind}-${stamp}-${attempt}`);
    try {
      await fs.mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Formats a command line for a POSIX shell, quoting each argument that needs it. */
export function formatCommandLine(words: readonly string[]): string {
  return words.map((word) => (/^[A-Za-z0-9_./:=,+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}
