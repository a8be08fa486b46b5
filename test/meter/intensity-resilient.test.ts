import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityRequestOptions } from '../../src/meter/intensity/carbon-intensity.js';
import { parseRetryAfter } from '../../src/meter/intensity/http.js';
import { DEFAULT_RESILIENCE, withResilience } from '../../src/meter/intensity/resilient.js';
import { createFakeClock } from './fake-clock.js';
import { recordingSleep } from './intensity-fake-server.js';

const FRANCE: CarbonIntensity = { gPerKwh: 32, country: 'FRA', countryName: 'France', source: 'test', kind: 'average' };

const retryable = (message: string, retryAfterMs?: number) =>
  new EcomlError('E_DOWNLOAD_FAILED', message, { details: { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) } });

/** A provider that plays a script: each call takes the next step (an error to throw, 'hang', or an answer). */
function scripted(steps: readonly (Error | 'hang' | CarbonIntensity)[]) {
  const calls: { location: string | undefined; at: Date | undefined; signal: AbortSignal | undefined }[] = [];
  const provider: CarbonIntensityProvider = {
    name: 'scripted',
    intensityFor(location?: string, at?: Date, options?: IntensityRequestOptions) {
      calls.push({ location, at, signal: options?.signal });
      const step = steps[Math.min(calls.length - 1, steps.length - 1)] as Error | 'hang' | CarbonIntensity;
      if (step === 'hang') return new Promise<CarbonIntensity>(() => {});
      return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
    },
    forecast(location, from, to) {
      calls.push({ location, at: from, signal: undefined });
      return Promise.resolve({ country: 'FRA', countryName: 'France', kind: 'average', source: 'test', points: [{ validFrom: from.toISOString(), validTo: to.toISOString(), gPerKwh: 1 }] });
    },
  };
  return { provider, calls };
}

