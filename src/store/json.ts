/**
 * JSON for the store's columns. Numbers JSON cannot carry (NaN, ±Infinity: a diverged loss) survive
 * the round trip instead of turning into null, and everything read back is deep-frozen so callers
 * hold snapshots, never live rows.
 * @module
 */

const NON_FINITE = '$nonFinite';

/** Serialises a JSON-like value; undefined becomes SQL NULL. */
export function encodeJson(value: unknown): string | null {
  if (value === undefined) return null;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { [NON_FINITE]: String(v) } : v));
}

/** Parses what encodeJson wrote (NULL reads back as null), deep-frozen. */
export function decodeJson(text: string | null): unknown {
  if (text === null) return null;
  return deepFreeze(JSON.parse(text, (_key, v: unknown) => (isNonFiniteBox(v) ? Number(v[NON_FINITE]) : v)) as unknown);
}

function isNonFiniteBox(v: unknown): v is { [NON_FINITE]: string } {
  if (typeof v !== 'object' || v === null) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === NON_FINITE && typeof (v as Record<string, unknown>)[NON_FINITE] === 'string';
}

/** Freezes `value` and everything reachable from it; returns it for chaining. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
