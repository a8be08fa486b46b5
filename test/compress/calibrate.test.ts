import { describe, expect, it } from 'vitest';
import { CALIBRATORS, type CalibrationMethod, type RangeCollector, type TensorRange } from '../../src/compress/index.js';
import { PowerOfTwoHistogram } from '../../src/compress/calibrate.js';
import { EcomlError } from '../../src/errors.js';
import { PyRandom } from '../../src/util/random.js';

const METHODS = Object.keys(CALIBRATORS) as CalibrationMethod[];

function uniform(rng: PyRandom, n: number, low: number, high: number): Float32Array {
  return Float32Array.from({ length: n }, () => low + (high - low) * rng.random());
}

/** Box–Muller: standard normal draws. */
function normal(rng: PyRandom, n: number, sigma = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());
  return out;
}

function collect(method: CalibrationMethod, batches: readonly Float32Array[], options?: object): TensorRange {
  const collector: RangeCollector = CALIBRATORS[method](options);
  for (const batch of batches) collector.add(batch);
  return collector.range();
}

/** The k-th smallest |x| with k = ceil(share·n): the order statistic ORT's percentile bin holds. */
function absQuantile(values: Float32Array, share: number): number {
  const sorted = Float64Array.from(values, Math.abs).sort();
  return sorted[Math.ceil(share * sorted.length) - 1]!;
}

function extent(values: Float32Array): { min: number; max: number; absMax: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const x of values) {
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return { min, max, absMax: Math.max(-min, max) };
}

