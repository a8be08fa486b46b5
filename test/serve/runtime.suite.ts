/**
 * The Runtime contract, run by every runtime: load a model that computes y = 2x + 1 on [batch, 3],
 * describe it, infer correctly alone and concurrently, queue beyond its instances, apply an ecoml
 * model's preprocessing, unload only after runs in progress, and refuse a broken model file.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EcomlError } from '../../src/errors.js';
import type { LoadedModel, Runtime } from '../../src/serve/runtimes/runtime.js';
import type { Tensor } from '../../src/serve/tensors.js';
import { tempDir } from '../cli/helpers.js';

export interface RuntimeCase {
  readonly name: string;
  readonly runtime: () => Runtime;
  /** Writes a model computing y = x × 2 + 1 on [batch, 3] into `dir`; returns the load source. */
  readonly affine: (dir: string) => Promise<string>;
  /** Writes something the runtime must refuse; returns the load source. */
  readonly broken: (dir: string) => Promise<string>;
  readonly input: string;
  readonly output: string;
}

function batch(rows: number[][]): ReadonlyMap<string, Tensor> {
  return new Map([['x', { datatype: 'FP32', shape: [rows.length, 3], data: Float32Array.from(rows.flat()) }]]);
}

export function runRuntimeSuite(c: RuntimeCase): void {
  describe(`Runtime contract: ${c.name}`, () => {
    const loaded: LoadedModel[] = [];
    afterEach(async () => {
      await Promise.all(loaded.splice(0).map((m) => m.unload()));
    });
    const load = async (options: { instances?: number; preprocessing?: { input: string; record: { kind: 'scale'; scale: number } } } = {}): Promise<LoadedModel> => {
      const source = await c.affine(await tempDir('ecoml-runtime-'));
      const model = await c.runtime().load({ source, threads: 1, instances: options.instances ?? 1, ...(options.preprocessing ? { preprocessing: options.preprocessing } : {}) });
      loaded.push(model);
      return model;
    };
    const inputsOf = (rows: number[][]): ReadonlyMap<string, Tensor> => new Map([[c.input, (batch(rows).get('x') as Tensor)]]);

    it('describes its inputs and outputs: names, datatypes, -1 for the batch', async () => {
      const model = await load();
      expect(model.signature.inputs).toEqual([{ name: c.input, datatype: 'FP32', shape: [-1, 3] }]);
      expect(model.signature.outputs).toEqual([{ name: c.output, datatype: 'FP32', shape: [-1, 3] }]);
      expect(model.instances).toBe(1);
      expect(model.memoryBytes).toBeGreaterThan(0);
    });

    it('infers the right values, with the compute time', async () => {
      const model = await load();
      const { outputs, computeMs } = await model.infer(inputsOf([[1, 2, 3], [-1, 0, 0.5]]), [c.output]);
      const y = outputs.get(c.output) as Tensor;
      expect(y.datatype).toBe('FP32');
      expect(y.shape).toEqual([2, 3]);
      expect(Array.from(y.data as Float32Array)).toEqual([3, 5, 7, -1, 1, 2]);
      expect(computeMs).toBeGreaterThanOrEqual(0);
    });

    it('answers each of many concurrent runs with its own result, on every instance, queueing beyond them', async () => {
      const model = await load({ instances: 2 });
      expect(model.instances).toBe(2);
      expect(model.memoryBytes).toBeGreaterThan(0);
      const runs = Array.from({ length: 40 }, (_, i) => model.infer(inputsOf([[i, i + 1, i + 2]]), [c.output]));
      const results = await Promise.all(runs);
      results.forEach(({ outputs }, i) => expect(Array.from((outputs.get(c.output) as Tensor).data as Float32Array)).toEqual([2 * i + 1, 2 * i + 3, 2 * i + 5]));
    });

    it("applies an ecoml model's recorded preprocessing to its input", async () => {
      const model = await load({ preprocessing: { input: c.input, record: { kind: 'scale', scale: 0.5 } } });
      const { outputs } = await model.infer(inputsOf([[2, 4, 6]]), [c.output]);
      expect(Array.from((outputs.get(c.output) as Tensor).data as Float32Array)).toEqual([3, 5, 7]);
    });

    it('unloads after the runs in progress, then refuses new ones; unloading twice is fine', async () => {
      const model = await load();
      const running = model.infer(inputsOf([[1, 1, 1]]), [c.output]);
      const unloading = model.unload();
      await expect(running).resolves.toMatchObject({ computeMs: expect.any(Number) });
      await unloading;
      await model.unload();
      await expect(model.infer(inputsOf([[1, 1, 1]]), [c.output])).rejects.toMatchObject({ code: 'E_MODEL_UNAVAILABLE' });
    });

    it('refuses a broken model file with E_MODEL_CORRUPT', async () => {
      const source = await c.broken(await tempDir('ecoml-runtime-'));
      const error = (await c.runtime().load({ source, threads: 1, instances: 1 }).catch((e: unknown) => e)) as EcomlError;
      expect(error.code).toBe('E_MODEL_CORRUPT');
    });
  });
}

export async function writeGarbage(dir: string, file: string): Promise<string> {
  await writeFile(join(dir, file), 'this is not a model');
  return join(dir, file);
}
