/**
 * ecoml's wasm kernels against tfjs's pure-JS cpu backend on random shapes (fast-check). Dilated cases are
 * checked through an identity: a dilated conv equals an undilated conv whose filter has zeros
 * inserted between its taps, which the cpu backend can compute.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { initTfjs, tf } from '../../src/engine/tfjs/runtime.js';
import { signedValues } from './values.js';

type Shape4 = [number, number, number, number];

beforeAll(async () => {
  await initTfjs();
});

/** Runs `f` on a backend and returns its output values; tensors are made inside, so none cross backends. */
async function on(backend: 'wasm' | 'cpu', f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  try {
    const t = tf.tidy(f);
    const values = t.dataSync() as Float32Array;
    t.dispose();
    return values;
  } finally {
    await tf.setBackend('wasm');
  }
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const tolerance = 1e-4 * Math.max(1, Math.abs(e));
    if (Math.abs((actual[i] as number) - e) > tolerance) {
      expect.fail(`element ${i}: ${actual[i]} vs cpu ${e}`);
    }
  }
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Zeros between a filter's taps: [kh, kw, ci, co] → [(kh-1)·dh+1, (kw-1)·dw+1, ci, co]. */
function inflate(filter: Float32Array, shape: Shape4, dh: number, dw: number): { values: Float32Array; shape: Shape4 } {
  const [kh, kw, ci, co] = shape;
  const big: Shape4 = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, ci, co];
  const out = new Float32Array(size(big));
  const inner = ci * co;
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) out.set(filter.subarray((h * kw + w) * inner, (h * kw + w + 1) * inner), (h * dh * big[1] + w * dw) * inner);
  }
  return { values: out, shape: big };
}

function taps(grad: Float32Array, shape: Shape4, dh: number, dw: number): Float32Array {
  const [kh, kw, ci, co] = shape;
  const bigW = (kw - 1) * dw + 1;
  const inner = ci * co;
  const out = new Float32Array(size(shape));
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) out.set(grad.subarray((h * dh * bigW + w * dw) * inner, (h * dh * bigW + w * dw + 1) * inner), (h * kw + w) * inner);
  }
  return out;
}

const convCase = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    height: fc.integer({ min: 3, max: 9 }),
    width: fc.integer({ min: 3, max: 9 }),
    inChannels: fc.integer({ min: 1, max: 4 }),
    outChannels: fc.integer({ min: 1, max: 5 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 3 }),
    dilation: fc.integer({ min: 1, max: 2 }),
    pad: fc.constantFrom('valid' as const, 'same' as const),
    seed: fc.integer({ min: 1, max: 1e9 }),
  })
  // tfjs allows strides or dilations above 1, not both; the dilated kernel must fit the input.
  .filter((c) => (c.stride === 1 || c.dilation === 1) && (c.kh - 1) * c.dilation < c.height && (c.kw - 1) * c.dilation < c.width);

describe('wasm conv gradient kernels', () => {
  it('Conv2DBackpropFilter and Conv2DBackpropInput equal the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        const xShape: Shape4 = [c.batch, c.height, c.width, c.inChannels];
        const fShape: Shape4 = [c.kh, c.kw, c.inChannels, c.outChannels];
        const x = signedValues(c.seed, size(xShape));
        const filter = signedValues(c.seed + 1, size(fShape));
        const d = c.dilation;
        const big = inflate(filter, fShape, d, d);
        const info = tf.backend_util.computeConv2DInfo(xShape, fShape, c.stride, d, c.pad);
        const dy = signedValues(c.seed + 2, size(info.outShape));
        const attrs = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
        const run = (name: string, inputs: tf.NamedTensorMap, extra: object): tf.Tensor =>
          tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as tf.NamedAttrMap) as tf.Tensor;
        const dyT = (): tf.Tensor => tf.tensor(dy, info.outShape);

        const dW = await on('wasm', () => run('Conv2DBackpropFilter', { x: tf.tensor(x, xShape), dy: dyT() }, { filterShape: fShape, dilations: d }));
        const dWBig = await on('cpu', () => run('Conv2DBackpropFilter', { x: tf.tensor(x, xShape), dy: dyT() }, { filterShape: big.shape }));
        expectClose(dW, taps(dWBig, fShape, d, d));

        const dX = await on('wasm', () => run('Conv2DBackpropInput', { dy: dyT(), filter: tf.tensor(filter, fShape) }, { inputShape: xShape, dilations: d }));
        const dXCpu = await on('cpu', () => run('Conv2DBackpropInput', { dy: dyT(), filter: tf.tensor(big.values, big.shape) }, { inputShape: xShape }));
        expectClose(dX, dXCpu);
      }),
      { numRuns: 25, seed: 4242 },
    );
  });

  it('backpropagates through a dilated conv1d op on wasm (our Conv2D gradient)', async () => {
    const x = signedValues(7, 2 * 9 * 3);
    const f = signedValues(8, 3 * 3 * 2);
    const loss = (xs: tf.Tensor, fs: tf.Tensor, dilation: number) => tf.conv1d(xs as tf.Tensor3D, fs as tf.Tensor3D, 1, 'same', 'NWC', dilation).square().sum();
    const grads = (dilation: number, filter: Float32Array, fShape: [number, number, number]) =>
      tf.grads((xs: tf.Tensor, fs: tf.Tensor) => loss(xs, fs, dilation))([tf.tensor(x, [2, 9, 3]), tf.tensor(filter, fShape)]);
    const big = inflate(f, [1, 3, 3, 2], 1, 2);
    const dilatedX = await on('wasm', () => grads(2, f, [3, 3, 2])[0] as tf.Tensor);
    const dilatedF = await on('wasm', () => grads(2, f, [3, 3, 2])[1] as tf.Tensor);
    const plainX = await on('cpu', () => grads(1, big.values, [5, 3, 2])[0] as tf.Tensor);
    const plainF = await on('cpu', () => grads(1, big.values, [5, 3, 2])[1] as tf.Tensor);
    expectClose(dilatedX, plainX);
    expectClose(dilatedF, taps(plainF, [1, 3, 3, 2], 1, 2));
  });
});

