/**
 * Readers for the JSON bodies live providers return: each checks one field and, when it is missing
 * or of the wrong type, throws E_DATA_MALFORMED naming the request and the field. Marked not
 * retryable: asking again would bring the same body back.
 * @module
 */

import { EcomlError } from '../../errors.js';

export function malformed(where: string, why: string): EcomlError {
  return new EcomlError('E_DATA_MALFORMED', `${where}: ${why}`, { details: { retryable: false } });
}

export function recordAt(value: unknown, where: string, path: string): Readonly<Record<string, unknown>> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(where, `${path} should be an object, got ${typeName(value)}`);
  return value as Record<string, unknown>;
}

export function arrayAt(value: unknown, where: string, path: string): readonly unknown[] {
  if (!Array.isArray(value)) throw malformed(where, `${path} should be an array, got ${typeName(value)}`);
  return value;
}

/** A finite number ≥ 0 (a zero intensity is real: an all-hydro hour). */
export function intensityAt(value: unknown, where: string, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw malformed(where, `${path} should be a number ≥ 0, got ${typeName(value)}`);
  return value;
}

/** A timestamp, returned as ISO 8601 UTC. */
export function timeAt(value: unknown, where: string, path: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw malformed(where, `${path} should be a timestamp, got ${typeName(value)}`);
  return new Date(ms).toISOString();
}

export function stringAt(value: unknown, where: string, path: string): string {
  if (typeof value !== 'string' || value === '') throw malformed(where, `${path} should be a non-empty string, got ${typeName(value)}`);
  return value;
}

function typeName(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
