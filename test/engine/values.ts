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
