/**
 * The pieces of Optuna 4.x's TPE as pure functions: the observation weights, gamma, the kernel
 * bandwidths with the magic clip, truncated Gaussian (continuous and discretised) and categorical
 * kernels, and the Parzen mixture over one or several parameters with its log density and sampler.
 * Coordinates are internal: a continuous parameter lives in [low, high] with step 0, a discrete one
 * on the grid low, low + step, …, high (tpe.ts maps hyperparameters onto these).
 * @module
 */
import type { PyRandom } from '../../util/random.js';

/** Optuna's `default_weights`: ones below 25, else a ramp 1/n … 1 over the older n − 25 and flat 1 for the newest 25. */
export function defaultWeights(n: number): number[] {
  if (n < 25) return Array.from({ length: n }, () => 1);
  const rampLength = n - 25;
  // numpy.linspace(1/n, 1, num): with one point it is just the start.
  const ramp = Array.from({ length: rampLength }, (_, i) => (rampLength === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (rampLength - 1)));
  return [...ramp, ...Array.from({ length: 25 }, () => 1)];
}

/** Optuna's `default_gamma`: how many of n finished trials count as "below" (the good ones). */
export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

/** The multi-objective gamma (MOTPE): not capped at 25, as the Pareto ranks need room. */
export function multiObjectiveGamma(n: number): number {
  return Math.ceil(0.1 * n);
}

/** A parameter's domain in internal coordinates; step 0 means continuous. */
export type Domain = { readonly kind: 'numeric'; readonly low: number; readonly high: number; readonly step: number } | { readonly kind: 'categorical'; readonly choices: number };

/** A domain's width as Optuna measures it: a discrete grid spans half a step past each end. */
export function domainRange(domain: Extract<Domain, { kind: 'numeric' }>): number {
  return domain.high - domain.low + domain.step;
}

/**
 * Optuna's `consider_magic_clip`: bandwidths between range / min(100, kernels + 1) and the range,
 * the kernels being the observations plus the prior.
 */
export function clipSigma(sigma: number, range: number, observations: number): number {
  const kernels = observations + 1;
  return Math.min(range, Math.max(range / Math.min(100, 1 + kernels), sigma));
}

/**
 * Independent TPE's bandwidths: each observation's larger gap to its sorted neighbours, the prior's
 * mean (the middle) sorted in with them and the domain's ends (half a step out) closing the row;
 * with consider_endpoints=False the outermost kernels take their inner gap instead. Clipped.
 */
export function univariateSigmas(mus: readonly number[], domain: Extract<Domain, { kind: 'numeric' }>): number[] {
  const { low, high, step } = domain;
  const withPrior = [...mus, 0.5 * (low + high)];
  const order = withPrior.map((_, i) => i).sort((a, b) => (withPrior[a] as number) - (withPrior[b] as number) || a - b);
  const row = [low - step / 2, ...order.map((i) => withPrior[i] as number), high + step / 2];
  const sorted = order.map((_, k) => Math.max((row[k + 1] as number) - (row[k] as number), (row[k + 2] as number) - (row[k + 1] as number)));
  if (row.length >= 4) {
    sorted[0] = (row[2] as number) - (row[1] as number);
    sorted[sorted.length - 1] = (row[row.length - 2] as number) - (row[row.length - 3] as number);
  }
  const sigmas = new Array<number>(withPrior.length);
  order.forEach((index, k) => (sigmas[index] = sorted[k] as number));
  return sigmas.slice(0, mus.length).map((sigma) => clipSigma(sigma, domainRange(domain), mus.length));
}

/** Multivariate TPE's one bandwidth for every observation: 0.2 · n^(−1/(d+4)) · range, clipped. */
export function multivariateSigma(observations: number, dimensions: number, domain: Extract<Domain, { kind: 'numeric' }>): number {
  const range = domainRange(domain);
  return clipSigma(0.2 * Math.max(observations, 1) ** (-1 / (dimensions + 4)) * range, range, observations);
}

/** log Q(z) = log P(Z > z) for z ≥ 0, in log space so far tails do not underflow (erfc to 1.2e-7 relative, Numerical Recipes' erfcc). */
function logUpperTail(z: number): number {
  if (z === Infinity) return -Infinity;
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + poly - Math.LN2;
}

