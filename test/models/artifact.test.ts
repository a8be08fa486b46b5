import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompiledModel, Engine } from '../../src/engine/types.js';
import { defineSpec, loadModelDir, readModelDir, resolveModelSpec, saveModelDir } from '../../src/models/index.js';
import type { SidecarInput } from '../../src/models/index.js';

const file = defineSpec({ name: 'tiny', numClasses: 2, model: { input: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] } });
const spec = resolveModelSpec(file, {});

/** An engine-free CompiledModel whose saveTo writes two small files (or fails, to test rollback). */
function fakeModel(content: string, fail = false): CompiledModel {
  const unused = (): never => {
    throw new Error('not used by these tests');
  };
  return {
    engine: 'fake',
    spec,
    parameterCount: 8,
    flopsPerSample: 14,
    async saveTo(dir: string) {
      await writeFile(join(dir, 'model.json'), JSON.stringify({ content }));
      if (fail) throw new Error('disk full');
      await writeFile(join(dir, 'weights.bin'), Buffer.from(content.repeat(10)));
      return { files: ['model.json', 'weights.bin'] };
    },
    trainBatch: unused,
    evaluate: unused,
    predict: unused,
    getWeights: unused,
    setWeights: unused,
    getOptimizerState: unused,
    setOptimizerState: unused,
    dispose: () => undefined,
  };
}

const input: SidecarInput = {
  spec: file,
  specDir: '/specs',
  hyperparameters: { units: 2 },
  preprocessing: { kind: 'scale', scale: 1 / 255 },
  classNames: ['no', 'yes'],
  metrics: { accuracy: 0.9 },
  energy: { joules: 1.5 },
  inference: { samplesPerSecond: 1000 },
  runId: 'run-1',
  training: { epochs: 3 },
};

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecoml-artifact-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('model directories', () => {
  it('writes the engine files and a sidecar with hashes, profile and extra fields', async () => {
    const dir = join(root, 'a');
    const written = await saveModelDir(dir, fakeModel('abc'), input);
    expect((await readdir(dir)).sort()).toEqual(['ecoml.json', 'model.json', 'weights.bin']);
    const sidecar = await readModelDir(dir);
    expect(sidecar).toEqual(written);
    expect(sidecar).toMatchObject({
      format: 'ecoml-model/1',
      engine: 'fake',
      spec: file,
      specDir: '/specs',
      resolvedSpec: spec,
      hyperparameters: { units: 2 },
      classNames: ['no', 'yes'],
      metrics: { accuracy: 0.9 },
      energy: { joules: 1.5 },
      runId: 'run-1',
      training: { epochs: 3 },
      profile: { parameterCount: 8, flopsPerSample: 14, bytesOnDisk: 17 + 30, inference: { samplesPerSecond: 1000 } },
    });
    expect(Object.keys(sidecar.files).sort()).toEqual(['model.json', 'weights.bin']);
    expect(sidecar.files['weights.bin']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names an edited file as corrupt', async () => {
    const dir = join(root, 'b');
    await saveModelDir(dir, fakeModel('abc'), input);
    const bytes = await readFile(join(dir, 'weights.bin'));
    bytes[3] = (bytes[3] ?? 0) ^ 1;
    await writeFile(join(dir, 'weights.bin'), bytes);
    await expect(readModelDir(dir)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT', details: { file: 'weights.bin' } });
  });

  it('names a missing file as corrupt', async () => {
    const dir = join(root, 'c');
    await saveModelDir(dir, fakeModel('abc'), input);
    await unlink(join(dir, 'model.json'));
    await expect(readModelDir(dir)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT', message: expect.stringContaining('model.json: is missing') });
  });

  it('reports a missing directory or sidecar as E_MODEL_NOT_FOUND', async () => {
    await expect(readModelDir(join(root, 'none'))).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND' });
    await mkdir(join(root, 'empty'));
    await expect(readModelDir(join(root, 'empty'))).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND' });
  });

  it('rejects a sidecar that is not ours', async () => {
    const dir = join(root, 'd');
    await mkdir(dir);
    await writeFile(join(dir, 'ecoml.json'), '{"format": "something-else"}');
    await expect(readModelDir(dir)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT' });
  });

  it('replaces an existing model whole, leaving no temporary directories', async () => {
    const dir = join(root, 'e');
    await saveModelDir(dir, fakeModel('old'), input);
    await saveModelDir(dir, fakeModel('new!'), { ...input, runId: 'run-2' });
    const sidecar = await readModelDir(dir);
    expect(sidecar.runId).toBe('run-2');
    expect(JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))).toEqual({ content: 'new!' });
    expect((await readdir(root)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('keeps the old model when saving fails', async () => {
    const dir = join(root, 'f');
    await saveModelDir(dir, fakeModel('old'), input);
    await expect(saveModelDir(dir, fakeModel('new', true), input)).rejects.toThrow('disk full');
    expect(JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))).toEqual({ content: 'old' });
    expect((await readdir(root)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('refuses to replace a directory that holds something else', async () => {
    const dir = join(root, 'g');
    await mkdir(dir);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await expect(saveModelDir(dir, fakeModel('abc'), input)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('loads with the engine that saved it', async () => {
    const dir = join(root, 'h');
    await saveModelDir(dir, fakeModel('abc'), input);
    const loaded = fakeModel('abc');
    const engine = (name: string): Engine => ({
      name,
      ready: async () => undefined,
      compile: async () => loaded,
      load: async (from, s) => {
        expect(from).toBe(dir);
        expect(s).toEqual(spec);
        return loaded;
      },
      liveTensors: () => 0,
    });
    const { compiled, sidecar } = await loadModelDir(dir, engine('fake'));
    expect(compiled).toBe(loaded);
    expect(sidecar.runId).toBe('run-1');
    await expect(loadModelDir(dir, engine('other'))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });
});
