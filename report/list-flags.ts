import { FlagSpecs } from '../cli/flags';
import { WashError } from '../shared/errors';

/**
 * Splits a comma-separated flag value and parses each item. An empty item,
 * an empty list or a repeated item is WASH_ERR_USAGE naming the flag, because
 * every item names one run and two runs cannot share a folder.
 */
export function parseList<T>(flag: string, raw: string, parseItem: (item: string) => T, key: (value: T) => string = String): T[] {
  const items = raw.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) {
    throw new WashError('WASH_ERR_USAGE', `invalid --${flag} "${raw}": expected a comma-separated list without empty items`);
  }
  const values = items.map(parseItem);
  const seen = new Set<string>();
  for (const value of values) {
    const id = key(value);
    if (seen.has(id)) throw new WashError('WASH_ERR_USAGE', `invalid --${flag} "${raw}": ${id} appears twice`);
    seen.add(id);
  }
  return values;
}

/** Returns a parser that accepts one of `choices`, for `parseList`. */
export function choiceOf<T extends string>(flag: string, choices: readonly T[]): (item: string) => T {
  return (item) => {
    if (!(choices as readonly string[]).includes(item)) {
      throw new WashError('WASH_ERR_USAGE', `invalid --${flag} item "${item}": expected one of ${choices.join(', ')}`);
    }
    return item as T;
  };
}

/** Returns a parser of whole numbers, for seeds. */
export function wholeNumberOf(flag: string): (item: string) => number {
  return (item) => {
    const value = Number(item);
    if (!Number.isSafeInteger(value) || value < 0) throw new WashError('WASH_ERR_USAGE', `invalid --${flag} item "${item}": expected a whole number of 0 or more`);
    return value;
  };
}

/** Returns a parser of probabilities in [0, 1], for p. */
export function probabilityOf(flag: string): (item: string) => number {
  return (item) => {
    const value = Number(item);
    if (!Number.isFinite(value) || value < 0 || value > 1) throw new WashError('WASH_ERR_USAGE', `invalid --${flag} item "${item}": expected a number in [0, 1]`);
    return value;
  };
}

/** Copies `specs` without the named flags. */
export function withoutFlags(specs: FlagSpecs, names: readonly string[]): FlagSpecs {
  return Object.fromEntries(Object.entries(specs).filter(([name]) => !names.includes(name)));
}
