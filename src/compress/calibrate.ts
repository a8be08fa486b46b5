/**
 * Activation range calibration for static int8 quantization: MinMax, Percentile and Entropy with
 * ONNX Runtime's semantics (onnxruntime/python/tools/quantization/calibrate.py). A collector sees one
 * tensor's values batch after batch and keeps only its extrema and a histogram, never the values.
 *
 * Where we differ from ORT, on purpose:
 * - NaN and ±Infinity are counted and left out (in ORT an Infinity makes MinMax's range infinite,
 *   and numpy's histogram raise on the non-finite range nanmax gives it).
 * - The histogram's bins are powers of two wide, fixed by the largest |x| seen so far; when a
 *   batch widens the range, whole bins merge (exactly) instead of ORT's appending bins of the first
 *   batch's width, which grows without bound (1e-6 then 1e6 asks for ~10^14 bins). The result no
 *   longer depends on how the samples were split into batches or in what order they came.
 *   Such a histogram spans the data with `numBins` to `2·numBins` bins where ORT's first batch has
 *   exactly `numBins`, so resolution is never coarser than ORT's.
 * - Entropy defaults to 2048 bins, TensorRT's figure (the method ORT cites), not ORT's 128: with 128
 *   bins and 128 quantized bins ORT has one candidate threshold, the full range, so a single batch
 *   gives MinMax's answer. Its KL step follows MXNet's version, which ORT copied: ORT truncates the
 *   expanded q to integers and leaves the bins past the last whole group out of q.
 * - A threshold is clamped into [min, max] at both ends (ORT only lowers max and raises min), so a
 *   constant tensor gives {c, c}, never min > max.
 * @module
 */

import { EcomlError } from '../errors.js';

export interface TensorRange {
  readonly min: number;
  readonly max: number;
}

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';

export interface RangeCollector {
  /** Adds one batch of the tensor's values (any shape, flattened). */
  add(values: Float32Array): void;
  /** The calibrated range so far; {0, 0} before any finite value. Finite, min ≤ max. */
  range(): TensorRange;
  /** How many values were left out as NaN or ±Infinity. */
  readonly skipped: number;
}

export interface MinMaxOptions {
  /** ±max|x| instead of [min, max]. ORT's default: false. */
  readonly symmetric?: boolean;
}

export interface PercentileOptions {
  /** Percent of the values kept inside the range, in [0, 100]. ORT's default: 99.999. */
  readonly percentile?: number;
  /** Bins across the data's span. ORT's default: 2048. */
  readonly numBins?: number;
  /** A histogram of |x| and a range ±t (true, ORT's default), or of x cut evenly at both tails. */
  readonly symmetric?: boolean;
}

export interface EntropyOptions {
  /** Bins across [-max|x|, max|x|]. Default 2048 (TensorRT; ORT's is 128, see the module comment). */
  readonly numBins?: number;
  /** Levels the candidate ranges are quantized to. ORT's default: 128. */
  readonly numQuantizedBins?: number;
}

export interface CalibrationOptions {
  readonly minmax: MinMaxOptions;
  readonly percentile: PercentileOptions;
  readonly entropy: EntropyOptions;
}

export const CALIBRATORS: { readonly [K in CalibrationMethod]: (options?: CalibrationOptions[K]) => RangeCollector } = Object.freeze({
  minmax: (options: MinMaxOptions = {}) => new MinMaxCollector(options.symmetric ?? false),
  percentile: (options: PercentileOptions = {}) => {
    const percentile = options.percentile ?? 99.999;
    if (!(percentile >= 0 && percentile <= 100)) {
      throw new EcomlError('E_CONFIG_INVALID', `The calibration percentile must be in [0, 100], got ${percentile}.`, { details: { percentile } });
    }
    const symmetric = options.symmetric ?? true;
    const numBins = checkedBins('numBins', options.numBins ?? 2048, 1);
    return new HistogramCollector(symmetric ? 'magnitude' : 'signed', numBins, (histogram, extrema) =>
      percentileRange(histogram, extrema, percentile),
    );
  },
  entropy: (options: EntropyOptions = {}) => {
    const numBins = checkedBins('numBins', options.numBins ?? 2048, 2);
    const numQuantizedBins = checkedBins('numQuantizedBins', options.numQuantizedBins ?? 128, 2);
    return new HistogramCollector('signed', numBins, (histogram, extrema) => entropyRange(histogram, extrema, numQuantizedBins));
  },
});

