import * as tf from '@tensorflow/tfjs';
import { buildModel, ModelSpec } from '../model/models';
import { describeParameters, ParameterLayout, statisticVariables, trainableVariables } from '../model/parameters';
import { DEFAULT_SGD, SgdMomentum, SgdOptions } from './sgd';

/** One ensemble member: its network, parameter layout and optimizer state. */
export class Member {
  readonly model: tf.LayersModel;
  readonly layout: ParameterLayout;
  readonly variables: tf.Variable[];
  readonly statistics: tf.Variable[];
  readonly optimizer: SgdMomentum;

  constructor(spec: ModelSpec, initSeed: number, sgd: SgdOptions = DEFAULT_SGD) {
    this.model = buildModel(spec, initSeed);
    this.layout = describeParameters(this.model);
    this.variables = trainableVariables(this.model);
    this.statistics = statisticVariables(this.model);
    this.optimizer = new SgdMomentum(this.variables, sgd);
  }

  /** Runs forward, backward and the SGD update on one batch; returns the batch's mean loss. */
  trainStep(x: tf.Tensor4D, y: tf.Tensor2D, lr: number): number {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const logits = this.model.apply(x, { training: true }) as tf.Tensor2D;
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      }, this.variables);
      this.optimizer.apply(
        this.variables.map((v) => grads[v.name]),
        lr,
      );
      return value;
    });
    const lossValue = loss.dataSync()[0];
    loss.dispose();
    return lossValue;
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
