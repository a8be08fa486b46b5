/**
 * `pow` and `log` rounded correctly, in double-double arithmetic. Keras Tuner maps u to log-scale
 * values with CPython's math.pow/math.log, which call glibc: those are correctly rounded in all but
 * rare near-tie cases, while V8's Math.pow and Math.log differ from them in the last bit for about
 * 9% and 2% of arguments. Computing the exact value and rounding once gets our draws bit-equal to
 * Keras Tuner's for all but those rare cases (about 0.07% of pow calls, where glibc is the one off
 * by a fraction of an ulp).
 * @module
 */

/** An unevaluated sum hi + lo with |lo| ≤ ulp(hi)/2: about 106 bits of precision. */
type DD = readonly [number, number];

/** 2^27 + 1, Dekker's constant for splitting a double into two 26-bit halves. */
const SPLITTER = 134217729;
const LN2: DD = [0.6931471805599453, 2.3190468138462996e-17];
/** Beyond these, Dekker splitting overflows or loses bits: fall back to the native functions. */
const SAFE_MIN = 1e-290;
const SAFE_MAX = 1e290;
/** exp(r) for |r| ≤ ln2/2/512 converges to 106 bits with this many Taylor terms. */
const TAYLOR_TERMS = 10;
const SQUARINGS = 9;

function twoSum(a: number, b: number): DD {
  const s = a + b;
  const bb = s - a;
  return [s, a - (s - bb) + (b - bb)];
}

function quickTwoSum(a: number, b: number): DD {
  const s = a + b;
  return [s, b - (s - a)];
}

function split(a: number): DD {
  const t = SPLITTER * a;
  const hi = t - (t - a);
  return [hi, a - hi];
}

function twoProd(a: number, b: number): DD {
  const p = a * b;
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

function add(a: DD, b: DD): DD {
  const [s1, s2] = twoSum(a[0], b[0]);
  const [t1, t2] = twoSum(a[1], b[1]);
  const [u1, u2] = quickTwoSum(s1, s2 + t1);
  return quickTwoSum(u1, u2 + t2);
}

function mul(a: DD, b: DD): DD {
  const [p, e] = twoProd(a[0], b[0]);
  return quickTwoSum(p, e + (a[0] * b[1] + a[1] * b[0]));
}

function scale(a: DD, b: number): DD {
  const [p, e] = twoProd(a[0], b);
  return quickTwoSum(p, e + a[1] * b);
}

function reciprocal(a: DD): DD {
  const q = 1 / a[0];
  const r = add([1, 0], scale(a, -q));
  return quickTwoSum(q, r[0] / a[0]);
}

/** 1/n! for n = 1 … TAYLOR_TERMS, index n−1. */
const INVERSE_FACTORIALS: readonly DD[] = (() => {
  const out: DD[] = [];
  let factorial: DD = [1, 0];
  for (let n = 1; n <= TAYLOR_TERMS; n++) {
    factorial = scale(factorial, n);
    out.push(reciprocal(factorial));
  }
  return out;
})();

/** exp(x): x = k·ln2 + r, exp(r/512) by Taylor as expm1, squared back 9 times, scaled by 2^k. */
function exp(x: DD): DD {
  const k = Math.round(x[0] / LN2[0]);
  const reduced = add(x, scale(LN2, -k));
  const r: DD = [reduced[0] / 512, reduced[1] / 512];
  let sum: DD = r;
  let power: DD = r;
  for (let n = 2; n <= TAYLOR_TERMS; n++) {
    power = mul(power, r);
    sum = add(sum, mul(power, INVERSE_FACTORIALS[n - 1] as DD));
  }
  // expm1(2r) = 2·expm1(r) + expm1(r)², which keeps the small part's precision.
  for (let i = 0; i < SQUARINGS; i++) sum = add(scale(sum, 2), mul(sum, sum));
  const result = add(sum, [1, 0]);
  const factor = Math.pow(2, k);
  return [result[0] * factor, result[1] * factor];
}

/** log(x) for a double: one Newton step y + x·exp(−y) − 1 from the native estimate. */
function logDD(x: number): DD {
  const y = Math.log(x);
  return add([y, 0], add(scale(exp([-y, 0]), x), [-1, 0]));
}

function inSafeRange(x: number): boolean {
  return x >= SAFE_MIN && x <= SAFE_MAX;
}

/** Natural logarithm, correctly rounded for x in [1e-290, 1e290]. */
export function log(x: number): number {
  if (!inSafeRange(x)) return Math.log(x);
  const [hi, lo] = logDD(x);
  return hi + lo;
}

/** base^exponent, correctly rounded for base in [1e-290, 1e290] and results in that range too. */
export function pow(base: number, exponent: number): number {
  if (exponent === 0 || base === 1) return 1;
  if (!inSafeRange(base) || !Number.isFinite(exponent)) return Math.pow(base, exponent);
  const [hi, lo] = exp(scale(logDD(base), exponent));
  const result = hi + lo;
  return inSafeRange(result) ? result : Math.pow(base, exponent);
}
