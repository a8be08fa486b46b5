import { describe, expect, it } from 'vitest';
import { clampToFloat16Range, dequantize, float16Bits, float16Value, int8Weights, quantize, roundHalfEven, scaleZeroPoint, UINT8 } from '../../src/compress/qmath.js';
import { PyRandom } from '../../src/util/random.js';

describe('quantization arithmetic', () => {
  it('rounds halves to even, as numpy.round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it('makes 0 exact and maps the range onto [0, 255] (seeded property)', () => {
    const rng = new PyRandom(1);
    for (let k = 0; k < 500; k++) {
      const min = -rng.random() * 10 * (k % 3);
      const max = rng.random() * 10 * ((k + 1) % 3);
      const p = scaleZeroPoint(min, max, UINT8, false);
      if (min === 0 && max === 0) {
        expect(p).toEqual({ scale: 1, zeroPoint: 0 });
        continue;
      }
      expect(dequantize(quantize(0, p, UINT8), p)).toBe(0);
      // The range's width in float32 (ORT's float32 subtraction), divided in float64, stored as float32.
      expect(p.scale).toBe(Math.fround(Math.fround(Math.fround(max) - Math.fround(min)) / 255));
      expect(Math.abs(quantize(min, p, UINT8) - 0)).toBeLessThanOrEqual(1);
      expect(Math.abs(quantize(max, p, UINT8) - 255)).toBeLessThanOrEqual(1);
      // Inside the range, the round trip is within half a step.
      const x = min + rng.random() * (max - min);
      expect(Math.abs(dequantize(quantize(x, p, UINT8), p) - x)).toBeLessThanOrEqual(p.scale / 2 + 1e-6 * Math.abs(x));
      // Outside, it saturates.
      expect(quantize(max + 20, p, UINT8)).toBe(255);
      expect(quantize(min - 20, p, UINT8)).toBe(0);
    }
  });

  it('scales symmetric weights by max|w|/127, or /64 reduced, with zero point 0', () => {
    const rng = new PyRandom(2);
    for (let k = 0; k < 200; k++) {
      const a = Math.fround(rng.random() * 4 - 2);
      const b = Math.fround(rng.random() * 4 - 2);
      const absmax = Math.max(Math.abs(Math.min(a, b, 0)), Math.abs(Math.max(a, b, 0)));
      expect(scaleZeroPoint(Math.min(a, b), Math.max(a, b), int8Weights(false), true)).toEqual({ scale: Math.fround(absmax / 127), zeroPoint: 0 });
      expect(scaleZeroPoint(Math.min(a, b), Math.max(a, b), int8Weights(true), true)).toEqual({ scale: Math.fround(absmax / 64), zeroPoint: 0 });
    }
  });

  it('converts to float16 bits exactly: every finite float16 round-trips, and midpoints round to even', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = float16Value(bits);
      if (!Number.isFinite(v)) continue;
      expect(float16Bits(v)).toBe(bits);
    }
    const rng = new PyRandom(3);
    for (let k = 0; k < 2000; k++) {
      const bits = rng.below(0x7bff);
      const lo = float16Value(bits);
      const hi = float16Value(bits + 1);
      // The midpoint goes to the neighbour with an even mantissa.
      expect(float16Bits((lo + hi) / 2)).toBe(bits % 2 === 0 ? bits : bits + 1);
      expect(float16Bits(lo + (hi - lo) * 0.25)).toBe(bits);
      expect(float16Bits(lo + (hi - lo) * 0.75)).toBe(bits + 1);
    }
    expect(float16Bits(1e6)).toBe(0x7c00);
  });

  it("clamps into float16's range as onnxconverter-common does", () => {
    expect([1e5, -1e5, 1e-9, -1e-9, 0, 3].map(clampToFloat16Range)).toEqual([65504, -65504, 5.960464477539063e-8, -5.960464477539063e-8, 0, 3]);
  });
});
