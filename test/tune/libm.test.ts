import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { log, pow } from '../../src/tune/libm.js';

/** The distance between two doubles in units in the last place of `b`. */
function ulps(a: number, b: number): number {
  const bits = (x: number) => new DataView(Float64Array.of(x).buffer).getBigInt64(0, true);
  return Number(bits(a) - bits(b));
}

describe('correctly rounded pow and log', () => {
  // CPython 3.11 (glibc) math.pow / math.log on arguments where V8's Math.pow / Math.log differ in the last bit.
  it.each([
    [46502.139388055584, 0.09188711480466483, 2.6846064006366306],
    [805028.0220046926, 0.5486993038355893, 1739.8603183865187],
    [5258836.168795205, 0.2897465763625132, 88.58389327129912],
    [10018973.119250963, 0.002028368913875367, 1.0332377194440172],
    [393.79883066129065, 0.8846502565857456, 197.65608251482567],
    [9, 0.5024634312413977, 3.0162821605726617],
  ])('pow(%d, %d) = %d as CPython', (base, exponent, expected) => {
    expect(pow(base, exponent)).toBe(expected);
  });

  it.each([
    [200.43356745603975, 5.300482857459417],
    [8.944675442704915, 2.191058432647291],
    [12.488656094899085, 2.524820719861491],
    [19.855614052969017, 2.988486790973235],
  ])('log(%d) = %d as CPython', (x, expected) => {
    expect(log(x)).toBe(expected);
  });

  it('is exact where the result is representable', () => {
    for (let k = 0; k <= 22; k++) {
      expect(pow(10, k)).toBe(10 ** k);
      expect(pow(2, k)).toBe(2 ** k);
    }
    expect(pow(0.5, 3)).toBe(0.125);
    expect(pow(123.4, 0)).toBe(1);
    expect(log(1)).toBe(0);
  });

  it('stays within one ulp of the native functions', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), (base, exponent) => {
        expect(Math.abs(ulps(pow(base, exponent), Math.pow(base, exponent)))).toBeLessThanOrEqual(1);
        expect(Math.abs(ulps(log(base), Math.log(base)))).toBeLessThanOrEqual(1);
      }),
      { numRuns: 5000 },
    );
  });

  it('falls back to the native functions outside the double-double range', () => {
    expect(pow(1e300, 0.5)).toBe(Math.pow(1e300, 0.5));
    expect(log(1e-300)).toBe(Math.log(1e-300));
    expect(pow(2, 1100)).toBe(Infinity);
  });
});
