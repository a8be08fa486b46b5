/** A clock tests move by hand. */
import type { Clock } from '../../src/meter/index.js';

export interface FakeClock {
  readonly clock: Clock;
  advance(ms: number): void;
}

export function createFakeClock(startMs = 0, wallStart = new Date('2026-01-01T00:00:00Z')): FakeClock {
  let nowMs = startMs;
  return {
    clock: { monotonicMs: () => nowMs, wallTime: () => new Date(wallStart.getTime() + nowMs - startMs) },
    advance(ms) {
      nowMs += ms;
    },
  };
}
