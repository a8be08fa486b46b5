/**
 * AdamW for tfjs, which has none: Keras 3's decoupled weight decay in front of tfjs's own Adam step.
 * @module
 */
import { tf } from './runtime.js';

/**
 * Each step first shrinks every weight it updates, w −= lr · weightDecay · w (apart from the
 * gradient and its moments), then takes tfjs's Adam step from the decayed weight, as Keras 3
 * does. The slots and the β powers are Adam's, so optimizer state saves and restores as Adam's.
 */
export class AdamWOptimizer extends tf.AdamOptimizer {
  constructor(
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    private readonly weightDecay: number,
  ) {
    super(learningRate, beta1, beta2, epsilon);
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    const variables = tf.engine().registeredVariables;
    tf.tidy(() => {
      for (const name of names) {
        const variable = variables[name];
        if (variable !== undefined) variable.assign(tf.sub(variable, tf.mul(variable, this.learningRate * this.weightDecay)));
      }
    });
    super.applyGradients(variableGradients);
  }
}