function checkedBins(name: string, value: number, least: number): number {
  if (!Number.isSafeInteger(value) || value < least) {
    throw new EcomlError('E_CONFIG_INVALID', `The calibration's ${name} must be an integer of at least ${least}, got ${value}.`, { details: { [name]: value } });
  }
  return value;
}

/** The finite extrema of everything seen, and how many values were not finite. */
class Extrema {
  min = Infinity;
  max = -Infinity;
  skipped = 0;

  /** Folds a batch in; returns the batch's largest finite |x| (0 when it has none). */
  add(values: Float32Array): number {
    let min = Infinity;
    let max = -Infinity;
    for (const x of values) {
      if (!Number.isFinite(x)) this.skipped++;
      else {
        if (x < min) min = x;
        if (x > max) max = x;
      }
    }
    this.min = Math.min(this.min, min);
    this.max = Math.max(this.max, max);
    return min <= max ? Math.max(-min, max) : 0;
  }

  get seen(): boolean {
    return this.min <= this.max;
  }

  /** [lo, hi] clamped into [min, max] at both ends; {0, 0} before any finite value. */
  clamp(lo: number, hi: number): TensorRange {
    if (!this.seen) return { min: 0, max: 0 };
    const clampOne = (x: number): number => Math.min(Math.max(x, this.min), this.max) + 0; // + 0 turns -0 into 0
    return { min: clampOne(lo), max: clampOne(hi) };
  }
}

class MinMaxCollector implements RangeCollector {
  private readonly extrema = new Extrema();

  constructor(private readonly symmetric: boolean) {}

  get skipped(): number {
    return this.extrema.skipped;
  }

  add(values: Float32Array): void {
    this.extrema.add(values);
  }

  range(): TensorRange {
    const { min, max } = this.extrema;
    if (!this.symmetric) return this.extrema.clamp(min, max);
    const absMax = Math.max(-min, max);
    return this.extrema.seen ? { min: -absMax + 0, max: absMax } : { min: 0, max: 0 };
  }
}

type HistogramKind = 'signed' | 'magnitude';

class HistogramCollector implements RangeCollector {
  private readonly extrema = new Extrema();
  private readonly histogram: PowerOfTwoHistogram;

  constructor(
    kind: HistogramKind,
    numBins: number,
    private readonly finish: (histogram: PowerOfTwoHistogram, extrema: Extrema) => TensorRange,
  ) {
    // ORT spreads numBins over [-T, T] for a signed histogram, over [0, T] for |x|; each side holds
    // twice its share so that, with power-of-two widths, the data still span at least that many.
    this.histogram = new PowerOfTwoHistogram(kind, kind === 'signed' ? numBins : 2 * numBins);
  }

  get skipped(): number {
    return this.extrema.skipped;
  }

  add(values: Float32Array): void {
    this.histogram.add(values, this.extrema.add(values));
  }

  range(): TensorRange {
    // All-zero (or empty) data: no bin width was ever set, and [min, max] is the answer.
    return this.histogram.binWidth === 0 ? this.extrema.clamp(this.extrema.min, this.extrema.max) : this.finish(this.histogram, this.extrema);
  }
}

/**
 * A histogram of finite values in bins of width 2^k laid out from 0 outwards: `positive[i]` counts
 * x in [i·w, (i+1)·w), `negative[i]` counts x in (-(i+1)·w, -i·w] (a 'magnitude' histogram counts
 * |x| in `positive` alone). w is the least power of two with max|x| < binsPerSide·w, so it depends
 * on the data's extent alone and a re-bin is an exact merge of 2^j neighbours.
 */
export class PowerOfTwoHistogram {
  readonly positive: Float64Array;
  readonly negative: Float64Array;
  /** 0 until a nonzero value arrives; zeros wait in positive[0], where every width puts them. */
  binWidth = 0;

  constructor(
    readonly kind: HistogramKind,
    readonly binsPerSide: number,
  ) {
    this.positive = new Float64Array(binsPerSide);
    this.negative = new Float64Array(kind === 'signed' ? binsPerSide : 0);
  }