describe('wasm BatchMatMul with transposed operands', () => {
  it('equals the cpu backend for every transpose combination', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.constantFrom(0, 1, 3),
          m: fc.integer({ min: 1, max: 40 }),
          k: fc.integer({ min: 1, max: 40 }),
          n: fc.integer({ min: 1, max: 40 }),
          transposeA: fc.boolean(),
          transposeB: fc.boolean(),
          seed: fc.integer({ min: 1, max: 1e9 }),
        }),
        async ({ batch, m, k, n, transposeA, transposeB, seed }) => {
          const lead = batch === 0 ? [] : [batch];
          const aShape = [...lead, ...(transposeA ? [k, m] : [m, k])];
          const bShape = [...lead, ...(transposeB ? [n, k] : [k, n])];
          const a = signedValues(seed, size(aShape));
          const b = signedValues(seed + 1, size(bShape));
          const f = () => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), transposeA, transposeB);
          expectClose(await on('wasm', f), await on('cpu', f));
        },
      ),
      { numRuns: 30, seed: 99 },
    );
  });

  it('handles the dense-layer gradient shapes of the recipe', async () => {
    const x = signedValues(3, 8 * 2000);
    const dy = signedValues(4, 8 * 10);
    const f = () => tf.matMul(tf.tensor(x, [8, 2000]), tf.tensor(dy, [8, 10]), true, false);
    expectClose(await on('wasm', f), await on('cpu', f));
  });
});

describe('wasm pooling gradients', () => {
  it('MaxPoolGrad and AvgPoolGrad equal the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 2 }),
          height: fc.integer({ min: 2, max: 8 }),
          width: fc.integer({ min: 2, max: 8 }),
          channels: fc.integer({ min: 1, max: 5 }),
          ph: fc.integer({ min: 1, max: 3 }),
          pw: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 3 }),
          pad: fc.constantFrom('valid' as const, 'same' as const),
          seed: fc.integer({ min: 1, max: 1e9 }),
        }),
        async (c) => {
          fc.pre(c.ph <= c.height && c.pw <= c.width);
          const shape: Shape4 = [c.batch, c.height, c.width, c.channels];
          const x = signedValues(c.seed, size(shape));
          const info = tf.backend_util.computePool2DInfo(shape, [c.ph, c.pw], c.stride, 1, c.pad);
          const dy = signedValues(c.seed + 1, size(info.outShape));
          for (const pool of [tf.maxPool, tf.avgPool]) {
            const f = () =>
              tf.grad((a: tf.Tensor) => pool(a as tf.Tensor4D, [c.ph, c.pw], c.stride, c.pad).mul(tf.tensor(dy, info.outShape)).sum())(tf.tensor(x, shape));
            expectClose(await on('wasm', f), await on('cpu', f));
          }
        },
      ),
      { numRuns: 30, seed: 7 },
    );
  });
});

describe('wasm UnsortedSegmentSum', () => {
  it('equals the cpu backend, skipping out-of-range ids', async () => {
    const x = signedValues(5, 6 * 4);
    const f = () => tf.unsortedSegmentSum(tf.tensor(x, [6, 4]), tf.tensor1d([0, 2, 2, -1, 1, 7], 'int32'), 5);
    expectClose(await on('wasm', f), await on('cpu', f));
  });
});
