/**
 * Kernels the tfjs wasm backend lacks or runs slowly, rewritten onto its own fast (XNNPACK)
 * untransposed MatMul and Transpose (see shared/reference/engine.md for the measurements):
 *
 * - Conv2DBackpropFilter (missing: no conv model could train): im2col in JS, then one MatMul,
 *   chunked over the batch to bound memory.
 * - Conv2DBackpropInput (a naive loop in wasm): dy times the transposed filter, then col2im in JS.
 * - BatchMatMul with a transposed operand (10× slower than untransposed): transposes explicitly.
 * - MaxPoolGrad and AvgPoolGrad (3× and 2× slower than a scatter over the windows in JS): JS.
 * - UnsortedSegmentSum (missing: Embedding could not train): a scatter-add in JS.
 * - The Conv2D gradient, re-registered so the two conv kernels also receive `dilations`.
 *
 * Cost model. The wasm MatMul packs its right operand (the "weights") on every call with a new
 * tensor, at ~3× the cost per element of a wasm Transpose (measured: ~5 vs ~1.7 ns per element);
 * a gradient's operands are always new. So each product is arranged to pack its smaller operand,
 * transposing where that is cheaper overall.
 *
 * These run against wasm backend internals (`makeOutput`, `typedArrayFromHeap`, `disposeData`),
 * which tfjs's own wasm kernels use; they are pinned to tfjs-backend-wasm 4.22. Every heap view
 * is taken after the allocations of its step, because an allocation can grow (and detach) the heap.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type Shape4 = [number, number, number, number];

/** im2col chunks hold at most this many floats (16 MiB), whatever the batch size. */
const CHUNK_ELEMENTS = 1 << 22;
/** Relative cost per element of a wasm Transpose and of MatMul's packing of its right operand. */
const TRANSPOSE_COST = 1;
const PACK_COST = 3;

