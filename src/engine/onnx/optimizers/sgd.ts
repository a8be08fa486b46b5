/**
 * SGD: plain, or with momentum (a slot, kept as tfjs keeps it only when the spec gives a momentum
 * or nesterov), or Nesterov's.
 * @module
 */
import { type OptimizerSettings, optimizerSettings } from '../../../models/spec.js';
import type { Graph, Value } from '../graph.js';
import { NO_HOST_STATE, type OnnxOptimizer, type OptimizerSpec, type Updated } from './optimizer.js';

/**
 * One weight's SGD update, w − lr · step: the step is the gradient, or with a momentum slot the
 * accumulation acc = momentum · acc + grad, which Nesterov steps past as grad + momentum · acc, as tfjs does.
 */
function sgdStep(g: Graph, o: OptimizerSettings, nesterov: boolean, w: Value, grad: Value, accumulation: Value | undefined): Updated {
  let step = grad;
  const slots: Value[] = [];
  if (accumulation !== undefined) {
    const m = g.scalar(o.momentum);
    const acc = g.add(g.mul(accumulation, m), grad);
    slots.push(acc);
    step = nesterov ? g.add(grad, g.mul(acc, m)) : acc;
  }
  return { weight: g.add(g.mul(step, g.scalar(-o.learningRate)), w), slots };
}

export function sgd(spec: OptimizerSpec): OnnxOptimizer {
  const o = optimizerSettings(spec);
  const momentum = spec.momentum !== undefined || spec.nesterov === true;
  return {
    slots: momentum ? ['momentum'] : [],
    graphUpdate: (g) => (w, grad, [accumulation]) => sgdStep(g, o, spec.nesterov === true, w, grad, accumulation),
    ...NO_HOST_STATE,
  };
}