  /** Adds the batch's finite values; `absMax` is their largest |x|. */
  add(values: Float32Array, absMax: number): void {
    // w·binsPerSide is exact (w a power of two), so absMax < it keeps every index below binsPerSide.
    if (absMax > 0 && absMax >= this.binsPerSide * this.binWidth) this.widen(powerOfTwoAbove(absMax / this.binsPerSide));
    const width = this.binWidth;
    for (const x of values) {
      if (!Number.isFinite(x)) continue;
      if (width === 0) this.positive[0]! += 1; // the batch is all zeros
      else if (x < 0 && this.kind === 'signed') this.negative[Math.floor(-x / width)]! += 1;
      else this.positive[Math.floor(Math.abs(x) / width)]! += 1;
    }
  }

  /**
   * The signed histogram as one array from the most negative bin up, with its edges: `counts[j]`
   * spans [edges[j], edges[j + 1]) and bin `half` starts at 0. Trimmed to the bins in use, but at
   * least `minHalf` a side.
   */
  layout(minHalf = 0): { readonly counts: Float64Array; readonly edge: (j: number) => number; readonly half: number } {
    const half = Math.max(minHalf, lastNonzero(this.positive) + 1, lastNonzero(this.negative) + 1);
    const counts = new Float64Array(2 * half);
    for (let i = 0; i < half; i++) {
      counts[half - 1 - i] = this.negative[i] ?? 0;
      counts[half + i] = this.positive[i] ?? 0;
    }
    const width = this.binWidth;
    return { counts, half, edge: (j) => (j - half) * width };
  }

  private widen(width: number): void {
    const factor = this.binWidth === 0 ? Infinity : width / this.binWidth;
    for (const side of [this.positive, this.negative]) {
      for (let i = 1; i < side.length; i++) {
        const count = side[i]!;
        if (count === 0) continue;
        side[i] = 0;
        side[Math.floor(i / factor)]! += count;
      }
    }
    this.binWidth = width;
  }
}

/** The least power of two strictly above x (x > 0): 2^k > x ≥ 2^(k-1). */
function powerOfTwoAbove(x: number): number {
  let p = 2 ** Math.floor(Math.log2(x));
  // log2 rounds near powers of two; settle the exponent by comparison.
  while (p > x) p /= 2;
  while (p <= x) p *= 2;
  return p;
}

function sum(counts: Float64Array): number {
  let total = 0;
  for (const c of counts) total += c;
  return total;
}

function lastNonzero(counts: Float64Array): number {
  for (let i = counts.length - 1; i >= 0; i--) if (counts[i] !== 0) return i;
  return -1;
}

/**
 * ORT's compute_percentile. Symmetric (a |x| histogram): t = the lower edge of the bin where the
 * cumulative share first reaches percentile/100, range ±t. Otherwise (100 − percentile)/2 percent is
 * cut from each tail, each end again a bin's lower edge. Both clamped into [min, max].
 */
function percentileRange(histogram: PowerOfTwoHistogram, extrema: Extrema, percentile: number): TensorRange {
  const share = percentile / 100;
  if (histogram.kind === 'magnitude') {
    const t = searchCumulative(histogram.positive, share) * histogram.binWidth;
    return extrema.clamp(-t, t);
  }
  const { counts, edge } = histogram.layout();
  const cut = (1 - share) / 2;
  return extrema.clamp(edge(searchCumulative(counts, cut)), edge(searchCumulative(counts, 1 - cut)));
}

/** numpy's searchsorted(cumsum(counts / total), share): the first index whose cumulative share is ≥ share. */
function searchCumulative(counts: Float64Array, share: number): number {
  const total = sum(counts);
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    cumulative += counts[i]!;
    if (cumulative / total >= share) return i;
  }
  return counts.length;
}

/**
 * ORT's get_entropy_threshold: for each candidate i from numQuantizedBins/2 up to the histogram's
 * half, the slice of bins [half − i, half + i + 1) (ORT's bounds: one more bin right of zero than
 * left) is the reference p with the outliers folded into its end bins, and q is the slice without
 * them, merged into numQuantizedBins groups and spread back over each group's nonzero bins of p.
 * The range of the candidate with the least KL(p‖q) wins (the first on a tie, as argmin); with none
 * finite, the full range.
 */
