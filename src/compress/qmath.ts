/**
 * Quantization arithmetic as ONNX Runtime's quantizer does it (quant_utils.py): scales and zero
 * points from ranges, float32 division and round-half-to-even, the 8-bit ranges, and float32 →
 * float16 rounding. Pure functions.
 * @module
 */

export interface QuantParams {
  /** float32. */
  readonly scale: number;
  readonly zeroPoint: number;
}

export interface QuantRange {
  readonly qmin: number;
  readonly qmax: number;
}

/** uint8 activations: the full range (ORT narrows only weights). */
export const UINT8: QuantRange = { qmin: 0, qmax: 255 };

/**
 * int8 symmetric weights: ±127, or ±64 with reduceRange (ORT's 7-bit weights for CPUs without
 * VNNI, where u8×s8 pairs could saturate the 16-bit intermediate sums).
 */
export function int8Weights(reduceRange: boolean): QuantRange {
  return reduceRange ? { qmin: -64, qmax: 64 } : { qmin: -127, qmax: 127 };
}

export const INT32: QuantRange = { qmin: -(2 ** 31), qmax: 2 ** 31 - 1 };

/** numpy.round: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * ORT's compute_scale_zp: the range widened to hold 0 (so 0 is exact), made symmetric on request;
 * an empty range gets scale 1 and zero point 0.
 */
export function scaleZeroPoint(min: number, max: number, q: QuantRange, symmetric: boolean): QuantParams {
  // Ranges are float32 (calibrated on float32 tensors), and ORT subtracts them in float32.
  let rmin = Math.min(Math.fround(min), 0);
  let rmax = Math.max(Math.fround(max), 0);
  if (symmetric) {
    const absmax = Math.max(Math.abs(rmin), Math.abs(rmax));
    rmin = -absmax;
    rmax = absmax;
  }
  const scale = Math.fround(rmax - rmin) / (q.qmax - q.qmin);
  if (scale < FLOAT32_TINY) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = symmetric ? roundHalfEven((q.qmin + q.qmax) / 2) : roundHalfEven(q.qmin - rmin / scale);
  return { scale: Math.fround(scale), zeroPoint: Math.min(q.qmax, Math.max(q.qmin, zeroPoint)) };
}

/** QuantizeLinear of one float32 value: saturate(round(x / scale) + zeroPoint). */
export function quantize(x: number, p: QuantParams, q: QuantRange): number {
  const v = roundHalfEven(Math.fround(Math.fround(x) / p.scale)) + p.zeroPoint;
  return Math.min(q.qmax, Math.max(q.qmin, v));
}

export function dequantize(v: number, p: QuantParams): number {
  return Math.fround((v - p.zeroPoint) * p.scale);
}

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;
/** The smallest positive float16 (subnormal); onnxconverter-common lifts smaller magnitudes to it. */
export const FLOAT16_MIN_POSITIVE = 5.960464477539063e-8;

/** onnxconverter-common's clamp before the cast: nonzero magnitudes into [min positive, max finite]. */
export function clampToFloat16Range(x: number): number {
  if (x === 0 || Number.isNaN(x)) return x;
  const magnitude = Math.min(FLOAT16_MAX, Math.max(FLOAT16_MIN_POSITIVE, Math.abs(x)));
  return x < 0 ? -magnitude : magnitude;
}

/** IEEE binary16 bits of `x`, rounded to nearest even (what numpy's astype(float16) does). */
export function float16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00; // rounds past the largest finite value
  if (a < 2 ** -24 * 0.5) return sign; // rounds to zero (exactly half rounds to even, i.e. zero)
  if (a < 2 ** -14) {
    // Subnormal: units of 2^-24.
    return sign | roundHalfEven(a / 2 ** -24);
  }
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent -= 1;
  else if (2 ** (exponent + 1) <= a) exponent += 1;
  let mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent += 1;
  }
  return sign | ((exponent + 15) << 10) | mantissa;
}

export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
