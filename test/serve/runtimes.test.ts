import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/engine/onnx/protobuf.js';
import { createOnnxRuntime } from '../../src/serve/runtimes/onnx.js';
import { createTfjsRuntime } from '../../src/serve/runtimes/tfjs.js';
import type { Tensor } from '../../src/serve/tensors.js';
import { tempDir } from '../cli/helpers.js';
import { affineOnnx, affineTfjs, externalDataOnnx, THIRD_PARTY_SIGNATURE, thirdPartyOnnx, writeOnnx } from './models.js';
import { runRuntimeSuite, writeGarbage } from './runtime.suite.js';

runRuntimeSuite({
  name: 'onnx',
  runtime: createOnnxRuntime,
  affine: (dir) => writeOnnx(dir, affineOnnx(3, 2, 1)),
  broken: (dir) => writeGarbage(dir, 'model.onnx'),
  input: 'x',
  output: 'y',
});

runRuntimeSuite({
  name: 'tfjs',
  runtime: createTfjsRuntime,
  affine: (dir) => affineTfjs(dir, 3, 2, 1),
  broken: async (dir) => {
    await writeGarbage(dir, 'model.json');
    return dir;
  },
  input: 'input',
  output: 'dense/dense',
});

describe('onnx runtime with third-party models', () => {
  it('serves several named inputs and outputs of int64, float and bool, with a dynamic sequence length', async () => {
    const source = await writeOnnx(await tempDir('ecoml-runtime-'), thirdPartyOnnx());
    const model = await createOnnxRuntime().load({ source, threads: 1, instances: 1 });
    try {
      expect(model.signature).toEqual(THIRD_PARTY_SIGNATURE);
      for (const seq of [1, 5]) {
        const tokens: Tensor = { datatype: 'INT64', shape: [2, seq], data: BigInt64Array.from({ length: 2 * seq }, (_, i) => BigInt(i < seq ? 2 : -3)) };
        const scale: Tensor = { datatype: 'FP32', shape: [2, 1], data: Float32Array.of(0.5, 2) };
        const { outputs } = await model.infer(new Map([['tokens', tokens], ['scale', scale]]), ['score', 'total', 'positive']);
        expect(Array.from(outputs.get('score')?.data as Float32Array)).toEqual([seq, -6 * seq]);
        expect(Array.from(outputs.get('total')?.data as BigInt64Array)).toEqual([BigInt(2 * seq), BigInt(-3 * seq)]);
        expect(outputs.get('positive')).toMatchObject({ datatype: 'BOOL', shape: [2, 1] });
        expect(Array.from(outputs.get('positive')?.data as Uint8Array)).toEqual([1, 0]);
      }
    } finally {
      await model.unload();
    }
  });

  it('loads weights from an external-data file and counts them in its memory', async () => {
    const source = await externalDataOnnx(await tempDir('ecoml-runtime-'), 1000, 0.5);
    const model = await createOnnxRuntime().load({ source, threads: 1, instances: 1 });
    try {
      expect(model.memoryBytes).toBeGreaterThan(4000);
      const { outputs } = await model.infer(new Map([['x', { datatype: 'FP32', shape: [1, 1000], data: new Float32Array(1000).fill(2) } as Tensor]]), ['y']);
      expect(Array.from(outputs.get('y')?.data as Float32Array)).toEqual([1000]);
    } finally {
      await model.unload();
    }
  });

  it('serves a model of hundreds of MB, its weights in an external-data file', { timeout: 120_000 }, async () => {
    // 1,000 × 65,536 float weights: 262 MB, beside a model.onnx of a few hundred bytes.
    const source = await externalDataOnnx(await tempDir('ecoml-runtime-'), 1000, 0.5, 65_536);
    const model = await createOnnxRuntime().load({ source, threads: 1, instances: 1 });
    try {
      expect(model.memoryBytes).toBeGreaterThan(262_000_000);
      const x = Float32Array.from({ length: 2000 }, (_, i) => (i < 1000 ? 1 : 2));
      const { outputs } = await model.infer(new Map([['x', { datatype: 'FP32', shape: [2, 1000], data: x } as Tensor]]), ['y']);
      const y = outputs.get('y');
      expect(y?.shape).toEqual([2, 65_536]);
      const data = y?.data as Float32Array;
      expect([data[0], data[65_535], data[65_536], data[131_071]]).toEqual([500, 500, 1000, 1000]);
    } finally {
      await model.unload();
    }
  });

  it('refuses a model whose external data lies outside its folder (E_MODEL_CORRUPT)', async () => {
    const root = await tempDir('ecoml-runtime-');
    await writeFile(join(root, 'secret.bin'), new Uint8Array(Float32Array.of(7).buffer));
    for (const location of ['../secret.bin', join(root, 'secret.bin')]) {
      const source = await writeOnnx(
        join(root, 'model'),
        encodeModel({
          nodes: [{ op: 'Identity', inputs: ['w'], outputs: ['y'] }],
          inputs: [],
          outputs: [{ name: 'y', type: 'float', shape: [1] }],
          initializers: [{ name: 'w', type: 'float', dims: [1], raw: new Uint8Array(0), external: { location, offset: 0, length: 4 } }],
        }),
      );
      await expect(createOnnxRuntime().load({ source, threads: 1, instances: 1 })).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT', message: expect.stringMatching(/escapes model directory|Absolute path not allowed/) });
    }
  });
});
