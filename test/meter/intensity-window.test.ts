import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IntensityPoint } from '../../src/meter/index.js';
import { MEAN_TIE_TOLERANCE, firstBelow, greenestStart, meanIntensity } from '../../src/meter/index.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3_600_000;
const at = (hours: number): string => new Date(T0 + hours * HOUR).toISOString();

/** A step series starting at or before T0: half-hour steps of arbitrary values, the last open-ended. */
const seriesArb = fc
  .array(fc.record({ steps: fc.integer({ min: 1, max: 6 }), gPerKwh: fc.integer({ min: 0, max: 800 }) }), { minLength: 1, maxLength: 12 })
  .chain((parts) =>
    fc.integer({ min: 0, max: 4 }).map((leadHalfHours) => {
      let half = -leadHalfHours;
      return parts.map((p): IntensityPoint => {
        const point = { validFrom: at(half / 2), gPerKwh: p.gPerKwh };
        half += p.steps;
        return point;
      });
    }),
  );

describe('greenestStart', () => {
  it('chooses a start whose mean is no higher than that of any other start in the horizon', () => {
    fc.assert(
      fc.property(seriesArb, fc.integer({ min: 0, max: 12 * 60 }), fc.integer({ min: 1, max: 6 * 60 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1, maxLength: 20 }), (points, horizonMin, durationMin, fractions) => {
        const request = { fromMs: T0, horizonMs: horizonMin * 60_000, durationMs: durationMin * 60_000 };
        const best = greenestStart(points, request);
        expect(best).toBeDefined();
        const chosen = best as { startMs: number; meanGPerKwh: number };
        expect(chosen.startMs).toBeGreaterThanOrEqual(T0);
        expect(chosen.startMs === T0 || chosen.startMs < T0 + request.horizonMs).toBe(true);
        expect(meanIntensity(points, chosen.startMs, chosen.startMs + request.durationMs)).toBeCloseTo(chosen.meanGPerKwh, 9);
        for (const f of fractions) {
          const startMs = T0 + Math.floor(f * request.horizonMs);
          const mean = meanIntensity(points, startMs, startMs + request.durationMs) as number;
          expect(chosen.meanGPerKwh).toBeLessThanOrEqual(mean + MEAN_TIE_TOLERANCE * mean + 1e-9);
        }
      }),
    );
  });

  it('starts now when the series is flat', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 2000, noNaN: true }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 48 }), fc.integer({ min: 1, max: 12 }), (g, n, horizonH, durationH) => {
        const points = Array.from({ length: n }, (_, i) => ({ validFrom: at(i), gPerKwh: g }));
        expect(greenestStart(points, { fromMs: T0, horizonMs: horizonH * HOUR, durationMs: durationH * HOUR })?.startMs).toBe(T0);
      }),
    );
  });

  it('starts now with a zero horizon, and at the dip when the horizon reaches it', () => {
    const points = [
      { validFrom: at(0), gPerKwh: 400 },
      { validFrom: at(3), gPerKwh: 100 },
      { validFrom: at(5), gPerKwh: 400 },
    ];
    expect(greenestStart(points, { fromMs: T0, horizonMs: 0, durationMs: 2 * HOUR })?.startMs).toBe(T0);
    expect(greenestStart(points, { fromMs: T0, horizonMs: 6 * HOUR, durationMs: 2 * HOUR })).toEqual({ startMs: T0 + 3 * HOUR, meanGPerKwh: 100 });
    // A run longer than the dip: every start covering it whole is as good; the earliest is chosen.
    expect(greenestStart(points, { fromMs: T0, horizonMs: 6 * HOUR, durationMs: 4 * HOUR })).toEqual({ startMs: T0 + 1 * HOUR, meanGPerKwh: 250 });
  });

  it('is undefined when the series covers none of the runs', () => {
    expect(greenestStart([{ validFrom: at(10), validTo: at(11), gPerKwh: 5 }], { fromMs: T0, horizonMs: HOUR, durationMs: HOUR })).toBeUndefined();
  });
});

describe('firstBelow', () => {
  const points = [
    { validFrom: at(0), gPerKwh: 300 },
    { validFrom: at(2), gPerKwh: 150 },
    { validFrom: at(4), gPerKwh: 90 },
  ];
  it('is the start of the first step below the threshold, or now when it is already below', () => {
    expect(firstBelow(points, 100, T0, T0 + 24 * HOUR)).toBe(T0 + 4 * HOUR);
    expect(firstBelow(points, 200, T0, T0 + 24 * HOUR)).toBe(T0 + 2 * HOUR);
    expect(firstBelow(points, 200, T0 + 3 * HOUR, T0 + 24 * HOUR)).toBe(T0 + 3 * HOUR);
    expect(firstBelow(points, 50, T0, T0 + 24 * HOUR)).toBeUndefined();
    expect(firstBelow(points, 100, T0, T0 + 4 * HOUR)).toBeUndefined();
  });
  it('finds a moment whose intensity is below the threshold, with none below before it', () => {
    fc.assert(
      fc.property(seriesArb, fc.integer({ min: 0, max: 800 }), (series, threshold) => {
        const found = firstBelow(series, threshold, T0, T0 + 48 * HOUR);
        const valueAt = (ms: number): number | undefined => series.filter((p) => Date.parse(p.validFrom) <= ms).at(-1)?.gPerKwh;
        for (let ms = T0; ms < (found ?? T0 + 48 * HOUR); ms += HOUR / 2) expect(valueAt(ms)! >= threshold).toBe(true);
        if (found !== undefined) expect(valueAt(found)!).toBeLessThan(threshold);
      }),
    );
  });
});