interface WasmOps {
  readonly be: BackendWasm;
  matMul(a: Info, b: Info): Info;
  transpose(x: Info, perm: number[]): Info;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function floats(be: BackendWasm, info: Info): Float32Array {
  const view = be.typedArrayFromHeap(info);
  if (!(view instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${info.dtype}`);
  return view;
}

function free(be: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) be.disposeData(info.dataId);
}

/** The same data seen with another shape of equal size (no copy; wasm kernels reshape this way). */
function view(info: Info, shape: number[]): Info {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

function originalKernel(name: string): tf.KernelFunc {
  const config = tf.getKernel(name, 'wasm');
  if (config === undefined) throw new Error(`the wasm backend has no ${name} kernel`);
  return config.kernelFunc;
}

function single(result: Info | Info[]): Info {
  if (Array.isArray(result)) throw new Error('expected one output');
  return result;
}

function pair(v: number | [number, number] | undefined): [number, number] {
  if (v === undefined) return [1, 1];
  return typeof v === 'number' ? [v, v] : v;
}

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Our Conv2D gradient passes it; tfjs's own callers never dilate. */
  dilations?: number | [number, number];
}

function convInfo(xShape: Shape4, filterShape: Shape4, attrs: ConvAttrs): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== 'NHWC') throw new Error(`ecoml's wasm conv gradients support NHWC only, got ${attrs.dataFormat}`);
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, pair(attrs.dilations), attrs.pad, attrs.dimRoundingMode);
}

/** Samples per im2col chunk so that a chunk holds at most CHUNK_ELEMENTS floats. */
function chunkSamples(perSample: number, batch: number): number {
  return Math.max(1, Math.min(batch, Math.floor(CHUNK_ELEMENTS / perSample)));
}

/** dy rows of samples [b0, b0 + count): a view when it is the whole batch, else a copy. */
function dyRows(ops: WasmOps, dy: Info, b0: number, count: number, rowsPerSample: number, channels: number): { rows: Info; owned: boolean } {
  const batch = dy.shape[0] as number;
  const shape = [count * rowsPerSample, channels];
  if (b0 === 0 && count === batch) return { rows: view(dy, shape), owned: false };
  const rows = ops.be.makeOutput(shape, 'float32');
  const start = b0 * rowsPerSample * channels;
  floats(ops.be, rows).set(floats(ops.be, dy).subarray(start, start + size(shape)));
  return { rows, owned: true };
}

/**
 * dW[kh, kw, ci, co] = Σ_m cols[m, k] · dy[m, co] over the im2col matrix cols [M, K = kh·kw·ci].
 * Either colsᵀ (built transposed, free) times dy, packing dy [M, co]; or (dyᵀ · cols)ᵀ, which
 * transposes dy and packs cols [M, K]: the latter wins when K is small against co (first layers).
 */
function conv2dBackpropFilter(ops: WasmOps, x: Info, dy: Info, attrs: ConvAttrs & { filterShape: Shape4 }): Info {
  const { be } = ops;
  const c = convInfo(x.shape as Shape4, attrs.filterShape, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = c;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const K = filterHeight * filterWidth * inChannels;
  const perSample = outHeight * outWidth;
  const transposeDy = TRANSPOSE_COST * outChannels + PACK_COST * K < PACK_COST * outChannels;
  const step = chunkSamples(K * perSample, batchSize);
  let total: Info | undefined;
  for (let b0 = 0; b0 < batchSize; b0 += step) {
    const count = Math.min(step, batchSize - b0);
    const M = count * perSample;
    const { rows, owned } = dyRows(ops, dy, b0, count, perSample, outChannels);
    // cols[m, k] lives at m·mStride + k·kStride: [K, M] when it is the left operand, else [M, K].
    const cols = be.makeOutput(transposeDy ? [M, K] : [K, M], 'float32');
    const mStride = transposeDy ? K : 1;
    const kStride = transposeDy ? 1 : M;
    const colsV = floats(be, cols);
    const xV = floats(be, x);
    // Output row by output row, so the input rows read stay in cache while every (kh, kw, ci)
    // entry of that output row is written.
    for (let b = b0; b < b0 + count; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        const m0 = ((b - b0) * outHeight + oh) * outWidth;
        for (let fh = 0; fh < filterHeight; fh++) {
          const ih = oh * strideHeight - top + fh * dilationHeight;
          const inside = ih >= 0 && ih < inHeight;
          const xRow = (b * inHeight + ih) * inWidth;
          for (let fw = 0; fw < filterWidth; fw++) {
            for (let ci = 0; ci < inChannels; ci++) {
              let at = m0 * mStride + ((fh * filterWidth + fw) * inChannels + ci) * kStride;
              for (let ow = 0; ow < outWidth; ow++, at += mStride) {
                const iw = ow * strideWidth - left + fw * dilationWidth;
                colsV[at] = inside && iw >= 0 && iw < inWidth ? (xV[(xRow + iw) * inChannels + ci] as number) : 0;
              }
            }
          }
        }
      }
    }
    let part: Info;
    if (transposeDy) {
      const dyT = ops.transpose(rows, [1, 0]);
      const partT = ops.matMul(dyT, cols);
      part = ops.transpose(partT, [1, 0]);
      free(be, dyT, partT);
    } else {
      part = ops.matMul(cols, rows);
    }
    free(be, cols);
    if (owned) free(be, rows);
    if (total === undefined) {
      total = part;
    } else {
      const acc = floats(be, total);
      const add = floats(be, part);
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (add[i] as number);
      free(be, part);
    }
  }
  if (total === undefined) {
    const zeros = be.makeOutput(attrs.filterShape, 'float32');
    floats(be, zeros).fill(0);
    return zeros;
  }
  return view(total, attrs.filterShape);
}

/** dx = col2im(dy · Wᵀ), with Wᵀ = the filter as [co, kh·kw·ci]. */
function conv2dBackpropInput(ops: WasmOps, dy: Info, filter: Info, attrs: ConvAttrs & { inputShape: Shape4 }): Info {
  const { be } = ops;
  const c = convInfo(attrs.inputShape, filter.shape as Shape4, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = c;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const K = filterHeight * filterWidth * inChannels;
  const perSample = outHeight * outWidth;
  const wT = ops.transpose(view(filter, [K, outChannels]), [1, 0]);
  const dx = be.makeOutput(attrs.inputShape, 'float32');
  floats(be, dx).fill(0);
  const step = chunkSamples(K * perSample, batchSize);
  for (let b0 = 0; b0 < batchSize; b0 += step) {
    const count = Math.min(step, batchSize - b0);
    const { rows, owned } = dyRows(ops, dy, b0, count, perSample, outChannels);
    const cols = ops.matMul(rows, wT);
    if (owned) free(be, rows);
    const colsV = floats(be, cols);
    const dxV = floats(be, dx);
    let m = 0;
    for (let b = b0; b < b0 + count; b++) {
      for (let oh = 0; oh < outHeight; oh++) {
        for (let ow = 0; ow < outWidth; ow++, m++) {
          let k = m * K;
          for (let fh = 0; fh < filterHeight; fh++) {
            const ih = oh * strideHeight - top + fh * dilationHeight;
            if (ih < 0 || ih >= inHeight) {
              k += filterWidth * inChannels;
              continue;
            }
            for (let fw = 0; fw < filterWidth; fw++) {
              const iw = ow * strideWidth - left + fw * dilationWidth;
              if (iw < 0 || iw >= inWidth) {
                k += inChannels;
                continue;
              }
              const base = ((b * inHeight + ih) * inWidth + iw) * inChannels;
              for (let ci = 0; ci < inChannels; ci++, k++) dxV[base + ci] = (dxV[base + ci] as number) + (colsV[k] as number);
            }
          }
        }
      }
    }
    free(be, cols);
  }
  free(be, wT);
  return dx;
}

function swapLast2(ops: WasmOps, x: Info): Info {
  const r = x.shape.length;
  const perm = x.shape.map((_, i) => (i < r - 2 ? i : i === r - 2 ? r - 1 : r - 2));
  return ops.transpose(x, perm);
}

/**
 * op(A)·op(B) without a transposed operand reaching the wasm MatMul: either transpose the
 * transposed operands and pack op(B), or compute Cᵀ = op(B)ᵀ·op(A)ᵀ (whose transposes are the
 * given operands or cheap to make), pack op(A)ᵀ and transpose C back; whichever costs less.
 */
function batchMatMul(ops: WasmOps, original: tf.KernelFunc, args: Parameters<tf.KernelFunc>[0]): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return single(original(args));
  const { be } = ops;
  const m = a.shape[a.shape.length - (transposeA ? 1 : 2)] as number;
  const n = b.shape[b.shape.length - (transposeB ? 2 : 1)] as number;
  const batch = Math.max(size(a.shape.slice(0, -2)), size(b.shape.slice(0, -2)));
  const sa = size(a.shape);
  const sb = size(b.shape);
  const direct = TRANSPOSE_COST * ((transposeA ? sa : 0) + (transposeB ? sb : 0)) + PACK_COST * sb;
  const flipped = TRANSPOSE_COST * ((transposeA ? 0 : sa) + (transposeB ? 0 : sb) + batch * m * n) + PACK_COST * sa;
  const temps: Info[] = [];
  const materialize = (x: Info, swap: boolean): Info => {
    if (!swap) return x;
    const t = swapLast2(ops, x);
    temps.push(t);
    return t;
  };
  let out: Info;
  if (direct <= flipped) {
    out = ops.matMul(materialize(a, transposeA), materialize(b, transposeB));
  } else {
    const outT = ops.matMul(materialize(b, !transposeB), materialize(a, !transposeA));
    temps.push(outT);
    out = swapLast2(ops, outT);
  }
  free(be, ...temps);
  return out;
}

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Calls `visit(o, count)` for each output position o of a 2D pooling after writing the offsets of
 * its window's in-bounds input pixels (row-major, as tfjs visits them) into `bases[0…count)`.
 */
function forEachWindow(p: tf.backend_util.Conv2DInfo, bases: Int32Array, visit: (o: number, count: number) => void): void {
  const channels = p.inChannels;
  for (let b = 0, o = 0; b < p.batchSize; b++) {
    for (let oh = 0; oh < p.outHeight; oh++) {
      const top = oh * p.strideHeight - p.padInfo.top;
      const r0 = Math.max(0, top);
      const r1 = Math.min(p.inHeight, top + p.filterHeight);
      for (let ow = 0; ow < p.outWidth; ow++, o++) {
        const left = ow * p.strideWidth - p.padInfo.left;
        const c1 = Math.min(p.inWidth, left + p.filterWidth);
        let count = 0;
        for (let r = r0; r < r1; r++) {
          for (let c = Math.max(0, left); c < c1; c++) bases[count++] = ((b * p.inHeight + r) * p.inWidth + c) * channels;
        }
        visit(o, count);
      }
    }
  }
}

function poolInfo(x: Info, attrs: PoolAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
}

/** dx: each window's dy goes to its first strictly largest input, as tfjs's cpu backend does. */
function maxPoolGrad(be: BackendWasm, dy: Info, x: Info, attrs: PoolAttrs): Info {
  const p = poolInfo(x, attrs);
  const channels = p.inChannels;
  const dx = be.makeOutput(x.shape, 'float32');
  const dxV = floats(be, dx);
  const xV = floats(be, x);
  const dyV = floats(be, dy);
  dxV.fill(0);
  const bases = new Int32Array(p.filterHeight * p.filterWidth);
  forEachWindow(p, bases, (o, count) => {
    for (let d = 0; d < channels; d++) {
      let best = Number.NEGATIVE_INFINITY;
      let at = -1;
      for (let k = 0; k < count; k++) {
        const i = (bases[k] as number) + d;
        const v = xV[i] as number;
        if (v > best) {
          best = v;
          at = i;
        }
      }
      if (at >= 0) dxV[at] = (dxV[at] as number) + (dyV[o * channels + d] as number);
    }
  });
  return dx;
}

/** dx: each window's dy, over the full window size (tfjs's convention), added to every input it covers. */
function avgPoolGrad(be: BackendWasm, dy: Info, x: Info, attrs: PoolAttrs): Info {
  const p = poolInfo(x, attrs);
  const channels = p.inChannels;
  const scale = 1 / (p.filterHeight * p.filterWidth);
  const dx = be.makeOutput(x.shape, 'float32');
  const dxV = floats(be, dx);
  const dyV = floats(be, dy);
  dxV.fill(0);
  const bases = new Int32Array(p.filterHeight * p.filterWidth);
  forEachWindow(p, bases, (o, count) => {
    const src = o * channels;
    for (let k = 0; k < count; k++) {
      const base = bases[k] as number;
      for (let d = 0; d < channels; d++) dxV[base + d] = (dxV[base + d] as number) + (dyV[src + d] as number) * scale;
    }
  });
  return dx;
}

function unsortedSegmentSum(be: BackendWasm, x: Info, segmentIds: Info, numSegments: number): Info {
  const ids = be.typedArrayFromHeap(segmentIds);
  const rowSize = size(x.shape) / ids.length;
  const out = be.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const outV = be.typedArrayFromHeap(out);
  const xV = be.typedArrayFromHeap(x);
  outV.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (id < 0 || id >= numSegments) continue;
    const src = i * rowSize;
    const dst = id * rowSize;
    for (let j = 0; j < rowSize; j++) outV[dst + j] = (outV[dst + j] as number) + (xV[src + j] as number);
  }
  return out;
}

/**
 * tfjs-core's Conv2D gradient, but passing `dilations` to the backprop kernels (which tfjs-core
 * refuses to do). Only our wasm kernels read that attribute, so dilated gradients elsewhere throw.
 */
function registerConv2dGradient(): void {
  tf.registerGradient({
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as tf.Conv2DAttrs;
      const dilations = pair(a.dilations);
      if ((dilations[0] > 1 || dilations[1] > 1) && tf.getBackend() !== 'wasm') {
        throw new Error(`dilated conv2d gradients need the wasm backend (ecoml's kernels), not ${tf.getBackend()}`);
      }
      const common = { strides: a.strides, pad: a.pad, dataFormat: a.dataFormat, dimRoundingMode: a.dimRoundingMode, dilations };
      // runKernel's attribute map type has no room for ExplicitPadding; the kernels read it as tfjs-core's do.
      const run = (name: string, inputs: tf.NamedTensorMap, extra: object): tf.Tensor =>
        tf.engine().runKernel(name, inputs, { ...common, ...extra } as unknown as tf.NamedAttrMap) as tf.Tensor;
      return {
        x: () => run(tf.Conv2DBackpropInput, { dy: dy as tf.Tensor, filter }, { inputShape: x.shape }),
        filter: () => run(tf.Conv2DBackpropFilter, { x, dy: dy as tf.Tensor }, { filterShape: filter.shape }),
      };
    },
  });
}

