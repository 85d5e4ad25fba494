import { WashError } from '../shared/errors';

/** Shuffle-plan seeds that the coordinator sends ahead, by step. */
export class SeedQueue {
  readonly #seeds = new Map<number, number>();
  #waiter: { step: number; resolve: (seed: number) => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;

  add(firstStep: number, seeds: number[]): void {
    seeds.forEach((seed, k) => this.#seeds.set(firstStep + k, seed));
    const waiter = this.#waiter;
    if (waiter && this.#seeds.has(waiter.step)) {
      this.#waiter = undefined;
      waiter.resolve(this.take(waiter.step) as number);
    }
  }

  take(step: number): number | undefined {
    const seed = this.#seeds.get(step);
    if (seed !== undefined) this.#seeds.delete(step);
    return seed;
  }

  /** Returns the seed of `step`, waiting for it when it has not arrived yet. */
  get(step: number): Promise<number> {
    const seed = this.take(step);
    if (seed !== undefined) return Promise.resolve(seed);
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter) return Promise.reject(new WashError('WASH_ERR_CONFIG', `already waiting for the seed of step ${this.#waiter.step}`));
    return new Promise((resolve, reject) => (this.#waiter = { step, resolve, reject }));
  }

  fail(error: Error): void {
    this.#failure = error;
    this.#waiter?.reject(error);
    this.#waiter = undefined;
  }
}