function entropyRange(histogram: PowerOfTwoHistogram, extrema: Extrema, numQuantizedBins: number): TensorRange {
  const halfQuantized = Math.floor(numQuantizedBins / 2);
  const { counts, edge, half } = histogram.layout(halfQuantized);
  const cumulative = new Float64Array(counts.length + 1);
  const cumulativeNonzero = new Float64Array(counts.length + 1);
  for (let j = 0; j < counts.length; j++) {
    cumulative[j + 1] = cumulative[j]! + counts[j]!;
    cumulativeNonzero[j + 1] = cumulativeNonzero[j]! + (counts[j] === 0 ? 0 : 1);
  }
  const sums = { counts, cumulative, cumulativeNonzero };
  let best = { divergence: Infinity, min: extrema.min, max: extrema.max };
  for (let i = halfQuantized; i <= half; i++) {
    const start = half - i;
    const end = Math.min(half + i + 1, counts.length);
    const divergence = klDivergence(sums, start, end, numQuantizedBins);
    if (divergence < best.divergence) best = { divergence, min: edge(start), max: edge(end) };
  }
  return extrema.clamp(best.min, best.max);
}

/** The smoothing ORT's smooth_distribution applies: zeros become EPS, the nonzero entries give that mass back. */
const EPS = 0.0001;

/**
 * KL(p‖q) of the candidate slice [start, end) after ORT's smoothing, without building p or q: q is
 * zero wherever p is, so every zero bin of p contributes the same (EPS/P)·log(Q/P), and smoothing
 * keeps both totals. Infinity where a distribution cannot be smoothed (all zero, or an entry the
 * smoothing would empty), as ORT's None.
 */
function klDivergence(
  sums: { readonly counts: Float64Array; readonly cumulative: Float64Array; readonly cumulativeNonzero: Float64Array },
  start: number,
  end: number,
  numQuantizedBins: number,
): number {
  const { counts, cumulative, cumulativeNonzero } = sums;
  const length = end - start;
  const merged = Math.floor(length / numQuantizedBins);
  if (merged === 0) return Infinity; // the smallest candidate when numQuantizedBins is odd: fewer bins than levels
  const leftOutliers = cumulative[start]!;
  const rightOutliers = cumulative[counts.length]! - cumulative[end]!;
  const p = (j: number): number => counts[start + j]! + (j === 0 ? leftOutliers : 0) + (j === length - 1 ? rightOutliers : 0);
  // the last group also takes the bins past the last whole one
  const groupEnd = (k: number): number => (k === numQuantizedBins - 1 ? length : (k + 1) * merged);
  const nonzeroIn = (from: number, to: number): number =>
    cumulativeNonzero[start + to]! - cumulativeNonzero[start + from]! +
    (from === 0 && counts[start] === 0 && leftOutliers > 0 ? 1 : 0) +
    (to === length && counts[end - 1] === 0 && rightOutliers > 0 ? 1 : 0);

  let nonzeroP = 0;
  let nonzeroQ = 0;
  let totalQ = 0;
  for (let k = 0; k < numQuantizedBins; k++) {
    const from = k * merged;
    const to = groupEnd(k);
    const nonzero = nonzeroIn(from, to);
    const quantized = cumulative[start + to]! - cumulative[start + from]!;
    nonzeroP += nonzero;
    if (quantized > 0) {
      // p ≥ the slice, so a group with counts has nonzero bins of p to spread them over
      nonzeroQ += nonzero;
      totalQ += quantized;
    }
  }
  if (nonzeroQ === 0) return Infinity;
  const totalP = cumulative[counts.length]!;
  const epsP = (EPS * (length - nonzeroP)) / nonzeroP;
  const epsQ = (EPS * (length - nonzeroQ)) / nonzeroQ;
  let divergence = ((length - nonzeroP) * EPS * Math.log(totalQ / totalP)) / totalP;
  for (let k = 0; k < numQuantizedBins; k++) {
    const from = k * merged;
    const to = groupEnd(k);
    const nonzero = nonzeroIn(from, to);
    if (nonzero === 0) continue;
    const quantized = cumulative[start + to]! - cumulative[start + from]!;
    const q = quantized > 0 ? quantized / nonzero - epsQ : EPS;
    if (q <= 0) return Infinity;
    for (let j = from; j < to; j++) {
      const pj = p(j);
      if (pj === 0) continue;
      const smoothed = pj - epsP;
      if (smoothed <= 0) return Infinity;
      divergence += (smoothed / totalP) * Math.log((smoothed * totalQ) / (q * totalP));
    }
  }
  return divergence;
}
