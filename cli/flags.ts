import { WashError } from '../shared/errors';

export type FlagType = 'string' | 'int' | 'number' | 'bool';

export interface FlagSpec {
  type: FlagType;
  /** Help text: what the flag sets, with its unit. */
  help: string;
  default?: string | number | boolean;
  /** Allowed values, for string flags. */
  choices?: readonly string[];
  /** Placeholder that --help shows after a string flag without choices, such as DIR or HOST:PORT (VALUE when unset). */
  placeholder?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | number | boolean | undefined>;

/**
 * Parses `--name value`, `--name=value` and bare boolean `--name` flags (and
 * `--no-name` for false). An unknown flag or a bad value is WASH_ERR_USAGE naming the flag
 * and what it expects. Returns the values (defaults filled in) and positionals.
 */
export function parseFlags(args: string[], specs: FlagSpecs, command: string): { values: FlagValues; positionals: string[] } {
  const values: FlagValues = {};
  const positionals: string[] = [];
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.default;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let raw: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      raw = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const spec = specs[name];
    if (!spec && name.startsWith('no-') && specs[name.slice(3)]?.type === 'bool' && raw === undefined) {
      values[name.slice(3)] = false;
      continue;
    }
    if (!spec) {
      throw new WashError('WASH_ERR_USAGE', `unknown flag --${name} for "wash ${command}"; run "wash ${command} --help" for the list`);
    }
    if (spec.type === 'bool' && raw === undefined) {
      values[name] = true;
      continue;
    }
    if (raw === undefined) {
      raw = args[++i];
      if (raw === undefined) throw new WashError('WASH_ERR_USAGE', `flag --${name} needs a value: ${spec.help}`);
    }
    values[name] = parseValue(name, raw, spec);
  }
  return { values, positionals };
}

function parseValue(name: string, raw: string, spec: FlagSpec): string | number | boolean {
  switch (spec.type) {
    case 'int': {
      const value = Number(raw);
      if (!Number.isSafeInteger(value)) throw new WashError('WASH_ERR_USAGE', `invalid --${name} "${raw}": expected a whole number (${spec.help})`);
      return value;
    }
    case 'number': {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value)) throw new WashError('WASH_ERR_USAGE', `invalid --${name} "${raw}": expected a number (${spec.help})`);
      return value;
    }
    case 'bool':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new WashError('WASH_ERR_USAGE', `invalid --${name} "${raw}": expected true or false`);
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new WashError('WASH_ERR_USAGE', `invalid --${name} "${raw}": expected one of ${spec.choices.join(', ')}`);
      }
      return raw;
  }
}

/** Formats the flags of a command for --help. */
export function flagHelp(specs: FlagSpecs): string {
  return Object.entries(specs)
    .map(([name, spec]) => {
      const value = spec.type === 'bool' ? '' : ` ${valuePlaceholder(spec)}`;
      const fallback = spec.default === undefined || spec.default === '' ? '' : ` (default ${spec.default})`;
      return `  --${name}${value}\n      ${spec.help}${fallback}`;
    })
    .join('\n');
}

function valuePlaceholder(spec: FlagSpec): string {
  if (spec.choices) return spec.choices.join('|');
  if (spec.type === 'string') return spec.placeholder ?? 'VALUE';
  return 'N';
}

/** Parses HOST:PORT, naming the flag when it is invalid. */
export function parseHostPort(flag: string, value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65_535) throw new WashError('WASH_ERR_USAGE', `invalid --${flag} "${value}": expected HOST:PORT, e.g. 127.0.0.1:7070 (port 0 picks a free one)`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}