/** log P(a < Z < b) for a standard normal Z, a < b, accurate in both tails. */
export function logNormalMass(a: number, b: number): number {
  if (a >= 0) {
    const upper = logUpperTail(a);
    return upper + Math.log1p(-Math.exp(logUpperTail(b) - upper));
  }
  if (b <= 0) return logNormalMass(-b, -a);
  return Math.log1p(-(Math.exp(logUpperTail(-a)) + Math.exp(logUpperTail(b))));
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** log density at x of N(mu, sigma²) truncated to [low, high]; −Infinity outside. */
export function truncNormLogPdf(x: number, mu: number, sigma: number, low: number, high: number): number {
  if (x < low || x > high) return -Infinity;
  const z = (x - mu) / sigma;
  return -0.5 * z * z - LOG_SQRT_2PI - Math.log(sigma) - logNormalMass((low - mu) / sigma, (high - mu) / sigma);
}

/** log probability of grid point x when N(mu, sigma²), truncated to the grid's half-step-widened ends, is rounded to the grid. */
export function discreteTruncNormLogPmf(x: number, mu: number, sigma: number, domain: Extract<Domain, { kind: 'numeric' }>): number {
  const half = domain.step / 2;
  const bin = logNormalMass((x - half - mu) / sigma, (x + half - mu) / sigma);
  return bin - logNormalMass((domain.low - half - mu) / sigma, (domain.high + half - mu) / sigma);
}

/** One parameter's kernels: component k is (mus[k], sigmas[k]) or probs[k]. */
export type Kernels =
  | { readonly domain: Extract<Domain, { kind: 'numeric' }>; readonly mus: readonly number[]; readonly sigmas: readonly number[] }
  | { readonly domain: Extract<Domain, { kind: 'categorical' }>; readonly probs: readonly (readonly number[])[] };

/** A mixture over one or more parameters: component k is the product of every parameter's kernel k. */
export interface ParzenEstimator {
  /** Normalised, one per observation then the prior's. */
  readonly weights: readonly number[];
  readonly kernels: readonly Kernels[];
}

export interface ParzenOptions {
  readonly multivariate: boolean;
  readonly priorWeight: number;
}

/**
 * Optuna's `_ParzenEstimator`: one kernel per observation and a prior kernel (the middle of the
 * range with σ = range, or uniform over the choices) per parameter. `observations[i][d]` is
 * observation i's internal value for parameter d; `weights` default to defaultWeights(n).
 */
export function buildParzenEstimator(
  observations: readonly (readonly number[])[],
  domains: readonly Domain[],
  options: ParzenOptions,
  weights: readonly number[] = defaultWeights(observations.length),
): ParzenEstimator {
  const n = observations.length;
  const raw = [...weights, options.priorWeight];
  const total = raw.reduce((sum, w) => sum + w, 0);
  const kernels = domains.map((domain, d): Kernels => {
    const values = observations.map((o) => o[d] as number);
    if (domain.kind === 'categorical') {
      // Each observation's kernel puts priorWeight/(n+1) on every choice and 1 more on its own.
      const base = options.priorWeight / (n + 1);
      const row = (chosen: number | undefined) => {
        const probs = Array.from({ length: domain.choices }, (_, c) => base + (c === chosen ? 1 : 0));
        const sum = probs.reduce((s, p) => s + p, 0);
        return probs.map((p) => p / sum);
      };
      return { domain, probs: [...values.map((v) => row(v)), row(undefined)] };
    }
    const sigmas = options.multivariate ? values.map(() => multivariateSigma(n, domains.length, domain)) : univariateSigmas(values, domain);
    return { domain, mus: [...values, 0.5 * (domain.low + domain.high)], sigmas: [...sigmas, domainRange(domain)] };
  });
  return { weights: raw.map((w) => w / total), kernels };
}

function kernelLogPdf(kernels: Kernels, k: number, x: number): number {
  if ('probs' in kernels) return Math.log(kernels.probs[k]?.[x] ?? 0);
  const { domain } = kernels;
  const mu = kernels.mus[k] as number;
  const sigma = kernels.sigmas[k] as number;
  return domain.step === 0 ? truncNormLogPdf(x, mu, sigma, domain.low, domain.high) : discreteTruncNormLogPmf(x, mu, sigma, domain);
}

/** log of the mixture density (probability mass for discrete parameters) at the point x. */
export function parzenLogPdf(estimator: ParzenEstimator, x: readonly number[]): number {
  const terms = estimator.weights.map((w, k) => Math.log(w) + estimator.kernels.reduce((sum, kernels, d) => sum + kernelLogPdf(kernels, k, x[d] as number), 0));
  const max = Math.max(...terms);
  if (max === -Infinity) return -Infinity;
  return max + Math.log(terms.reduce((sum, t) => sum + Math.exp(t - max), 0));
}

/** Draws `count` points: a component by weight, then each parameter from that component's kernel. */
export function sampleParzen(estimator: ParzenEstimator, rng: PyRandom, count: number): number[][] {
  return Array.from({ length: count }, () => {
    const k = pickIndex(estimator.weights, rng.random());
    return estimator.kernels.map((kernels) => sampleKernel(kernels, k, rng));
  });
}

function sampleKernel(kernels: Kernels, k: number, rng: PyRandom): number {
  if ('probs' in kernels) return pickIndex(kernels.probs[k] as readonly number[], rng.random());
  const { low, high, step } = kernels.domain;
  const x = sampleTruncNorm(kernels.mus[k] as number, kernels.sigmas[k] as number, low - step / 2, high + step / 2, rng);
  return step === 0 ? x : Math.min(high, Math.max(low, low + Math.round((x - low) / step) * step));
}

/**
 * By rejection: the mean lies in [low, high] and σ ≤ the range, so at least a third of the draws
 * land inside (Optuna inverts the CDF; the distribution is the same).
 */
function sampleTruncNorm(mu: number, sigma: number, low: number, high: number, rng: PyRandom): number {
  for (;;) {
    // Box–Muller; 1 − u keeps the logarithm finite.
    const z = Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());
    const x = mu + sigma * z;
    if (x >= low && x <= high) return x;
  }
}

/** The index whose cumulative weight first exceeds u (weights sum to 1). */
function pickIndex(weights: readonly number[], u: number): number {
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i] as number;
    if (u < cumulative) return i;
  }
  return weights.length - 1;
}
