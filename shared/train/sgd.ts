import * as tf from '@tensorflow/tfjs';

export interface SgdOptions {
  /** Momentum coefficient, 0.9 by default. */
  momentum: number;
  /** L2 weight decay added to the gradient, 5e-4 by default. */
  weightDecay: number;
}

export const DEFAULT_SGD: SgdOptions = { momentum: 0.9, weightDecay: 5e-4 };

/**
 * SGD with heavy-ball momentum and coupled weight decay, in PyTorch's form:
 * v = momentum * v + (g + weightDecay * w), then w = w - lr * v.
 * The momentum buffers are plain variables in parameter order, so WASH+Opt can
 * gather and scatter their coordinates like the weights'.
 */
export class SgdMomentum {
  readonly buffers: tf.Variable[];
  readonly #options: SgdOptions;

  constructor(readonly variables: tf.Variable[], options: SgdOptions = DEFAULT_SGD) {
    this.#options = options;
    // tf.variable keeps its own reference to the data, so tidy frees the zeros tensor without freeing the buffer.
    this.buffers = variables.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false, undefined, 'float32')));
  }

  /** Applies one update with learning rate `lr`; `gradients` are in the same order as the variables. */
  apply(gradients: tf.Tensor[], lr: number): void {
    const { momentum, weightDecay } = this.#options;
    tf.tidy(() => {
      // One scalar tensor per hyperparameter and step: a plain number operand would upload a new scalar per variable.
      const decay = tf.scalar(weightDecay);
      const beta = tf.scalar(momentum);
      const rate = tf.scalar(lr);
      this.variables.forEach((w, i) => {
        const g = weightDecay > 0 ? gradients[i].add(w.mul(decay)) : gradients[i];
        const v = this.buffers[i].mul(beta).add(g);
        this.buffers[i].assign(v);
        w.assign(w.sub(v.mul(rate)));
      });
    });
  }

  dispose(): void {
    for (const b of this.buffers) b.dispose();
  }
}
