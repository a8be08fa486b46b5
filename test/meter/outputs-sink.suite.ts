/**
 * The contract every EmissionsSink keeps, run against each implementation: records land in call order,
 * concurrent writes never interleave, a new sink on the same target appends, close() waits and is
 * idempotent, writing after close() rejects, and an unwritable target rejects with an EcomlError.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { EmissionsSink } from '../../src/meter/outputs/index.js';
import { record, tempDir } from './outputs-fixtures.js';

export interface SinkHarness {
  /** A sink writing to `path`. */
  open(path: string): EmissionsSink;
  /** The file name the sink's format uses, e.g. 'emissions.csv'. */
  readonly fileName: string;
  /** What was written, one entry per record, in file order. */
  readBack(path: string): Promise<readonly { readonly runId: string; readonly kgCo2e: number }[]>;
}

export function runSinkSuite(name: string, harness: SinkHarness): void {
  const fresh = async () => join(await tempDir(), harness.fileName);
  const numbered = (i: number) => record({ run: { runId: `run-${i}` }, measurement: { emissions: { ...record().measurement.emissions, kgCo2e: i / 1000 } } });

  describe(`EmissionsSink conformance: ${name}`, () => {
    it('writes each record once, in call order, with its figures', async () => {
      const path = await fresh();
      const sink = harness.open(path);
      expect(sink.target).toBe(path);
      await sink.write(numbered(1));
      await sink.write(numbered(2));
      await sink.close();
      expect(await harness.readBack(path)).toEqual([
        { runId: 'run-1', kgCo2e: 0.001 },
        { runId: 'run-2', kgCo2e: 0.002 },
      ]);
    });

    it('keeps concurrent writes whole and in call order', async () => {
      const path = await fresh();
      const sink = harness.open(path);
      await Promise.all(Array.from({ length: 25 }, (_, i) => sink.write(numbered(i))));
      await sink.close();
      expect((await harness.readBack(path)).map((r) => r.runId)).toEqual(Array.from({ length: 25 }, (_, i) => `run-${i}`));
    });

    it('close() waits for writes still queued, and is idempotent', async () => {
      const path = await fresh();
      const sink = harness.open(path);
      const pending = [1, 2, 3].map((i) => sink.write(numbered(i)));
      await sink.close();
      expect(await harness.readBack(path)).toHaveLength(3);
      await Promise.all(pending);
      await sink.close();
    });

    it('rejects a write after close() with an EcomlError, writing nothing', async () => {
      const path = await fresh();
      const sink = harness.open(path);
      await sink.write(numbered(1));
      await sink.close();
      await expect(sink.write(numbered(2))).rejects.toBeInstanceOf(EcomlError);
      expect(await harness.readBack(path)).toHaveLength(1);
    });

    it('a second sink on the same target appends to what the first wrote', async () => {
      const path = await fresh();
      for (const i of [1, 2]) {
        const sink = harness.open(path);
        await sink.write(numbered(i));
        await sink.close();
      }
      expect((await harness.readBack(path)).map((r) => r.runId)).toEqual(['run-1', 'run-2']);
    });

    it('an unwritable target rejects with an EcomlError naming it, and later writes still work once it is fixed', async () => {
      const dir = await tempDir();
      const path = join(dir, 'missing-dir', harness.fileName);
      const sink = harness.open(path);
      const error = await sink.write(numbered(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EcomlError);
      expect((error as EcomlError).code).toBe('E_FILE_NOT_FOUND');
      expect((error as EcomlError).message).toContain(path);
      await mkdir(join(dir, 'missing-dir'));
      await sink.write(numbered(2));
      await sink.close();
      expect((await harness.readBack(path)).map((r) => r.runId)).toEqual(['run-2']);
    });
  });
}
