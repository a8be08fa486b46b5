/**
 * Adam, and AdamW (Adam whose weights decay first, decoupled from the gradient): slots m and v,
 * and the running β powers on the host, accumulated in float32 as tfjs does.
 * @module
 */
import { type OptimizerSettings, optimizerSettings } from '../../../models/spec.js';
import type { Graph, Value } from '../graph.js';
import type { HostState, OnnxOptimizer, OptimizerSpec, Updated } from './optimizer.js';

/** The β powers β^(t+1), saved under tfjs's names so a state moves between engines. */
const ACC_BETA1 = 'adam/accBeta1';
const ACC_BETA2 = 'adam/accBeta2';
/** The bias corrections 1 − β^(t+1), fed to each step. */
const CORRECTION1 = 'adam/oneMinusAccBeta1';
const CORRECTION2 = 'adam/oneMinusAccBeta2';

/** What every weight's update shares in a step: −α and ε̂ (see adamStep). */
interface StepScalars {
  readonly negAlpha: Value;
  readonly epsilonHat: Value;
}

/**
 * The bias corrections c1, c2 are folded into two scalars, α = lr·√c2/c1 and ε̂ = ε·√c2
 * (m̂/(√v̂ + ε) = (m/c1)·√c2/(√v + ε·√c2)), so each weight's update takes 12 elementwise passes
 * instead of tfjs's 14: for a large dense kernel the update is most of a step's memory traffic.
 */
function stepScalars(g: Graph, o: OptimizerSettings): StepScalars {
  const corr1 = g.input(CORRECTION1, 'float', []);
  const corr2 = g.input(CORRECTION2, 'float', []);
  const rootCorr2 = g.unary('Sqrt', corr2);
  return { negAlpha: g.div(g.mul(rootCorr2, g.scalar(-o.learningRate)), corr1), epsilonHat: g.mul(rootCorr2, g.scalar(o.epsilon)) };
}

/**
 * One weight's Adam update: m and v move toward the gradient and its square, and the weight
 * (first decayed by w · lr · weightDecay for AdamW, as in Keras 3) takes the step −α · m/(√v + ε̂).
 */
function adamStep(g: Graph, o: OptimizerSettings, decoupled: boolean, k: StepScalars, w: Value, grad: Value, m: Value, v: Value): Updated {
  const m2 = g.add(g.mul(m, g.scalar(o.beta1)), g.mul(grad, g.scalar(1 - o.beta1)));
  const v2 = g.add(g.mul(v, g.scalar(o.beta2)), g.mul(g.mul(grad, g.scalar(1 - o.beta2)), grad));
  const step = g.div(m2, g.add(g.unary('Sqrt', v2), k.epsilonHat));
  const decayed = decoupled ? g.sub(w, g.mul(w, g.scalar(o.learningRate * o.weightDecay))) : w;
  return { weight: g.add(g.mul(step, k.negAlpha), decayed), slots: [m2, v2] };
}

/** Adam, or AdamW where `decoupled`. */
export function adam(spec: OptimizerSpec, decoupled: boolean): OnnxOptimizer {
  const o = optimizerSettings(spec);
  const powers = (state: HostState): [number, number] => [state[ACC_BETA1] as number, state[ACC_BETA2] as number];
  return {
    slots: ['m', 'v'],
    graphUpdate: (g) => {
      const k = stepScalars(g, o);
      return (w, grad, [m, v]) => adamStep(g, o, decoupled, k, w, grad, m as Value, v as Value);
    },
    hostState: (step) => ({ [ACC_BETA1]: Math.fround(o.beta1 ** (step + 1)), [ACC_BETA2]: Math.fround(o.beta2 ** (step + 1)) }),
    advance: (state) => {
      const [p1, p2] = powers(state);
      return { [ACC_BETA1]: Math.fround(p1 * Math.fround(o.beta1)), [ACC_BETA2]: Math.fround(p2 * Math.fround(o.beta2)) };
    },
    stepInputs: (state) => {
      const [p1, p2] = powers(state);
      return { [CORRECTION1]: 1 - p1, [CORRECTION2]: 1 - p2 };
    },
    // stepScalars' arithmetic in float32, as the graph does it on the float32 inputs stepInputs gives.
    fused: (state) => {
      const f = Math.fround;
      const [p1, p2] = powers(state);
      const corr1 = f(1 - p1);
      const rootCorr2 = f(Math.sqrt(f(1 - p2)));
      return {
        beta1: o.beta1,
        oneMinusBeta1: 1 - o.beta1,
        beta2: o.beta2,
        oneMinusBeta2: 1 - o.beta2,
        negAlpha: f(f(rootCorr2 * f(-o.learningRate)) / corr1),
        epsilonHat: f(rootCorr2 * f(o.epsilon)),
        ...(decoupled ? { decay: o.learningRate * o.weightDecay } : {}),
      };
    },
  };
}