describe('resilience wrapper', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_RESILIENCE).toMatchObject({ timeoutMs: 5000, retries: 3, cacheTtlMs: 300_000 });
  });

  it('retries retryable failures with doubling, jittered delays, capped at maxDelayMs', async () => {
    const { provider, calls } = scripted([retryable('a'), retryable('b'), retryable('c'), FRANCE]);
    const { sleeps, sleep } = recordingSleep();
    const randoms = [0, 1, 0.5];
    expect(await withResilience(provider, { sleep, random: () => randoms.shift() ?? 0, baseDelayMs: 1000, maxDelayMs: 3000 }).intensityFor('FR')).toBe(FRANCE);
    expect(calls.length).toBe(4);
    // Steps 1000, 2000, then 4000 capped to 3000; each waits half the step plus random × half.
    expect(sleeps).toEqual([500, 2000, 2250]);
  });

  it('waits at least the Retry-After, and gives up when it is beyond the limit', async () => {
    const { sleeps, sleep } = recordingSleep();
    const honoured = scripted([retryable('slow down', 7000), FRANCE]);
    await withResilience(honoured.provider, { sleep, random: () => 0 }).intensityFor('FR');
    expect(sleeps).toEqual([7000]);

    const tooLong = scripted([retryable('come back in an hour', 3_600_000), FRANCE]);
    await expect(withResilience(tooLong.provider, { sleep }).intensityFor('FR')).rejects.toMatchObject({
      code: 'E_DOWNLOAD_FAILED',
      message: expect.stringContaining('Retry-After 3600 s exceeds the 30 s limit, not retrying'),
    });
    expect(tooLong.calls.length).toBe(1);
  });

  it('does not retry what would fail again: config errors, malformed bodies, foreign errors', async () => {
    for (const error of [
      new EcomlError('E_CONFIG_INVALID', 'bad token', { details: { retryable: false, status: 401 } }),
      new EcomlError('E_DATA_MALFORMED', 'not JSON', { details: { retryable: false } }),
      new TypeError('a bug'),
    ]) {
      const { provider, calls } = scripted([error, FRANCE]);
      const { sleeps, sleep } = recordingSleep();
      await expect(withResilience(provider, { sleep }).intensityFor('FR')).rejects.toBe(error);
      expect(calls.length).toBe(1);
      expect(sleeps).toEqual([]);
    }
  });

  it('gives up after the configured retries, saying so', async () => {
    const { provider, calls } = scripted([retryable('HTTP 503')]);
    await expect(withResilience(provider, { sleep: recordingSleep().sleep, retries: 2 }).intensityFor('FR')).rejects.toMatchObject({
      code: 'E_DOWNLOAD_FAILED',
      message: 'HTTP 503 (gave up after 3 attempts)',
    });
    expect(calls.length).toBe(3);
  });

  it('times out each attempt, aborting its signal', async () => {
    const { provider, calls } = scripted(['hang', FRANCE]);
    const { sleeps, sleep } = recordingSleep();
    expect(await withResilience(provider, { sleep, timeoutMs: 20 }).intensityFor('FR')).toBe(FRANCE);
    expect(calls.length).toBe(2);
    expect(calls[0]?.signal?.aborted).toBe(true);
    expect(calls[0]?.signal?.reason).toMatchObject({ code: 'E_DOWNLOAD_FAILED', message: expect.stringContaining('no answer within 20 ms') });
    expect(calls[1]?.signal?.aborted).toBe(false);
    expect(sleeps.length).toBe(1);
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    const { provider, calls } = scripted([retryable('HTTP 502')]);
    const sleep = (): Promise<void> => {
      controller.abort();
      return Promise.resolve();
    };
    await expect(withResilience(provider, { sleep }).intensityFor('FR', undefined, { signal: controller.signal })).rejects.toMatchObject({ message: 'HTTP 502' });
    expect(calls.length).toBe(2);
    expect(calls[1]?.signal?.aborted).toBe(true);
  });

  it('caches per location and time bucket, shares in-flight calls, and forgets failures', async () => {
    const fake = createFakeClock();
    const { provider, calls } = scripted([FRANCE]);
    const cached = withResilience(provider, { clock: fake.clock, cacheTtlMs: 1000, timeBucketMs: 60_000 });
    await Promise.all([cached.intensityFor('FR'), cached.intensityFor(' fr ')]);
    expect(calls.length).toBe(1);
    await cached.intensityFor('FR', new Date('2026-01-01T00:00:10Z'));
    await cached.intensityFor('FR', new Date('2026-01-01T00:00:50Z'));
    expect(calls.length).toBe(2);
    await cached.intensityFor('FR', new Date('2026-01-01T00:01:00Z'));
    expect(calls.length).toBe(3);
    fake.advance(1001);
    await cached.intensityFor('FR');
    expect(calls.length).toBe(4);

    const failing = scripted([new EcomlError('E_CONFIG_INVALID', 'no'), FRANCE]);
    const once = withResilience(failing.provider, { clock: fake.clock });
    await expect(once.intensityFor('FR')).rejects.toThrow('no');
    expect(await once.intensityFor('FR')).toBe(FRANCE);
    expect(failing.calls.length).toBe(2);

    const uncached = scripted([FRANCE]);
    const off = withResilience(uncached.provider, { cacheTtlMs: 0 });
    await off.intensityFor('FR');
    await off.intensityFor('FR');
    expect(uncached.calls.length).toBe(2);
  });

  it('caches forecasts by location and range', async () => {
    const { provider, calls } = scripted([FRANCE]);
    const cached = withResilience(provider, { clock: createFakeClock().clock });
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date('2026-01-01T06:00:00Z');
    await cached.forecast?.('FR', from, to);
    await cached.forecast?.('fr', from, to);
    await cached.forecast?.('FR', from, new Date('2026-01-01T07:00:00Z'));
    expect(calls.length).toBe(2);
    expect(withResilience({ name: 'no-forecast', intensityFor: () => Promise.resolve(FRANCE) }).forecast).toBeUndefined();
  });

  it('rejects nonsense settings', () => {
    const { provider } = scripted([FRANCE]);
    expect(() => withResilience(provider, { timeoutMs: -1 })).toThrow(/timeoutMs must be a finite number/);
    expect(() => withResilience(provider, { retries: 1.5 })).toThrow(/retries must be a whole number/);
    expect(() => withResilience(provider, { timeBucketMs: 0 })).toThrow(/timeBucketMs must be > 0/);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
