/**
 * RMSProp, tfjs's (uncentered): slots rms and momentum, both kept even with momentum 0 as tfjs keeps them.
 * @module
 */
import { type OptimizerSettings, optimizerSettings } from '../../../models/spec.js';
import type { Graph, Value } from '../graph.js';
import { NO_HOST_STATE, type OnnxOptimizer, type OptimizerSpec, type Updated } from './optimizer.js';

/** One weight's update, op for op as tfjs's: ε inside the root, lr inside the moments. */
function rmspropStep(g: Graph, o: OptimizerSettings, w: Value, grad: Value, ms: Value, moments: Value): Updated {
  const ms2 = g.add(g.mul(ms, g.scalar(o.rho)), g.mul(g.mul(grad, grad), g.scalar(1 - o.rho)));
  const scaled = g.div(g.mul(grad, g.scalar(o.learningRate)), g.unary('Sqrt', g.add(ms2, g.scalar(o.epsilon))));
  const moments2 = g.add(g.mul(moments, g.scalar(o.momentum)), scaled);
  return { weight: g.sub(w, moments2), slots: [ms2, moments2] };
}

export function rmsprop(spec: OptimizerSpec): OnnxOptimizer {
  const o = optimizerSettings(spec);
  return {
    slots: ['rms', 'momentum'],
    graphUpdate: (g) => (w, grad, [ms, moments]) => rmspropStep(g, o, w, grad, ms as Value, moments as Value),
    ...NO_HOST_STATE,
  };
}
