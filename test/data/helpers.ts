import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { EcomlError, type ErrorCode } from '../../src/errors.js';

/** A fresh temp directory, removed after the test file's tests. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ecoml-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `content` to dir/name and returns the path. */
export function fixture(dir: string, name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Runs `fn`, expecting an EcomlError with `code`; returns it for further checks. */
export function expectError(fn: () => unknown, code: ErrorCode): EcomlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EcomlError);
    expect((err as EcomlError).code).toBe(code);
    return err as EcomlError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}
