/**
 * Models the serving tests build themselves: small ONNX graphs written with ecoml's own ONNX
 * encoder (a third-party model with several named inputs, int64 and bool tensors and a dynamic
 * sequence dimension; an affine map; one with its weights in an external-data file) and TF.js
 * layers models saved by the tfjs engine.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTfjsEngine } from '../../src/engine/index.js';
import { encodeModel, floatTensor, int64Tensor } from '../../src/engine/onnx/protobuf.js';
import { defineSpec, resolveModelSpec } from '../../src/models/index.js';

/** What the server says thirdPartyOnnx takes and gives. */
export const THIRD_PARTY_SIGNATURE = {
  inputs: [
    { name: 'tokens', datatype: 'INT64', shape: [-1, -1] },
    { name: 'scale', datatype: 'FP32', shape: [-1, 1] },
  ],
  outputs: [
    { name: 'score', datatype: 'FP32', shape: [-1, 1] },
    { name: 'total', datatype: 'INT64', shape: [-1, 1] },
    { name: 'positive', datatype: 'BOOL', shape: [-1, 1] },
  ],
} as const;

/**
 * tokens INT64 [batch, seq] and scale FP32 [batch, 1] →
 *   score FP32 [batch, 1] = sum(tokens) × scale, total INT64 [batch, 1] = sum(tokens), positive BOOL [batch, 1] = score > 0.
 */
export function thirdPartyOnnx(): Uint8Array {
  return encodeModel({
    nodes: [
      { op: 'Cast', inputs: ['tokens'], outputs: ['tokensF'], attrs: { to: { i: 1 } } },
      { op: 'ReduceSum', inputs: ['tokensF', 'axes'], outputs: ['sum'], attrs: { keepdims: { i: 1 } } },
      { op: 'Mul', inputs: ['sum', 'scale'], outputs: ['score'] },
      { op: 'ReduceSum', inputs: ['tokens', 'axes'], outputs: ['total'], attrs: { keepdims: { i: 1 } } },
      { op: 'Greater', inputs: ['score', 'zero'], outputs: ['positive'] },
    ],
    inputs: [
      { name: 'tokens', type: 'int64', shape: ['batch', 'seq'] },
      { name: 'scale', type: 'float', shape: ['batch', 1] },
    ],
    outputs: [
      { name: 'score', type: 'float', shape: ['batch', 1] },
      { name: 'total', type: 'int64', shape: ['batch', 1] },
      { name: 'positive', type: 'bool', shape: ['batch', 1] },
    ],
    initializers: [{ ...int64Tensor([1], [1]), name: 'axes' }, floatTensor([0], [], 'zero')],
  });
}

/** y FP32 [batch, width] = x × slope + intercept. */
export function affineOnnx(width: number, slope: number, intercept: number): Uint8Array {
  return encodeModel({
    nodes: [
      { op: 'Mul', inputs: ['x', 'slope'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['scaled', 'intercept'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float', shape: ['batch', width] }],
    outputs: [{ name: 'y', type: 'float', shape: ['batch', width] }],
    initializers: [floatTensor([slope], [], 'slope'), floatTensor([intercept], [], 'intercept')],
  });
}

/**
 * y FP32 [batch, m] = x · W for x FP32 [batch, n], with W (n × m, every entry `value`) in the
 * external-data file `weights.bin` beside model.onnx: a model of n × m × 4 bytes whose graph file
 * stays tiny.
 */
export async function externalDataOnnx(dir: string, n: number, value: number, m = 1): Promise<string> {
  await mkdir(dir, { recursive: true });
  const weights = new Float32Array(n * m).fill(value);
  await writeFile(join(dir, 'weights.bin'), new Uint8Array(weights.buffer));
  await writeFile(
    join(dir, 'model.onnx'),
    encodeModel({
      nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float', shape: ['batch', n] }],
      outputs: [{ name: 'y', type: 'float', shape: ['batch', m] }],
      initializers: [{ name: 'w', type: 'float', dims: [n, m], raw: new Uint8Array(0), external: { location: 'weights.bin', offset: 0, length: n * m * 4 } }],
    }),
  );
  return join(dir, 'model.onnx');
}

export async function writeOnnx(dir: string, bytes: Uint8Array, file = 'model.onnx'): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, file), bytes);
  return join(dir, file);
}

/** A TF.js layers model computing y [batch, width] = x × slope + intercept (one dense layer with a diagonal kernel). */
export async function affineTfjs(dir: string, width: number, slope: number, intercept: number): Promise<string> {
  const engine = createTfjsEngine();
  const spec = resolveModelSpec(defineSpec({ name: 'affine', numClasses: width, model: { input: [width], layers: [{ type: 'dense', units: width }] } }), {});
  const model = await engine.compile(spec, { seed: 1 });
  try {
    const kernel = new Float32Array(width * width);
    for (let i = 0; i < width; i++) kernel[i * width + i] = slope;
    const weights = await model.getWeights();
    model.setWeights(weights.map((w) => ({ ...w, values: w.name.endsWith('kernel') ? kernel : new Float32Array(width).fill(intercept) })));
    await model.saveTo(dir);
  } finally {
    model.dispose();
  }
  return dir;
}
