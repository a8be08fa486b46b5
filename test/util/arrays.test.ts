import { describe, expect, it } from 'vitest';
import { maxAbsDiff } from '../../src/util/arrays.js';

describe('maxAbsDiff', () => {
  it('is the largest elementwise distance, 0 for equal arrays and symmetric', () => {
    const a = Float32Array.of(1, -2, 3.5);
    const b = [1, 2, 3];
    expect(maxAbsDiff(a, b)).toBe(4);
    expect(maxAbsDiff(b, a)).toBe(4);
    expect(maxAbsDiff(a, a)).toBe(0);
    expect(maxAbsDiff([], [])).toBe(0);
  });

  it('is Infinity for arrays of different lengths, so no tolerance passes them', () => {
    expect(maxAbsDiff([1, 2], [1, 2, 3])).toBe(Number.POSITIVE_INFINITY);
  });
});
