/**
 * The time seam: every duration and timestamp in the meter comes from a Clock, so tests can step time.
 * @module
 */

export interface Clock {
  /** Monotonic milliseconds, for durations and power integration (never jumps with NTP). */
  monotonicMs(): number;
  /** Wall-clock time, for timestamps in reports. */
  wallTime(): Date;
}

export const systemClock: Clock = Object.freeze({
  monotonicMs: () => performance.now(),
  wallTime: () => new Date(),
});
