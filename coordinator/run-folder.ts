import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * The folder a run writes: `config.json`, `metrics.jsonl` (one line per
 * epoch), `summary.json` and `model/`. JSON files are written to a temporary
 * name and renamed, so a reader (or a Ctrl-C) never leaves half a file.
 */
export class RunFolder {
  constructor(readonly dir: string) {}

  async create(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.file(name), `${JSON.stringify(value, null, 2)}\n`);
  }

  /** Appends one JSON line; a line is one write call, so an interrupted run keeps every whole line before it. */
  async appendJsonLine(name: string, value: unknown): Promise<void> {
    await fs.appendFile(this.file(name), `${JSON.stringify(value)}\n`);
  }
}

export async function writeFileAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, contents);
  await fs.rename(temporary, file);
}
