import { beforeAll, describe, expect, it } from 'vitest';
import { createEngines } from '../../src/engine/index.js';
import type { NamedWeight } from '../../src/engine/index.js';
import { checkSupported, createOnnxEngine } from '../../src/engine/onnx/index.js';
import { ACTIVATIONS, analyzeLayer, defineSpec, parseLayerConfig, resolveModelSpec } from '../../src/models/index.js';
import type { ModelSpec, SpecInput } from '../../src/models/index.js';
import { signedValues, xorshift } from './values.js';
import { webgpuUnavailable } from './webgpu.js';
import { maxAbsDiff } from '../../src/util/arrays.js';

type Layer = SpecInput['model']['layers'][number];
type Compile = NonNullable<SpecInput['compile']>;

/** Choices drawn from one seeded stream. */
class Draw {
  private readonly next: () => number;

  constructor(seed: number) {
    // Spread small seeds over the state, whose first values would otherwise be alike.
    this.next = xorshift(Math.imul(seed, 0x9e3779b9));
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(options: readonly T[]): T {
    return options[this.int(0, options.length - 1)] as T;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A generated model: its spec, a one-line name, and the vocabulary size when its input is token ids. */
interface Architecture {
  readonly name: string;
  readonly spec: ModelSpec;
  readonly tokens?: number;
}

/**
 * Builds a layer stack while tracking the sample shape, so each draw can fit what came before;
 * every layer is checked by the registry's own shape inference as it is added.
 */
class Stack {
  readonly layers: Layer[] = [];

  constructor(public shape: readonly number[]) {}

  add(layer: Layer): void {
    const at = `layers[${this.layers.length}]`;
    this.shape = analyzeLayer(parseLayerConfig(layer, at), this.shape, at).outputShape;
    this.layers.push(layer);
  }

  /**
   * Batch normalization cancels a per-feature shift, so a bias or beta before it (through layers
   * that carry a shift through, activations included where they are locally linear) can get a
   * gradient of rounding noise only, which Adam's normalized step magnifies: a dense or conv layer
   * there is drawn without its bias, and no batch normalization follows another normalization so.
   */
  addBatchNorm(d: Draw): void {
    const before = this.layers.findLast((l) => !SHIFT_PRESERVING.has(l.type));
    if (before?.type === 'batchNormalization' || before?.type === 'layerNormalization') return;
    if (before?.type === 'dense' || before?.type === 'conv2d') before.useBias = false;
    this.add({ type: 'batchNormalization', momentum: d.pick([0.5, 0.99]) });
  }

  /** Layer normalization over one feature outputs its beta whatever the input: it needs two or more. */
  addLayerNorm(): void {
    if ((this.shape[this.shape.length - 1] as number) >= 2) this.add({ type: 'layerNormalization' });
  }
}

const RECURRENT = ['simpleRnn', 'lstm', 'gru'] as const;
/** Layers whose output shifts by c where their input shifts by a per-channel c (activations: where locally linear). */
const SHIFT_PRESERVING = new Set(['dropout', 'flatten', 'maxPooling2d', 'averagePooling2d', 'globalMaxPooling2d', 'globalAveragePooling2d', 'activation', 'leakyRelu']);

function recurrentLayer(d: Draw, returnSequences: boolean): Layer {
  const type = d.pick(RECURRENT);
  const gates = type === 'simpleRnn' ? {} : { recurrentActivation: d.pick(ACTIVATIONS) };
  return { type, units: d.int(2, 4), activation: d.pick(ACTIVATIONS), ...gates, useBias: d.chance(0.8), returnSequences };
}

/** An elementwise or shape-keeping layer valid on any input. */
function anywhere(d: Draw): Layer {
  return d.pick<Layer>([
    { type: 'activation', activation: d.pick(ACTIVATIONS) },
    { type: 'leakyRelu', alpha: d.pick([0.1, 0.3]) },
    // Rate 0: the engines draw their masks differently.
    { type: 'dropout', rate: 0 },
  ]);
}

function imageTrunk(d: Draw, s: Stack): void {
  for (let n = d.int(1, 3); n > 0; n--) {
    const [h, w] = s.shape as [number, number, number];
    const small = Math.min(h, w);
    const kind = d.pick(['conv2d', 'conv2d', 'maxPooling2d', 'averagePooling2d', 'batchNormalization', 'layerNormalization', 'anywhere'] as const);
    if (kind === 'conv2d') {
      const padding = d.pick(['same', 'valid'] as const);
      s.add({
        type: 'conv2d',
        filters: d.int(2, 4),
        kernelSize: d.int(1, Math.min(3, small)),
        padding,
        strides: padding === 'same' ? d.int(1, 2) : 1,
        activation: d.pick(ACTIVATIONS),
        useBias: d.chance(0.8),
      });
    } else if ((kind === 'maxPooling2d' || kind === 'averagePooling2d') && small >= 2) {
      // 'same' average pooling that pads stays on tfjs: average pooling here is valid.
      s.add({ type: kind, poolSize: 2, padding: kind === 'maxPooling2d' ? d.pick(['same', 'valid'] as const) : 'valid', ...(d.chance(0.5) ? { strides: 1 } : {}) });
    } else if (kind === 'batchNormalization') {
      s.addBatchNorm(d);
    } else if (kind === 'layerNormalization') {
      s.addLayerNorm();
    } else {
      s.add(anywhere(d));
    }
  }
}

/** Sequence layers; returns once at most the flat tail is left to draw. */
function sequenceTrunk(d: Draw, s: Stack): void {
  for (let n = d.int(1, 2); n > 0; n--) {
    const steps = s.shape[0] as number;
    const kind = d.pick(['conv1d', 'pooling', 'recurrent', 'bidirectional', 'anywhere'] as const);
    if (kind === 'conv1d') {
      const padding = d.pick(['same', 'valid'] as const);
      // Keep two steps or more for the recurrent layers.
      const strides = padding === 'same' && steps >= 4 ? d.int(1, 2) : 1;
      s.add({ type: 'conv1d', filters: d.int(2, 4), kernelSize: d.int(1, padding === 'valid' ? Math.min(3, steps) : 3), padding, strides, activation: d.pick(ACTIVATIONS) });
    } else if (kind === 'pooling' && steps >= 4) {
      const type = d.pick(['maxPooling1d', 'averagePooling1d'] as const);
      s.add({ type, poolSize: 2, padding: type === 'maxPooling1d' ? d.pick(['same', 'valid'] as const) : 'valid' });
    } else if (kind === 'recurrent' && steps >= 2) {
      s.add(recurrentLayer(d, true));
    } else if (kind === 'bidirectional' && steps >= 2) {
      s.add({ type: 'bidirectional', mergeMode: d.pick(['concat', 'sum', 'mul', 'ave'] as const), layer: recurrentLayer(d, true) });
    } else {
      s.add(anywhere(d));
    }
  }
  const last = (s.shape[0] as number) >= 2 ? d.pick(['recurrent', 'bidirectional', 'flatten'] as const) : 'flatten';
  if (last === 'recurrent') s.add(recurrentLayer(d, false));
  else if (last === 'bidirectional') s.add({ type: 'bidirectional', mergeMode: d.pick(['concat', 'sum', 'mul', 'ave'] as const), layer: recurrentLayer(d, false) });
  else s.add({ type: 'flatten' });
}

function flatTail(d: Draw, s: Stack): void {
  for (let n = d.int(0, 2); n > 0; n--) {
    const kind = d.pick(['dense', 'dense', 'batchNormalization', 'layerNormalization', 'anywhere'] as const);
    if (kind === 'dense') s.add({ type: 'dense', units: d.int(2, 6), activation: d.pick(ACTIVATIONS), useBias: d.chance(0.8) });
    else if (kind === 'batchNormalization') s.addBatchNorm(d);
    else if (kind === 'layerNormalization') s.addLayerNorm();
    else s.add(anywhere(d));
  }
}

const LOSSES = ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'mean_squared_error', 'mean_absolute_error', 'binary_crossentropy'] as const;

function optimizer(d: Draw): Compile['optimizer'] {
  return d.pick<NonNullable<Compile['optimizer']>>([
    { type: 'adam', learningRate: 0.01 },
    { type: 'adamw', learningRate: 0.01, weightDecay: 0.1 },
    { type: 'sgd', learningRate: 0.1 },
    { type: 'sgd', learningRate: 0.1, momentum: 0.9, nesterov: d.chance(0.5) },
    { type: 'rmsprop', learningRate: 0.01, ...(d.chance(0.5) ? { momentum: 0.5 } : {}) },
  ]);
}

function describeLayer(l: Layer): string {
  const { type, ...fields } = l;
  const args = Object.entries(fields).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'object' ? describeLayer(v as Layer) : String(v)}`);
  return `${type}(${args.join(', ')})`;
}

/** A small random model from the onnx engine's vocabulary: an image, a sequence or token-id input. */
function architecture(seed: number): Architecture {
  const d = new Draw(seed);
  const input = d.pick(['image', 'image', 'image→sequence', 'sequence', 'sequence', 'tokens'] as const);
  const tokens = input === 'tokens' ? d.int(3, 8) : undefined;
  const inputShape = tokens !== undefined ? [d.int(3, 5)] : input === 'sequence' ? [d.int(3, 6), d.int(1, 3)] : [d.int(4, 6), d.int(4, 6), d.int(1, 3)];
  const s = new Stack(inputShape);
  if (tokens !== undefined) s.add({ type: 'embedding', inputDim: tokens, outputDim: d.int(2, 3) });
  if (input === 'image' || input === 'image→sequence') imageTrunk(d, s);
  if (input === 'image') {
    s.add({ type: d.pick(['flatten', 'globalMaxPooling2d', 'globalAveragePooling2d'] as const) });
  } else {
    // Image rows as steps: [h, w, c] → [h, w·c].
    if (input === 'image→sequence') s.add({ type: 'reshape', targetShape: [s.shape[0] as number, -1] });
    sequenceTrunk(d, s);
  }
  flatTail(d, s);
  const loss = d.pick(LOSSES);
  const binary = loss === 'binary_crossentropy';
  const numClasses = binary ? 2 : d.int(3, 4);
  s.add(binary ? { type: 'dense', units: 1, activation: 'sigmoid' } : { type: 'dense', units: numClasses, activation: 'softmax' });
  const compile: Compile = { optimizer: optimizer(d), loss };
  const spec = resolveModelSpec(defineSpec({ name: `random-${seed}`, numClasses, model: { input: inputShape, layers: s.layers }, compile }), {});
  const name = `#${seed} [${inputShape.join(', ')}] ${s.layers.map(describeLayer).join(' → ')} | ${compile.optimizer?.type ?? ''} | ${loss}`;
  return { name, spec, ...(tokens !== undefined ? { tokens } : {}) };
}

const SEEDS = Array.from({ length: 18 }, (_, i) => i + 1);
const architectures = SEEDS.map(architecture);
const BATCH = 6;

const tfjs = createEngines().tfjs;
// WebGPU runs where its provider starts (./webgpu.ts); its graphs find max-pool maxima without indices.
const devices = [
  ['cpu', createOnnxEngine()],
  ['webgpu', createOnnxEngine({ device: 'webgpu' })],
] as const;

beforeAll(async () => {
  await tfjs.ready();
});

function weightDiffs(a: readonly NamedWeight[], b: readonly NamedWeight[]): Record<string, number> {
  return Object.fromEntries(a.map((w, i) => [w.name, w.name === b[i]?.name ? maxAbsDiff(w.values, b[i].values) : Number.POSITIVE_INFINITY]));
}

describe('random architectures', () => {
  it('the generator draws every kind of layer it knows, over its seeds', () => {
    const drawn = new Set(architectures.flatMap((a) => a.spec.layers.flatMap((l) => [l.type, ...(l.type === 'bidirectional' ? [(l.layer as Layer).type] : [])])));
    const expected = [
      ...['conv2d', 'maxPooling2d', 'averagePooling2d', 'globalMaxPooling2d', 'globalAveragePooling2d', 'flatten', 'reshape', 'dense', 'dropout', 'activation', 'leakyRelu'],
      ...['batchNormalization', 'layerNormalization', 'conv1d', 'maxPooling1d', 'averagePooling1d', 'embedding', ...RECURRENT, 'bidirectional'],
    ];
    expect(expected.filter((t) => !drawn.has(t))).toEqual([]);
  });
});

for (const [device, onnx] of devices) {
  describe.skipIf(device === 'webgpu' && webgpuUnavailable !== undefined)(`random architectures: onnx on ${device} and tfjs agree`, () => {
    it.each(architectures)('$name', async ({ name, spec, tokens }) => {
      expect(() => checkSupported(spec), name).not.toThrow();
      const size = spec.input.reduce((a, b) => a * b, 1);
      const raw = signedValues(7, BATCH * size);
      const x = tokens === undefined ? raw : raw.map((v) => Math.floor(((v + 1) / 2) * tokens));
      // Unbalanced labels: with balanced ones a near-uniform first prediction gives the last bias a
      // gradient near 0, whose sign (all Adam's step depends on) is rounding noise.
      const y = Int32Array.from([0, 0, 0, 0, 1, 2], (c) => c % spec.numClasses);
      const ref = await tfjs.compile(spec, { seed: 11 });
      const model = await onnx.compile(spec, { seed: 11 });
      model.setWeights(await ref.getWeights());
      expect(maxAbsDiff(await model.predict(x, BATCH), await ref.predict(x, BATCH)), `${name}: outputs`).toBeLessThan(1e-5);
      const [a, b] = [await model.trainBatch(x, y, BATCH), await ref.trainBatch(x, y, BATCH)];
      expect(Math.abs(a.loss - b.loss), `${name}: loss ${a.loss} vs ${b.loss}`).toBeLessThan(1e-5);
      const diffs = weightDiffs(await model.getWeights(), await ref.getWeights());
      expect(Object.entries(diffs).filter(([, diff]) => !(diff <= 1e-4)), `${name}: weights after one step`).toEqual([]);
      ref.dispose();
      model.dispose();
    });
  });
}
