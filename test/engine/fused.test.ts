/**
 * The fused Adam kernels against Adam written out in float32, operation by operation in the
 * training graph's order (Math.fround after each), on random sizes, values and steps: the two must
 * agree bit for bit. The engine's own test (onnx-engine.test.ts) holds the fused engine to the
 * graph update.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AdamScalars, FusedAdam } from '../../src/engine/onnx/fused.js';

const f = Math.fround;

/** One Adam(W) step in float32, as the training graph computes it. */
function reference(w: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, s: AdamScalars): void {
  for (let i = 0; i < w.length; i++) {
    const gi = g[i] as number;
    const m2 = f(f((m[i] as number) * f(s.beta1)) + f(gi * f(s.oneMinusBeta1)));
    const v2 = f(f((v[i] as number) * f(s.beta2)) + f(f(gi * f(s.oneMinusBeta2)) * gi));
    let wi = w[i] as number;
    if (s.decay !== undefined) wi = f(wi - f(wi * f(s.decay)));
    m[i] = m2;
    v[i] = v2;
    w[i] = f(f(f(m2 / f(f(Math.sqrt(v2)) + f(s.epsilonHat))) * f(s.negAlpha)) + wi);
  }
}

/** Adam's per-step scalars at step t (from 1), folded as the graph folds them. */
function scalarsAt(t: number, decay: number | undefined): AdamScalars {
  const c1 = f(1 - f(0.9 ** t));
  const c2 = f(1 - f(0.999 ** t));
  const root = f(Math.sqrt(c2));
  return { beta1: 0.9, oneMinusBeta1: 1 - 0.9, beta2: 0.999, oneMinusBeta2: 1 - 0.999, negAlpha: f(f(root * f(-0.001)) / c1), epsilonHat: f(root * f(1e-7)), ...(decay === undefined ? {} : { decay }) };
}

const floats = (n: number, scale: number, seed: number): Float32Array => {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * scale;
  });
};

const differing = (a: Float32Array, b: Float32Array): number => a.reduce((count, x, i) => count + (Object.is(x, b[i]) ? 0 : 1), 0);

describe('FusedAdam', () => {
  it('updates each parameter bit for bit as float32 Adam and AdamW do, whatever the sizes', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 4 }), fc.integer(), fc.boolean(), (sizes, seed, decoupled) => {
        const fused = new FusedAdam(sizes);
        const ref = sizes.map((n, i) => ({ w: floats(n, 1, seed + i), m: new Float32Array(n), v: new Float32Array(n) }));
        ref.forEach((r, i) => fused.weight(i).set(r.w));
        for (let t = 1; t <= 4; t++) {
          const s = scalarsAt(t, decoupled ? f(0.001 * 0.004) : undefined);
          // Gradients from tiny to large, so v spans many binades.
          ref.forEach((r, i) => {
            const g = floats(r.w.length, 10 ** ((t % 3) * 2 - 2), seed * 31 + t * 7 + i);
            reference(r.w, r.m, r.v, g, s);
            fused.update(i, g, s);
          });
        }
        ref.forEach((r, i) => {
          expect(differing(fused.weight(i), r.w)).toBe(0);
          expect(differing(fused.moment(i, 'm'), r.m)).toBe(0);
          expect(differing(fused.moment(i, 'v'), r.v)).toBe(0);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a gradient of the wrong size, for no parameter, or parameters beyond its 4 GiB', () => {
    const fused = new FusedAdam([48]);
    const s = scalarsAt(1, undefined);
    expect(() => fused.update(0, new Float32Array(47), s)).toThrow(RangeError);
    expect(() => fused.update(1, new Float32Array(48), s)).toThrow(RangeError);
    // 2³⁰ weights, their moments and a gradient are 16 GiB: more than WebAssembly's 4 GiB.
    expect(FusedAdam.fits([2 ** 30])).toBe(false);
    expect(() => new FusedAdam([2 ** 30])).toThrow(RangeError);
  });
});
