import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnergyLedger, labelOf, shareOut, type EnergyAmount } from '../../src/serve/energy.js';
import { hourMeasurement } from '../meter/outputs-fixtures.js';

const amount = fc.record({
  joules: fc.double({ min: 0, max: 1e9, noNaN: true }),
  low: fc.double({ min: 0, max: 1e9, noNaN: true }),
  high: fc.double({ min: 0, max: 1e9, noNaN: true }),
  kgCo2e: fc.double({ min: 0, max: 1e3, noNaN: true }),
});
const weights = fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true })), { minLength: 1, maxLength: 20 });
const FIELDS = ['joules', 'low', 'high', 'kgCo2e'] as const;

describe('shareOut', () => {
  it('gives every part a non-negative share and the parts add up to the whole (when any weight is positive)', () => {
    fc.assert(
      fc.property(amount, weights, (whole, w) => {
        const parts = shareOut(whole, w);
        expect(parts).toHaveLength(w.length);
        const positive = w.some((x) => x > 0);
        for (const field of FIELDS) {
          const sum = parts.reduce((a, p) => a + p[field], 0);
          for (const p of parts) expect(p[field]).toBeGreaterThanOrEqual(0);
          if (positive) expect(Math.abs(sum - whole[field])).toBeLessThanOrEqual(1e-9 * Math.max(1, whole[field]));
          else expect(sum).toBe(0);
        }
      }),
    );
  });

  it('is proportional to the weights, and a zero weight gets nothing', () => {
    fc.assert(
      fc.property(amount, weights, (whole, w) => {
        const parts = shareOut(whole, w);
        const total = w.reduce((a, b) => a + b, 0);
        w.forEach((x, i) => {
          if (x === 0 || total === 0) expect((parts[i] as EnergyAmount).joules).toBe(0);
          else {
            const expected = whole.joules * (x / total);
            expect(Math.abs((parts[i] as EnergyAmount).joules - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, expected));
          }
        });
      }),
    );
  });
});

describe('EnergyLedger', () => {
  const prior = { wattsPerThread: 4, threads: 1, model: 'test prior' };

  it('estimates requests at the prior rate until a window closes, with the TDP estimate bounds, labelled estimated', () => {
    const ledger = new EnergyLedger({ prior });
    const e = ledger.estimate(500);
    expect(e).toMatchObject({ joules: 2, low: 0.6, high: 4, method: 'estimated' });
    expect(e.model).toMatch(/prior/);
  });

  it("shares a window among models and requests by compute time, exactly, and takes the window's rate for later estimates", () => {
    const ledger = new EnergyLedger({ prior });
    ledger.addCompute('a', 1, 300);
    ledger.addCompute('b', 2, 100);
    ledger.addRequest({ model: 'a', version: 1, protocol: 'v2', status: 200, receivedAt: 0, inferences: 3, queueMs: 0, computeMs: 300 });
    ledger.addRequest({ model: 'b', version: 2, protocol: 'v2', status: 200, receivedAt: 0, inferences: 1, queueMs: 0, computeMs: 100 });
    ledger.addRequest({ model: 'b', version: 2, protocol: 'v2', status: 400, receivedAt: 0, inferences: 0, queueMs: 0, computeMs: 0 });
    const window = hourMeasurement();
    const attribution = ledger.close(window);
    const total = window.energy.joules;
    expect(attribution.idle).toBeUndefined();
    expect(attribution.models.map((m) => [m.model, m.version, m.energy.joules, m.requests, m.failures, m.inferences])).toEqual([
      ['a', 1, total * 0.75, 1, 0, 3],
      ['b', 2, total * 0.25, 2, 1, 1],
    ]);
    expect(attribution.requests.map((r) => r.energy.joules)).toEqual([total * 0.75, total * 0.25, 0]);
    // Mixed measured and estimated components make the whole an estimate.
    expect(attribution.label.method).toBe('estimated');
    // 3.6e6 J over 0.4 compute-seconds: 9e6 J per compute-second.
    expect(ledger.estimate(100).joules).toBeCloseTo(total / 4, 6);
    expect(ledger.estimate(100).kgCo2e).toBeCloseTo(window.emissions.kgCo2e / 4, 12);
  });

  it("keeps compute no request accounts for (a model's load) off the requests' shares", () => {
    const ledger = new EnergyLedger({ prior });
    ledger.addCompute('a', 1, 900);
    ledger.addCompute('a', 1, 100);
    ledger.addRequest({ model: 'a', version: 1, protocol: 'v2', status: 200, receivedAt: 0, inferences: 1, queueMs: 0, computeMs: 100 });
    const attribution = ledger.close(hourMeasurement());
    expect(attribution.models[0]?.energy.joules).toBe(3.6e6);
    expect(attribution.requests[0]?.energy.joules).toBeCloseTo(3.6e5, 6);
  });

  it('books a window without compute as idle energy and keeps the previous rate', () => {
    const ledger = new EnergyLedger({ prior });
    const attribution = ledger.close(hourMeasurement());
    expect(attribution.models).toEqual([]);
    expect(attribution.idle?.joules).toBe(3.6e6);
    expect(ledger.estimate(1000).joules).toBe(4);
  });

  it('labels a window measured only when every component is', () => {
    const m = hourMeasurement();
    const measured = { ...m, energy: { ...m.energy, components: m.energy.components.map((c) => ({ ...c, method: 'measured' as const })) } };
    expect(labelOf(measured).method).toBe('measured');
    expect(labelOf(m).method).toBe('estimated');
  });
});
