/**
 * Seeded random numbers, bit-for-bit compatible with CPython's `random.Random(seed).random()`
 * (MT19937 seeded through init_by_array). Keras Tuner draws every hyperparameter with
 * `random.Random(seed_state).random()`, so matching CPython lets our random search reproduce its
 * draws for the same seed. Each instance owns its state: there is no global generator.
 * @module
 */

const N = 624;
const M = 397;

export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private index = N + 1;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    this.seedByArray(seedKey(Math.abs(seed)));
  }

  /** A float in [0, 1) with 53 random bits, as CPython's random(). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.random() * n);
  }

  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] as number;
      const x = prev ^ (prev >>> 30);
      // 1812433253 * x without losing bits above 2^53
      mt[i] = ((((x & 0xffff0000) >>> 16) * 1812433253) << 16) + (x & 0x0000ffff) * 1812433253 + i;
    }
    this.index = N;
  }

  private seedByArray(key: readonly number[]): void {
    this.initGenrand(19650218);
    const mt = this.mt;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] as number;
      const x = prev ^ (prev >>> 30);
      mt[i] = ((mt[i] as number) ^ (((((x & 0xffff0000) >>> 16) * 1664525) << 16) + (x & 0x0000ffff) * 1664525)) + (key[j] as number) + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1] as number;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] as number;
      const x = prev ^ (prev >>> 30);
      mt[i] = ((mt[i] as number) ^ (((((x & 0xffff0000) >>> 16) * 1566083941) << 16) + (x & 0x0000ffff) * 1566083941)) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1] as number;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.index = N;
  }

  private twist(): void {
    const mt = this.mt;
    for (let kk = 0; kk < N; kk++) {
      const y = ((mt[kk] as number) & 0x80000000) | ((mt[(kk + 1) % N] as number) & 0x7fffffff);
      mt[kk] = (mt[(kk + M) % N] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

/** CPython splits the seed's absolute value into 32-bit words, least significant first. */
function seedKey(seed: number): number[] {
  if (seed === 0) return [0];
  const key: number[] = [];
  let rest = seed;
  while (rest > 0) {
    key.push(rest % 0x100000000);
    rest = Math.floor(rest / 0x100000000);
  }
  return key;
}

/** In-place Fisher–Yates shuffle of `indices` driven by `rng`. */
export function shuffleInPlace(indices: Uint32Array | number[], rng: PyRandom): void {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = indices[i] as number;
    indices[i] = indices[j] as number;
    indices[j] = t;
  }
}

/** A 31-bit seed mixed from `parts` (FNV-1a over 32-bit words with a final avalanche). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x2c1b3c6d);
  h ^= h >>> 13;
  return (h >>> 0) % 0x7fffffff;
}
