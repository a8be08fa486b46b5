/**
 * Wraps a live provider with what talking to someone else's API needs: a cache (so a meter that asks
 * every window makes one request per zone per few minutes), a per-attempt timeout, and retries with
 * exponential backoff and jitter on failures worth retrying (429, 5xx, timeouts, network errors,
 * honouring Retry-After). Errors marked not retryable (rejected credentials, a refused location, a
 * malformed body) fail at once: trying again would only repeat them.
 * @module
 */

import { EcomlError, isEcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityForecast, IntensityRequestOptions } from './carbon-intensity.js';

export interface ResilienceOptions {
  /** Per-attempt limit; the request is aborted when it runs over. */
  readonly timeoutMs?: number;
  /** Further attempts after the first. */
  readonly retries?: number;
  /** First backoff step; each retry doubles it, up to maxDelayMs. */
  readonly baseDelayMs?: number;
  /** The longest wait between attempts; a Retry-After beyond it ends the retries instead. */
  readonly maxDelayMs?: number;
  /** How long an answer is reused; 0 turns the cache off. */
  readonly cacheTtlMs?: number;
  /** Requests for times within the same bucket share one cache entry. */
  readonly timeBucketMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1), for jitter. */
  readonly random?: () => number;
  readonly clock?: Clock;
}

export const DEFAULT_RESILIENCE = Object.freeze({
  timeoutMs: 5_000,
  retries: 3,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  cacheTtlMs: 5 * 60_000,
  timeBucketMs: 5 * 60_000,
});

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function withResilience(provider: CarbonIntensityProvider, options: ResilienceOptions = {}): CarbonIntensityProvider {
  const settings: Record<keyof typeof DEFAULT_RESILIENCE, number> = { ...DEFAULT_RESILIENCE };
  for (const key of Object.keys(DEFAULT_RESILIENCE) as (keyof typeof DEFAULT_RESILIENCE)[]) {
    const value: unknown = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new EcomlError('E_CONFIG_INVALID', `${provider.name}: resilience option ${key} must be a finite number ≥ 0, got ${String(value)}`);
    }
    settings[key] = value;
  }
  if (!Number.isInteger(settings.retries)) throw new EcomlError('E_CONFIG_INVALID', `${provider.name}: resilience option retries must be a whole number, got ${settings.retries}`);
  if (settings.timeBucketMs === 0) throw new EcomlError('E_CONFIG_INVALID', `${provider.name}: resilience option timeBucketMs must be > 0`);
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const clock = options.clock ?? systemClock;
  const cache = new Map<string, { readonly expiresAt: number; readonly value: Promise<unknown> }>();

  // Shares in-flight requests too: concurrent windows asking for the same zone make one request.
  function cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (settings.cacheTtlMs === 0) return load();
    const now = clock.monotonicMs();
    const hit = cache.get(key);
    if (hit !== undefined && hit.expiresAt > now) return hit.value as Promise<T>;
    for (const [k, entry] of cache) if (entry.expiresAt <= now) cache.delete(k);
    const value = load();
    cache.set(key, { expiresAt: now + settings.cacheTtlMs, value });
    // Failures are not cached: the next call tries again.
    value.catch(() => {
      if (cache.get(key)?.value === value) cache.delete(key);
    });
    return value;
  }

  async function withRetries<T>(call: (signal: AbortSignal) => Promise<T>, outer: AbortSignal | undefined): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await withTimeout(call, outer);
      } catch (error) {
        if (!isEcomlError(error) || error.details.retryable !== true || outer?.aborted) throw error;
        const attempts = attempt + 1;
        if (attempt >= settings.retries) throw annotate(error, `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
        const retryAfterMs = typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : 0;
        if (retryAfterMs > settings.maxDelayMs) {
          throw annotate(error, `Retry-After ${Math.ceil(retryAfterMs / 1000)} s exceeds the ${Math.ceil(settings.maxDelayMs / 1000)} s limit, not retrying`);
        }
        const step = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** attempt);
        // "Equal jitter": half the step fixed, half random, so clients that failed together spread out.
        await sleep(Math.max(retryAfterMs, step / 2 + random() * (step / 2)));
      }
    }
  }

  function withTimeout<T>(call: (signal: AbortSignal) => Promise<T>, outer: AbortSignal | undefined): Promise<T> {
    const controller = new AbortController();
    const forward = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener('abort', forward, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Raced as well as aborted, in case a provider does not pass the signal on.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new EcomlError('E_DOWNLOAD_FAILED', `${provider.name}: no answer within ${settings.timeoutMs} ms (timed out)`, {
          details: { provider: provider.name, retryable: true, timedOut: true },
        });
        controller.abort(error);
        reject(error);
      }, settings.timeoutMs);
    });
    return Promise.race([call(controller.signal), timeout]).finally(() => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', forward);
    });
  }

  const wrapped: CarbonIntensityProvider = {
    name: provider.name,
    intensityFor(location?: string, at?: Date, request?: IntensityRequestOptions): Promise<CarbonIntensity> {
      const bucket = at === undefined ? 'latest' : String(Math.floor(at.getTime() / settings.timeBucketMs));
      return cached(`intensity|${locationKey(location)}|${bucket}`, () => withRetries((signal) => provider.intensityFor(location, at, { signal }), request?.signal));
    },
  };
  const forecast = provider.forecast?.bind(provider);
  if (forecast === undefined) return wrapped;
  return {
    ...wrapped,
    forecast(location: string | undefined, from: Date, to: Date, request?: IntensityRequestOptions): Promise<IntensityForecast> {
      const key = `forecast|${locationKey(location)}|${from.getTime()}|${to.getTime()}`;
      return cached(key, () => withRetries((signal) => forecast(location, from, to, { signal }), request?.signal));
    },
  };
}

function locationKey(location: string | undefined): string {
  return (location ?? '').trim().toUpperCase();
}

function annotate(error: EcomlError, note: string): EcomlError {
  return new EcomlError(error.code, `${error.message} (${note})`, { details: { ...error.details }, cause: error });
}
