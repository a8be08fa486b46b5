/**
 * simpleRnn, lstm and gru: one cell function, unrolled over the sequence's static steps.
 * @module
 */
import { GATES, type RecurrentLayerConfig, type Shape } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';
import { activate } from './activations.js';
import type { OnnxLayer, ParamInfo } from './layer.js';

/** A recurrent cell's weights, named and shaped as tfjs's (`name` is the cell's weight prefix). */
export function recurrentParams(name: string, l: RecurrentLayerConfig, features: number): ParamInfo[] {
  const width = GATES[l.type] * l.units;
  return [
    { name: `${name}/kernel`, shape: [features, width], hwio: false },
    { name: `${name}/recurrent_kernel`, shape: [l.units, width], hwio: false, orthogonal: true },
    ...(l.useBias ? [{ name: `${name}/bias`, shape: [width], hwio: false, ...(l.type === 'lstm' ? { forgetBias: l.units } : {}) }] : []),
  ];
}

/** With one step the recurrent kernel never meets a nonzero state, so it would get no gradient. */
export function refuseOneStep(_l: unknown, input: Shape): string | undefined {
  return input[0] === 1 ? 'a recurrent layer over one timestep' : undefined;
}

/**
 * A recurrent layer over [batch, steps, features], unrolled over its static steps from a zero
 * state, gate for gate as tfjs-layers' cells compute it (kernels [in, gates·units] with gates
 * LSTM i, f, c, o and GRU z, r, h; GRU without reset_after, its bias on the input side only).
 * The input projections of all steps are one MatMul. Every bias is added there, before the
 * recurrent term, where tfjs's LSTM adds it after: a float rounding apart, not a different model.
 * The first step skips the terms of the zero state, so no zero tensor of dynamic batch is needed.
 * `backwards` runs the steps last to first (a bidirectional layer's backward half) and returns
 * its sequence in input order, as tfjs's Bidirectional reverses it back.
 */
export function recurrent(g: Graph, x: Value, l: RecurrentLayerConfig, name: string, weight: (name: string) => Value, backwards = false): Value {
  const [, steps, features] = x.shape as [number, number, number];
  const u = l.units;
  const width = GATES[l.type] * u;
  let projected = g.matmul(g.reshape(x, [-1, features]), weight(`${name}/kernel`));
  if (l.useBias) projected = g.add(projected, weight(`${name}/bias`));
  const inputs = g.split(g.reshape(projected, [-1, steps, width]), 1, new Array<number>(steps).fill(1)).map((v) => g.reshape(v, [-1, width]));
  const kernel = weight(`${name}/recurrent_kernel`);
  const act = (v: Value): Value => activate(g, v, l.activation);
  const gate = (v: Value): Value => activate(g, v, l.type === 'simpleRnn' ? l.activation : l.recurrentActivation);
  // GRU's reset gate scales the state before its candidate's recurrent product: split that part off.
  const [zrKernel, hKernel] = l.type === 'gru' ? g.split(kernel, 1, [2 * u, u]) : [kernel, kernel];
  let state: { h: Value; c?: Value } | undefined;
  const outputs: Value[] = [];
  for (const xt of backwards ? [...inputs].reverse() : inputs) {
    const prev = state;
    if (l.type === 'simpleRnn') {
      state = { h: act(prev === undefined ? xt : g.add(xt, g.matmul(prev.h, kernel))) };
    } else if (l.type === 'lstm') {
      const [zi, zf, zc, zo] = g.split(prev === undefined ? xt : g.add(xt, g.matmul(prev.h, kernel)), 1, [u, u, u, u]) as [Value, Value, Value, Value];
      const input = g.mul(gate(zi), act(zc));
      const c = prev === undefined ? input : g.add(g.mul(gate(zf), prev.c as Value), input);
      state = { h: g.mul(gate(zo), act(c)), c };
    } else {
      const [xz, xr, xh] = g.split(xt, 1, [u, u, u]) as [Value, Value, Value];
      if (prev === undefined) {
        state = { h: g.mul(g.sub(g.scalar(1), gate(xz)), act(xh)) };
      } else {
        const [rz, rr] = g.split(g.matmul(prev.h, zrKernel as Value), 1, [u, u]) as [Value, Value];
        const z = gate(g.add(xz, rz));
        const r = gate(g.add(xr, rr));
        const candidate = act(g.add(xh, g.matmul(g.mul(r, prev.h), hKernel as Value)));
        state = { h: g.add(g.mul(z, prev.h), g.mul(g.sub(g.scalar(1), z), candidate)) };
      }
    }
    if (l.returnSequences) outputs.push(g.reshape(state.h, [-1, 1, u]));
  }
  return l.returnSequences ? g.concat(backwards ? outputs.reverse() : outputs, 1) : (state as { h: Value }).h;
}

export const recurrentLayer: OnnxLayer<RecurrentLayerConfig> = {
  params: (l, { name, input }) => recurrentParams(name, l, input[1] as number),
  forward: (g, h, l, ctx) => recurrent(g, h, l, ctx.name, ctx.weight),
  refuse: refuseOneStep,
};
