/** Deterministic pseudo-random test inputs (xorshift32), shared by the engine suites. */

/** A stream of deterministic values in [0, 1). */
export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** n values in [0, 1). */
export function unitValues(seed: number, n: number): Float32Array {
  const next = xorshift(seed);
  return Float32Array.from({ length: n }, next);
}

/** n values in [-1, 1). */
export function signedValues(seed: number, n: number): Float32Array {
  const next = xorshift(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

/** n rows of `classes` probabilities (a teacher's), about one value in ten exactly 0 as an underflowed softmax gives. */
export function teacherRows(n: number, classes: number, seed: number): Float32Array {
  const rows = unitValues(seed, n * classes).map((v) => (v < 0.1 ? 0 : v));
  for (let r = 0; r < n; r++) {
    const row = rows.subarray(classes * r, classes * (r + 1));
    const sum = row.reduce((a, b) => a + b, 0);
    row.forEach((v, c) => (row[c] = sum > 0 ? v / sum : 1 / classes));
  }
  return rows;
}