/** Installs the kernels above on the (initialized) wasm backend. Call once, after setBackend('wasm'). */
export function installWasmKernels(): void {
  const matMulKernel = originalKernel(tf.BatchMatMul);
  const transposeKernel = originalKernel(tf.Transpose);
  const opsFor = (backend: object): WasmOps => {
    // Kernels receive their backend untyped; on 'wasm' it is the BackendWasm instance.
    const be = backend as BackendWasm;
    return {
      be,
      matMul: (a, b) => single(matMulKernel({ inputs: { a, b }, backend: be, attrs: { transposeA: false, transposeB: false } })),
      transpose: (x, perm) => single(transposeKernel({ inputs: { x }, backend: be, attrs: { perm } })),
    };
  };
  const kernels: Record<string, tf.KernelFunc> = {
    [tf.Conv2DBackpropFilter]: ({ inputs, backend, attrs }) =>
      // Attribute maps are untyped at this boundary; tfjs-core's gradient built them with these fields.
      conv2dBackpropFilter(opsFor(backend), inputs.x as Info, inputs.dy as Info, attrs as unknown as ConvAttrs & { filterShape: Shape4 }),
    [tf.Conv2DBackpropInput]: ({ inputs, backend, attrs }) =>
      conv2dBackpropInput(opsFor(backend), inputs.dy as Info, inputs.filter as Info, attrs as unknown as ConvAttrs & { inputShape: Shape4 }),
    [tf.BatchMatMul]: (args) => batchMatMul(opsFor(args.backend), matMulKernel, args),
    [tf.MaxPoolGrad]: ({ inputs, backend, attrs }) => maxPoolGrad(backend as BackendWasm, inputs.dy as Info, inputs.input as Info, attrs as unknown as PoolAttrs),
    [tf.AvgPoolGrad]: ({ inputs, backend, attrs }) => avgPoolGrad(backend as BackendWasm, inputs.dy as Info, inputs.input as Info, attrs as unknown as PoolAttrs),
    [tf.UnsortedSegmentSum]: ({ inputs, backend, attrs }) =>
      unsortedSegmentSum(backend as BackendWasm, inputs.x as Info, inputs.segmentIds as Info, (attrs as unknown as tf.UnsortedSegmentSumAttrs).numSegments),
  };
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    if (tf.getKernel(kernelName, 'wasm') !== undefined) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  registerConv2dGradient();
}
