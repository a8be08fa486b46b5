import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { selectSetting, zeusCost, type SelectionPolicy } from '../../src/workflows/advise-select.js';

interface Setting {
  readonly id: number;
  readonly seconds: number;
  readonly joules: number;
}

const settingsArb = fc
  .array(fc.record({ seconds: fc.double({ min: 1e-6, max: 10, noNaN: true }), joules: fc.double({ min: 0, max: 100, noNaN: true }) }), { minLength: 1, maxLength: 12 })
  .map((list) => list.map((s, id): Setting => ({ id, ...s })));
const policyArb = fc.record({
  maxSlowdown: fc.double({ min: 1, max: 5, noNaN: true }),
  objective: fc.constantFrom('energy' as const, 'cost' as const),
  eta: fc.double({ min: 0, max: 1, noNaN: true }),
  maxPowerWatts: fc.double({ min: 0, max: 500, noNaN: true }),
});

const scoreOf = (policy: SelectionPolicy) => (s: Setting) => (policy.objective === 'energy' ? s.joules : zeusCost(s, policy.eta, policy.maxPowerWatts));

describe('selectSetting', () => {
  it('prefers a slower, cheaper setting to the fastest when the budget allows it', () => {
    const settings: Setting[] = [
      { id: 0, seconds: 1.0, joules: 10 },
      { id: 1, seconds: 1.4, joules: 4 },
      { id: 2, seconds: 2.0, joules: 1 },
    ];
    const policy: SelectionPolicy = { maxSlowdown: 1.5, objective: 'energy', eta: 0.5, maxPowerWatts: 100 };
    expect(selectSetting(settings, policy)).toEqual({ chosen: settings[1], fastest: settings[0], eligible: [settings[0], settings[1]] });
    expect(selectSetting(settings, { ...policy, maxSlowdown: 2 })?.chosen.id).toBe(2);
    expect(selectSetting(settings, { ...policy, maxSlowdown: 1 })?.chosen.id).toBe(0);
    // Zeus cost with η = 0: time alone decides.
    expect(selectSetting(settings, { ...policy, maxSlowdown: 2, objective: 'cost', eta: 0 })?.chosen.id).toBe(0);
  });

  it('chooses within the slowdown budget, and nothing in budget is cheaper', () => {
    fc.assert(
      fc.property(settingsArb, policyArb, (settings, policy) => {
        const picked = selectSetting(settings, policy);
        expect(picked).toBeDefined();
        const { chosen, fastest, eligible } = picked as NonNullable<typeof picked>;
        const minSeconds = Math.min(...settings.map((s) => s.seconds));
        expect(fastest.seconds).toBe(minSeconds);
        expect(chosen.seconds).toBeLessThanOrEqual(minSeconds * policy.maxSlowdown);
        expect(eligible).toContain(chosen);
        const score = scoreOf(policy);
        for (const s of settings) {
          if (s.seconds <= minSeconds * policy.maxSlowdown) expect(score(chosen)).toBeLessThanOrEqual(score(s));
          else expect(eligible).not.toContain(s);
        }
      }),
    );
  });

  it('with no slowdown allowed, chooses among the fastest; with any, never something costlier than the fastest', () => {
    fc.assert(
      fc.property(settingsArb, policyArb, (settings, policy) => {
        const strict = selectSetting(settings, { ...policy, maxSlowdown: 1 });
        expect(strict?.chosen.seconds).toBe(strict?.fastest.seconds);
        const loose = selectSetting(settings, policy);
        const score = scoreOf(policy);
        expect(score(loose!.chosen)).toBeLessThanOrEqual(score(loose!.fastest));
      }),
    );
  });

  it('does not depend on the order the settings come in (up to ties)', () => {
    fc.assert(
      fc.property(settingsArb, policyArb, fc.integer(), (settings, policy, seed) => {
        const shuffled = [...settings].sort((a, b) => ((a.id * 7919 + seed) % 13) - ((b.id * 7919 + seed) % 13));
        const score = scoreOf(policy);
        expect(score(selectSetting(shuffled, policy)!.chosen)).toBe(score(selectSetting(settings, policy)!.chosen));
      }),
    );
  });

  it('is undefined for no settings, and refuses a budget below 1 or η outside [0, 1] with E_CONFIG_INVALID', () => {
    const policy: SelectionPolicy = { maxSlowdown: 1.5, objective: 'energy', eta: 0.5, maxPowerWatts: 10 };
    expect(selectSetting([], policy)).toBeUndefined();
    expect(() => selectSetting([], { ...policy, maxSlowdown: 0.9 })).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
    expect(() => selectSetting([], { ...policy, eta: 1.1 })).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
  });
});