/** Splits `values` at random points into 1–8 batches, in shuffled order. */
function randomBatches(rng: PyRandom, values: Float32Array): Float32Array[] {
  const cuts = Array.from({ length: rng.below(8) }, () => rng.below(values.length + 1)).sort((a, b) => a - b);
  const bounds = [0, ...cuts, values.length];
  const batches = bounds.slice(1).map((end, i) => values.subarray(bounds[i]!, end));
  for (let i = batches.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  return batches;
}

/** Standard normal quantile for p in (0.5, 1): Acklam's rational approximation (relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  if (p > 0.97575) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

describe('MinMax calibration', () => {
  it('is the exact min and max over every batch, or ±max|x| when symmetric (seeded property)', () => {
    for (let seed = 0; seed < 40; seed++) {
      const rng = new PyRandom(seed);
      const scale = 10 ** (rng.random() * 8 - 4);
      const values = uniform(rng, 1 + rng.below(3000), -scale * rng.random(), scale * rng.random());
      const { min, max, absMax } = extent(values);
      expect(collect('minmax', randomBatches(rng, values))).toEqual({ min, max });
      expect(collect('minmax', randomBatches(rng, values), { symmetric: true })).toEqual({ min: -absMax, max: absMax });
    }
  });
});

describe('Percentile calibration (ORT defaults: 99.999, 2048 bins, |x| histogram)', () => {
  it('gives the analytic quantile of a uniform sample within a bin', () => {
    const values = uniform(new PyRandom(1), 1_000_000, -2, 2);
    const range = collect('percentile', [values]);
    const binWidth = extent(values).absMax / 2048; // ORT's; ours is never wider
    expect(Math.abs(range.max - 2 * 0.99999)).toBeLessThan(binWidth + 1e-4); // + sampling error (σ ≈ 6e-6)
    expect(range.min).toBe(-range.max);
    const k = absQuantile(values, 0.99999);
    expect(range.max).toBeLessThanOrEqual(k);
    expect(k - range.max).toBeLessThan(binWidth);
  });

  it('gives the analytic quantile of a normal sample within a bin plus sampling error, and the sample quantile within a bin', () => {
    const values = normal(new PyRandom(2), 1_000_000, 3);
    const binWidth = extent(values).absMax / 2048;
    for (const percentile of [99, 99.9]) {
      const range = collect('percentile', [values], { percentile });
      const analytic = 3 * normalQuantile(1 - (1 - percentile / 100) / 2);
      const tail = 1 - percentile / 100;
      // σ of a sample quantile: sqrt(p(1 − p)/n) / density at the quantile (of |x|: twice the normal's)
      const sigma = Math.sqrt((tail * (1 - tail)) / values.length) / ((2 * Math.exp(-((analytic / 3) ** 2) / 2)) / Math.sqrt(2 * Math.PI) / 3);
      expect(Math.abs(range.max - analytic)).toBeLessThan(binWidth + 4 * sigma);
      const k = absQuantile(values, percentile / 100);
      expect(range.max).toBeLessThanOrEqual(k);
      expect(k - range.max).toBeLessThan(binWidth);
      expect(range.min).toBe(-range.max);
    }
  });

  it('cuts both tails of a value histogram when not symmetric, and keeps a one-signed range one-signed', () => {
    const values = normal(new PyRandom(3), 400_000);
    const range = collect('percentile', [values], { percentile: 99, symmetric: false });
    const z = normalQuantile(0.995);
    const binWidth = (2 * extent(values).absMax) / 2048;
    expect(Math.abs(range.max - z)).toBeLessThan(binWidth + 0.03);
    expect(Math.abs(range.min + z)).toBeLessThan(binWidth + 0.03);
    const relu = values.map((x) => Math.max(x, 0));
    const reluRange = collect('percentile', [relu]);
    expect(reluRange.min).toBe(0);
    expect(reluRange.max).toBeGreaterThan(3.5);
  });
});

describe('Entropy calibration (KL, 2048 bins, 128 quantized bins)', () => {
  it('clips rare large outliers well inside [min, max]', () => {
    const rng = new PyRandom(4);
    const values = normal(rng, 200_000);
    for (let i = 0; i < 20; i++) values[rng.below(values.length)] = (rng.random() < 0.5 ? -1 : 1) * (40 + 10 * rng.random());
    const { min, max } = extent(values);
    const range = collect('entropy', [values]);
    expect(min).toBeLessThan(-40);
    expect(max).toBeGreaterThan(40);
    expect(range.min).toBeGreaterThan(-10);
    expect(range.max).toBeLessThan(10);
    // …yet keeps the bulk: clipping at ±2σ would fold 5% of the mass into the end bins.
    expect(range.min).toBeLessThan(-2.5);
    expect(range.max).toBeGreaterThan(2.5);
  });

  it('keeps nearly the whole range of a uniform distribution', () => {
    const values = uniform(new PyRandom(5), 1_000_000, -1, 1);
    const range = collect('entropy', [values]);
    expect(range.min).toBeLessThan(-0.95);
    expect(range.max).toBeGreaterThan(0.95);
  });

  it('with no more bins than quantized levels (ORT\'s 128/128 on one batch) the one candidate is the full range', () => {
    const rng = new PyRandom(6);
    const values = normal(rng, 10_000);
    values[0] = 50;
    const range = collect('entropy', [values], { numBins: 64, numQuantizedBins: 128 });
    const { min, max } = extent(values);
    expect(range).toEqual({ min, max });
  });
});

/**
 * ORT's get_entropy_threshold spelled out step by step (with MXNet's float q), on the same histogram:
 * the reference the calibrator's one-pass KL must agree with.
 */
function referenceEntropyRange(values: Float32Array, numBins: number, numQuantizedBins: number): TensorRange {
  const histogram = new PowerOfTwoHistogram('signed', numBins);
  const { min, max, absMax } = extent(values);
  histogram.add(values, absMax);
  const halfQuantized = Math.floor(numQuantizedBins / 2);
  const { counts, edge, half } = histogram.layout(halfQuantized);
  const smooth = (d: Float64Array): Float64Array | undefined => {
    const zeros = d.filter((x) => x === 0).length;
    if (zeros === d.length) return undefined;
    const eps1 = (0.0001 * zeros) / (d.length - zeros);
    const out = d.map((x) => (x === 0 ? 0.0001 : x - eps1));
    return out.every((x) => x > 0) ? out : undefined;
  };
  const total = (d: Float64Array): number => d.reduce((s, x) => s + x, 0);
  let best = { kl: Infinity, min, max };
  for (let i = halfQuantized; i <= half; i++) {
    const start = half - i;
    const end = Math.min(half + i + 1, counts.length);
    const sliced = counts.slice(start, end);
    const p = sliced.slice();
    p[0]! += total(counts.slice(0, start));
    p[p.length - 1]! += total(counts.slice(end));
    const merged = Math.floor(sliced.length / numQuantizedBins);
    const q = new Float64Array(p.length);
    for (let k = 0; k < numQuantizedBins; k++) {
      const from = k * merged;
      const to = k === numQuantizedBins - 1 ? p.length : from + merged;
      const quantized = total(sliced.slice(from, to));
      const nonzero = p.slice(from, to).filter((x) => x !== 0).length;
      for (let j = from; j < to; j++) q[j] = nonzero === 0 || p[j] === 0 ? 0 : quantized / nonzero;
    }
    const ps = smooth(p);
    const qs = smooth(q);
    if (ps === undefined || qs === undefined) continue;
    const [pt, qt] = [total(ps), total(qs)];
    const kl = ps.reduce((s, pj, j) => s + (pj / pt) * Math.log(pj / pt / (qs[j]! / qt)), 0);
    if (kl < best.kl - 1e-12) best = { kl, min: edge(start), max: edge(end) };
  }
  return { min: Math.min(Math.max(best.min, min), max), max: Math.min(Math.max(best.max, min), max) };
}

describe('Entropy against ORT\'s steps', () => {
  it('picks the same range as a direct transcription of get_entropy_threshold (seeded property)', () => {
    for (let seed = 0; seed < 25; seed++) {
      const rng = new PyRandom(400 + seed);
      const numBins = 32 + rng.below(300);
      const numQuantizedBins = 2 * (1 + rng.below(24));
      const values = rng.random() < 0.5 ? normal(rng, 1 + rng.below(4000), 0.5) : uniform(rng, 1 + rng.below(4000), -1, 3);
      for (let i = 0; i < rng.below(4); i++) values[rng.below(values.length)] = 20 * (rng.random() - 0.3);
      expect(collect('entropy', [values], { numBins, numQuantizedBins }), `seed ${seed}`).toEqual(referenceEntropyRange(values, numBins, numQuantizedBins));
    }
  });
});

describe('every method', () => {
  it('gives the same range however the samples are split into batches and ordered, re-binning included (seeded property)', () => {
    for (let seed = 0; seed < 12; seed++) {
      const rng = new PyRandom(100 + seed);
      const scale = 10 ** (rng.random() * 6 - 3);
      const values = normal(rng, 2_000 + rng.below(20_000), scale);
      for (let i = 0; i < 5; i++) values[rng.below(values.length)] = scale * 30 * (rng.random() - 0.5);
      // a first batch of tiny values then a huge one: the histogram must merge, not grow
      const batches = [Float32Array.of(1e-7 * scale, -2e-7 * scale), ...randomBatches(rng, values), Float32Array.of(1e3 * scale)];
      const whole = new Float32Array(values.length + 3);
      whole.set(batches[0]!);
      whole.set(values, 2);
      whole[whole.length - 1] = 1e3 * scale;
      for (const method of METHODS) expect(collect(method, batches), `${method}, seed ${seed}`).toEqual(collect(method, [whole]));
    }
  });

  it('gives a finite range inside [min, max] with min ≤ max on random data (seeded property)', () => {
    for (let seed = 0; seed < 30; seed++) {
      const rng = new PyRandom(200 + seed);
      const n = 1 + rng.below(5000);
      const values = rng.random() < 0.5 ? normal(rng, n, 10 ** (rng.random() * 10 - 5)) : uniform(rng, n, -rng.random() * 100, rng.random());
      const { min, max } = extent(values);
      for (const method of METHODS) {
        const range = collect(method, randomBatches(rng, values));
        expect(Number.isFinite(range.min) && Number.isFinite(range.max), `${method}, seed ${seed}`).toBe(true);
        expect(range.min).toBeLessThanOrEqual(range.max);
        expect(range.min).toBeGreaterThanOrEqual(min);
        expect(range.max).toBeLessThanOrEqual(max);
      }
    }
  });

  it.each(METHODS)('%s: degenerate inputs give a finite, sane range and never throw', (method) => {
    expect(collect(method, [])).toEqual({ min: 0, max: 0 });
    expect(collect(method, [new Float32Array(0)])).toEqual({ min: 0, max: 0 });
    expect(collect(method, [new Float32Array(1000)])).toEqual({ min: 0, max: 0 });
    expect(collect(method, [new Float32Array(10).fill(-0)])).toEqual({ min: 0, max: 0 });
    expect(collect(method, [new Float32Array(500).fill(3.5), new Float32Array(500).fill(3.5)])).toEqual({ min: 3.5, max: 3.5 });
    expect(collect(method, [new Float32Array(500).fill(-2)])).toEqual({ min: -2, max: -2 });
    expect(collect(method, [Float32Array.of(0.25)])).toEqual({ min: 0.25, max: 0.25 });
    expect(collect(method, [new Float32Array(100), Float32Array.of(1)])).toEqual({ min: 0, max: 1 });
    expect(collect(method, [Float32Array.of(NaN, NaN), Float32Array.of(Infinity, -Infinity)])).toEqual({ min: 0, max: 0 });
    const huge = collect(method, [Float32Array.of(-3.4e38, 3.4e38, 1)]);
    expect(Number.isFinite(huge.min) && Number.isFinite(huge.max) && huge.min <= huge.max).toBe(true);
    const tiny = collect(method, [Float32Array.of(1e-45, -1e-45, 0)]);
    expect(tiny.min).toBeLessThanOrEqual(0);
    expect(tiny.max).toBeGreaterThanOrEqual(0);
    expect(Math.abs(tiny.min) + tiny.max).toBeLessThan(1e-44);
  });

  it.each(METHODS)('%s: leaves NaN and ±Infinity out and counts them', (method) => {
    const values = normal(new PyRandom(7), 10_000);
    const dirty = Float32Array.from([...values, NaN, Infinity, -Infinity, NaN]);
    const collector = CALIBRATORS[method]();
    collector.add(dirty);
    collector.add(Float32Array.of(NaN));
    expect(collector.skipped).toBe(5);
    expect(collector.range()).toEqual(collect(method, [values]));
  });

  it('refuses invalid options with E_CONFIG_INVALID', () => {
    for (const make of [
      () => CALIBRATORS.percentile({ percentile: 100.5 }),
      () => CALIBRATORS.percentile({ percentile: NaN }),
      () => CALIBRATORS.percentile({ numBins: 0 }),
      () => CALIBRATORS.entropy({ numBins: 1.5 }),
      () => CALIBRATORS.entropy({ numQuantizedBins: 1 }),
    ]) {
      expect(make).toThrow(EcomlError);
      try {
        make();
      } catch (error) {
        expect((error as EcomlError).code).toBe('E_CONFIG_INVALID');
      }
    }
  });
});

describe('PowerOfTwoHistogram', () => {
  it('keeps every count and a power-of-two width with absMax < bins·w ≤ 2·absMax as the range grows (seeded property)', () => {
    for (let seed = 0; seed < 30; seed++) {
      const rng = new PyRandom(300 + seed);
      const histogram = new PowerOfTwoHistogram(rng.random() < 0.5 ? 'signed' : 'magnitude', 1 + rng.below(300));
      let count = 0;
      let absMax = 0;
      for (let b = 0; b < 6; b++) {
        const batch = normal(rng, rng.below(500), 10 ** (rng.random() * 40 - 20));
        const batchMax = extent(batch).absMax;
        histogram.add(batch, batch.length === 0 ? 0 : batchMax);
        count += batch.length;
        absMax = Math.max(absMax, batch.length === 0 ? 0 : batchMax);
        const binned = [...histogram.positive, ...histogram.negative].reduce((s, c) => s + c, 0);
        expect(binned).toBe(count);
        if (absMax === 0) continue;
        const w = histogram.binWidth;
        expect(Number.isInteger(Math.log2(w))).toBe(true);
        expect(absMax).toBeLessThan(histogram.binsPerSide * w);
        expect(histogram.binsPerSide * w).toBeLessThanOrEqual(2 * absMax);
      }
      expect(histogram.positive.length).toBe(histogram.binsPerSide); // memory fixed at construction
    }
  });

  it('bins exactly like a histogram made at the final width', () => {
    const rng = new PyRandom(8);
    const small = normal(rng, 1000, 0.01);
    const large = normal(rng, 1000, 100);
    const grown = new PowerOfTwoHistogram('signed', 128);
    grown.add(small, extent(small).absMax);
    grown.add(large, extent(large).absMax);
    const direct = new PowerOfTwoHistogram('signed', 128);
    const both = Float32Array.from([...small, ...large]);
    direct.add(both, extent(both).absMax);
    expect(grown.binWidth).toBe(direct.binWidth);
    expect(grown.positive).toEqual(direct.positive);
    expect(grown.negative).toEqual(direct.negative);
  });
});
