import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, EcomlError, lookup, toEcomlError } from '../src/errors.js';

describe('error catalogue', () => {
  const codes = Object.keys(ERROR_CATALOGUE);

  it('uses E_ codes, each with an HTTP status and a distinct non-zero exit code per failure class', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^E_[A-Z_]+$/);
      expect(entry.httpStatus).toBeGreaterThanOrEqual(400);
      expect(entry.exitCode).toBeGreaterThan(0);
    }
  });

  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(documented)).toEqual(new Set(codes));
    expect(documented.length).toBe(codes.length);
  });

  it('maps an error to its catalogue status and exit code', () => {
    const e = new EcomlError('E_DATA_MALFORMED', 'bad', { details: { file: 'x' } });
    expect(e.httpStatus).toBe(422);
    expect(e.exitCode).toBe(5);
    expect(e.toJSON()).toEqual({ code: 'E_DATA_MALFORMED', message: 'bad', details: { file: 'x' } });
    expect(toEcomlError(new Error('boom')).code).toBe('E_INTERNAL');
    expect(toEcomlError(e)).toBe(e);
  });

  it('a registry miss lists the valid names', () => {
    expect(() => lookup({ b: 1, a: 2 }, 'c', 'thing')).toThrow(/unknown thing "c"; valid: a, b/);
    expect(lookup({ a: 2 }, 'a', 'thing')).toBe(2);
    expect(() => lookup({ a: 2 }, 'toString', 'thing')).toThrow(EcomlError);
  });
});
