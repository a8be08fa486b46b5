/**
 * The layer registry, engine-agnostic: for each layer type the zod schema of its fields (Keras
 * names in camelCase), its shape inference, parameter count and forward FLOPs per sample.
 *
 * Shapes never include the batch axis: a 28×28 grey image is [28, 28, 1].
 *
 * FLOP convention (forward pass, one sample): a multiply-add counts 2, so a matrix product of
 * [m, k]·[k, n] is 2·m·k·n; a bias add counts 1 per output element. Pooling counts 1 per window
 * element read, global pooling 1 per input element, batch normalization 2 per element (folded
 * scale and shift), layer normalization 5 per element (mean, variance, normalize, scale, shift).
 * Elementwise activations, dropout, reshapes and embedding lookups count 0. Recurrent layers count
 * their gate matrix products and bias adds at every time step; bidirectional doubles its inner
 * layer and adds 1 per output element for non-concat merges. Position embeddings count 1 per
 * element added. A transformer encoder counts its dense projections (query, key, value, attention
 * output and the two feed-forward layers, with their bias adds), 2·steps²·dim for the attention
 * scores and as much for the weighted sum of the values, 1 per element for each of its two
 * residual adds and 5 per element for each of its two layer normalizations; the query scaling and
 * the softmax count 0, as activations do.
 * @module
 */
import { z } from 'zod';
import { EcomlError, lookup } from '../errors.js';

/** The shape of one sample, without the batch axis. */
export type Shape = readonly number[];

export interface LayerAnalysis {
  readonly outputShape: readonly number[];
  readonly params: number;
  readonly flops: number;
}

/** Just the part of a zod schema the registry uses, so each entry keeps its own output type. */
interface FieldSchema<C> {
  safeParse(data: unknown, params?: { reportInput?: boolean }): z.ZodSafeParseResult<C>;
}

interface LayerDef<C> {
  readonly schema: FieldSchema<C>;
  /** The field names, listed in errors. */
  readonly fields: readonly string[];
  /** Output shape, parameter count and FLOPs for an input of shape `input`; `at` names the layer in errors. */
  analyze(input: Shape, config: C, at: string): LayerAnalysis;
}

/** Activation functions every engine must provide (tfjs-layers' identifiers). */
export const ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hardSigmoid',
  'softmax',
  'softplus',
  'softsign',
  'tanh',
  'swish',
  'mish',
  'gelu',
  'gelu_new',
] as const;
export type Activation = (typeof ACTIVATIONS)[number];

const POSITIVE_INT = 'expected a positive integer';
const posInt = z.number({ error: POSITIVE_INT }).int({ error: POSITIVE_INT }).positive({ error: POSITIVE_INT });
const pairOrInt = z.union([posInt, z.tuple([posInt, posInt])], { error: 'expected a positive integer or [height, width]' });
const activation = z.enum(ACTIVATIONS, { error: `expected an activation: ${ACTIVATIONS.join(', ')}` });
const padding = z.enum(['valid', 'same'], { error: 'expected "valid" or "same"' });
const bool = z.boolean({ error: 'expected true or false' });
const unitInterval = z.number({ error: 'expected a number in [0, 1)' }).min(0, { error: 'expected a number in [0, 1)' }).lt(1, { error: 'expected a number in [0, 1)' });
const positiveNumber = z.number({ error: 'expected a positive number' }).positive({ error: 'expected a positive number' });

function def<S extends z.ZodObject>(
  schema: S,
  analyze: (input: Shape, config: z.output<S>, at: string) => LayerAnalysis,
): LayerDef<z.output<S>> {
  return { schema, fields: Object.keys(schema.shape), analyze };
}

function shapeError(at: string, message: string, input: Shape): EcomlError {
  return new EcomlError('E_SHAPE_MISMATCH', `${at}: ${message}`, { details: { path: at, inputShape: [...input] } });
}

function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

function product(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A size given as one number or [height, width], as [height, width]. */
export function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function requireRank(at: string, input: Shape, rank: number, names: string): void {
  if (input.length !== rank) throw shapeError(at, `expects a ${names} input, got ${fmt(input)}`, input);
}

/** Keras' conv_output_length: the output length of a window sliding over `length`. */
function windowOutput(at: string, input: Shape, length: number, window: number, stride: number, dilation: number, pad: 'valid' | 'same'): number {
  if (pad === 'same') return Math.ceil(length / stride);
  const span = (window - 1) * dilation + 1;
  if (span > length) throw shapeError(at, `window of ${span} (size ${window}, dilation ${dilation}) is larger than the input's ${length}`, input);
  return Math.floor((length - span) / stride) + 1;
}

function lastDim(input: Shape): number {
  return input[input.length - 1] as number;
}

const conv2dSchema = z
  .object({
    filters: posInt,
    kernelSize: pairOrInt,
    strides: pairOrInt.default(1),
    padding: padding.default('valid'),
    dilationRate: pairOrInt.default(1),
    activation: activation.default('linear'),
    useBias: bool.default(true),
  })
  .strict();

const conv1dSchema = z
  .object({
    filters: posInt,
    kernelSize: posInt,
    strides: posInt.default(1),
    padding: padding.default('valid'),
    dilationRate: posInt.default(1),
    activation: activation.default('linear'),
    useBias: bool.default(true),
  })
  .strict();

const pool2dSchema = z.object({ poolSize: pairOrInt.default(2), strides: pairOrInt.optional(), padding: padding.default('valid') }).strict();
const pool1dSchema = z.object({ poolSize: posInt.default(2), strides: posInt.optional(), padding: padding.default('valid') }).strict();
const noFields = z.object({}).strict();

const simpleRnnSchema = z
  .object({ units: posInt, activation: activation.default('tanh'), useBias: bool.default(true), returnSequences: bool.default(false) })
  .strict();
const gatedRnnSchema = z
  .object({
    units: posInt,
    activation: activation.default('tanh'),
    recurrentActivation: activation.default('sigmoid'),
    useBias: bool.default(true),
    returnSequences: bool.default(false),
  })
  .strict();

/** The recurrent layers a `bidirectional` layer can wrap. */
const innerRnnSchema = z.discriminatedUnion(
  'type',
  [
    simpleRnnSchema.extend({ type: z.literal('simpleRnn') }),
    gatedRnnSchema.extend({ type: z.literal('lstm') }),
    gatedRnnSchema.extend({ type: z.literal('gru') }),
  ],
  { error: 'expected a recurrent layer: {type: simpleRnn | lstm | gru, units, …}' },
);
export type RecurrentLayerConfig = z.output<typeof innerRnnSchema>;

/** Gate count per recurrent cell type: simple 1, GRU 3 (reset, update, candidate), LSTM 4. */
export const GATES = { simpleRnn: 1, gru: 3, lstm: 4 } as const satisfies Record<RecurrentLayerConfig['type'], number>;

function analyzeRecurrent(input: Shape, c: RecurrentLayerConfig, at: string): LayerAnalysis {
  requireRank(at, input, 2, '[timesteps, features]');
  const [steps, features] = input as [number, number];
  const gates = GATES[c.type];
  const u = c.units;
  const bias = c.useBias ? gates * u : 0;
  return {
    outputShape: c.returnSequences ? [steps, u] : [u],
    params: gates * (features * u + u * u) + bias,
    flops: steps * (2 * gates * u * (features + u) + bias),
  };
}

function analyzeConv2d(input: Shape, c: z.output<typeof conv2dSchema>, at: string): LayerAnalysis {
  requireRank(at, input, 3, '[height, width, channels]');
  const [h, w, cin] = input as [number, number, number];
  const [kh, kw] = pair(c.kernelSize);
  const [sh, sw] = pair(c.strides);
  const [dh, dw] = pair(c.dilationRate);
  if ((sh > 1 || sw > 1) && (dh > 1 || dw > 1)) {
    throw new EcomlError('E_SPEC_INVALID', `${at}: strides and dilationRate cannot both be above 1`, { details: { path: at } });
  }
  const oh = windowOutput(at, input, h, kh, sh, dh, c.padding);
  const ow = windowOutput(at, input, w, kw, sw, dw, c.padding);
  const outputs = oh * ow * c.filters;
  return {
    outputShape: [oh, ow, c.filters],
    params: kh * kw * cin * c.filters + (c.useBias ? c.filters : 0),
    flops: 2 * kh * kw * cin * outputs + (c.useBias ? outputs : 0),
  };
}

function analyzeConv1d(input: Shape, c: z.output<typeof conv1dSchema>, at: string): LayerAnalysis {
  requireRank(at, input, 2, '[steps, channels]');
  const [len, cin] = input as [number, number];
  if (c.strides > 1 && c.dilationRate > 1) {
    throw new EcomlError('E_SPEC_INVALID', `${at}: strides and dilationRate cannot both be above 1`, { details: { path: at } });
  }
  const ol = windowOutput(at, input, len, c.kernelSize, c.strides, c.dilationRate, c.padding);
  const outputs = ol * c.filters;
  return {
    outputShape: [ol, c.filters],
    params: c.kernelSize * cin * c.filters + (c.useBias ? c.filters : 0),
    flops: 2 * c.kernelSize * cin * outputs + (c.useBias ? outputs : 0),
  };
}

function analyzePool2d(input: Shape, c: z.output<typeof pool2dSchema>, at: string): LayerAnalysis {
  requireRank(at, input, 3, '[height, width, channels]');
  const [h, w, ch] = input as [number, number, number];
  const [ph, pw] = pair(c.poolSize);
  const [sh, sw] = pair(c.strides ?? c.poolSize);
  const oh = windowOutput(at, input, h, ph, sh, 1, c.padding);
  const ow = windowOutput(at, input, w, pw, sw, 1, c.padding);
  return { outputShape: [oh, ow, ch], params: 0, flops: oh * ow * ch * ph * pw };
}

function analyzePool1d(input: Shape, c: z.output<typeof pool1dSchema>, at: string): LayerAnalysis {
  requireRank(at, input, 2, '[steps, channels]');
  const [len, ch] = input as [number, number];
  const ol = windowOutput(at, input, len, c.poolSize, c.strides ?? c.poolSize, 1, c.padding);
  return { outputShape: [ol, ch], params: 0, flops: ol * ch * c.poolSize };
}

function globalPool(rank: number, names: string) {
  return def(noFields, (input, _c, at) => {
    requireRank(at, input, rank, names);
    return { outputShape: [lastDim(input)], params: 0, flops: product(input) };
  });
}

const transformerEncoderSchema = z
  .object({
    numHeads: posInt,
    intermediateDim: posInt,
    dropout: unitInterval.default(0),
    activation: activation.default('relu'),
    layerNormEpsilon: positiveNumber.default(1e-5),
    normalizeFirst: bool.default(false),
  })
  .strict();

/** A weight of a layer made of sublayers, named relative to the layer (tfjs shape). */
export interface SublayerWeight {
  readonly name: string;
  readonly shape: readonly number[];
}

/**
 * A transformerEncoder's weights over `dim` features, in the order both engines keep them, named
 * after keras_hub's sublayers. Projections are 2-D: head k owns columns k·headDim … (k+1)·headDim − 1
 * of the query, key and value kernels, and rows of the attention output kernel alike.
 */
export function transformerEncoderWeights(dim: number, intermediateDim: number): SublayerWeight[] {
  const dense = (name: string, fanIn: number, units: number): SublayerWeight[] => [
    { name: `${name}/kernel`, shape: [fanIn, units] },
    { name: `${name}/bias`, shape: [units] },
  ];
  const norm = (name: string): SublayerWeight[] => [
    { name: `${name}/gamma`, shape: [dim] },
    { name: `${name}/beta`, shape: [dim] },
  ];
  return [
    ...dense('query', dim, dim),
    ...dense('key', dim, dim),
    ...dense('value', dim, dim),
    ...dense('attention_output', dim, dim),
    ...norm('self_attention_layer_norm'),
    ...dense('feedforward_intermediate_dense', dim, intermediateDim),
    ...dense('feedforward_output_dense', intermediateDim, dim),
    ...norm('feedforward_layer_norm'),
  ];
}

/** A tokenAndPositionEmbedding's weights for `steps` token ids, in the order both engines keep them. */
export function tokenAndPositionWeights(steps: number, inputDim: number, outputDim: number): SublayerWeight[] {
  return [
    { name: 'token_embedding/embeddings', shape: [inputDim, outputDim] },
    { name: 'position_embedding/embeddings', shape: [steps, outputDim] },
  ];
}

function analyzeTransformerEncoder(input: Shape, c: z.output<typeof transformerEncoderSchema>, at: string): LayerAnalysis {
  requireRank(at, input, 2, '[steps, features]');
  const [steps, dim] = input as [number, number];
  if (dim % c.numHeads !== 0) {
    throw new EcomlError('E_SPEC_INVALID', `${at}.numHeads: ${c.numHeads} heads do not divide the input's ${dim} features`, {
      details: { path: `${at}.numHeads`, inputShape: [...input] },
    });
  }
  const i = c.intermediateDim;
  const projections = 4 * (2 * dim * dim + dim) + (2 * dim * i + i) + (2 * i * dim + dim);
  return {
    outputShape: [...input],
    params: transformerEncoderWeights(dim, i).reduce((n, w) => n + product(w.shape), 0),
    flops: steps * projections + 4 * steps * steps * dim + 2 * steps * dim + 2 * 5 * steps * dim,
  };
}

function passThrough(input: Shape): LayerAnalysis {
  return { outputShape: [...input], params: 0, flops: 0 };
}

/** Every layer type, by the name spec files use. */
export const LAYER_TYPES = {
  conv2d: def(conv2dSchema, analyzeConv2d),
  conv1d: def(conv1dSchema, analyzeConv1d),
  maxPooling2d: def(pool2dSchema, analyzePool2d),
  averagePooling2d: def(pool2dSchema, analyzePool2d),
  maxPooling1d: def(pool1dSchema, analyzePool1d),
  averagePooling1d: def(pool1dSchema, analyzePool1d),
  globalMaxPooling2d: globalPool(3, '[height, width, channels]'),
  globalAveragePooling2d: globalPool(3, '[height, width, channels]'),
  globalMaxPooling1d: globalPool(2, '[steps, channels]'),
  globalAveragePooling1d: globalPool(2, '[steps, channels]'),
  flatten: def(noFields, (input, _c, at) => {
    // tfjs-layers rejects Flatten on an already flat input; so do we, for every engine alike.
    if (input.length < 2) throw shapeError(at, `expects an input of rank 2 or more, got ${fmt(input)}`, input);
    return { outputShape: [product(input)], params: 0, flops: 0 };
  }),
  reshape: def(
    z
      .object({
        targetShape: z
          .array(z.number().int().refine((v) => v > 0 || v === -1), { error: 'expected an array of positive integers (at most one -1)' })
          .min(1, { error: 'expected at least one dimension' }),
      })
      .strict(),
    (input, c, at) => {
      const size = product(input);
      const unknown = c.targetShape.filter((d) => d === -1).length;
      const known = product(c.targetShape.filter((d) => d !== -1));
      if (unknown > 1) throw new EcomlError('E_SPEC_INVALID', `${at}.targetShape: at most one dimension may be -1`, { details: { path: at } });
      if (unknown === 1 ? size % known !== 0 : size !== known) {
        throw shapeError(at, `cannot reshape ${fmt(input)} (${size} values) to ${fmt(c.targetShape)}`, input);
      }
      return { outputShape: c.targetShape.map((d) => (d === -1 ? size / known : d)), params: 0, flops: 0 };
    },
  ),
  dense: def(
    z.object({ units: posInt, activation: activation.default('linear'), useBias: bool.default(true) }).strict(),
    (input, c) => {
      const fanIn = lastDim(input);
      const positions = product(input) / fanIn;
      const bias = c.useBias ? c.units : 0;
      return {
        outputShape: [...input.slice(0, -1), c.units],
        params: fanIn * c.units + bias,
        flops: positions * (2 * fanIn * c.units + bias),
      };
    },
  ),
  dropout: def(z.object({ rate: unitInterval, seed: z.number().int().nonnegative().optional() }).strict(), passThrough),
  batchNormalization: def(
    z.object({ momentum: unitInterval.default(0.99), epsilon: positiveNumber.default(1e-3) }).strict(),
    // gamma, beta, moving mean and moving variance: Keras counts all four in the total.
    (input) => ({ outputShape: [...input], params: 4 * lastDim(input), flops: 2 * product(input) }),
  ),
  layerNormalization: def(z.object({ epsilon: positiveNumber.default(1e-3) }).strict(), (input) => ({
    outputShape: [...input],
    params: 2 * lastDim(input),
    flops: 5 * product(input),
  })),
  activation: def(z.object({ activation }).strict(), passThrough),
  leakyRelu: def(z.object({ alpha: z.number({ error: 'expected a number' }).nonnegative().default(0.3) }).strict(), passThrough),
  embedding: def(z.object({ inputDim: posInt, outputDim: posInt }).strict(), (input, c, at) => {
    requireRank(at, input, 1, '[sequence length] (token ids)');
    return { outputShape: [input[0] as number, c.outputDim], params: c.inputDim * c.outputDim, flops: 0 };
  }),
  positionEmbedding: def(noFields, (input, _c, at) => {
    requireRank(at, input, 2, '[steps, features]');
    return { outputShape: [...input], params: product(input), flops: product(input) };
  }),
  tokenAndPositionEmbedding: def(z.object({ inputDim: posInt, outputDim: posInt }).strict(), (input, c, at) => {
    requireRank(at, input, 1, '[sequence length] (token ids)');
    const steps = input[0] as number;
    return { outputShape: [steps, c.outputDim], params: (c.inputDim + steps) * c.outputDim, flops: steps * c.outputDim };
  }),
  transformerEncoder: def(transformerEncoderSchema, analyzeTransformerEncoder),
  simpleRnn: def(simpleRnnSchema, (input, c, at) => analyzeRecurrent(input, { ...c, type: 'simpleRnn' }, at)),
  lstm: def(gatedRnnSchema, (input, c, at) => analyzeRecurrent(input, { ...c, type: 'lstm' }, at)),
  gru: def(gatedRnnSchema, (input, c, at) => analyzeRecurrent(input, { ...c, type: 'gru' }, at)),
  bidirectional: def(
    z.object({ layer: innerRnnSchema, mergeMode: z.enum(['concat', 'sum', 'mul', 'ave'], { error: 'expected concat, sum, mul or ave' }).default('concat') }).strict(),
    (input, c, at) => {
      const inner = analyzeRecurrent(input, c.layer, `${at}.layer`);
      const out = inner.outputShape;
      const concat = c.mergeMode === 'concat';
      return {
        outputShape: concat ? [...out.slice(0, -1), 2 * lastDim(out)] : out,
        params: 2 * inner.params,
        flops: 2 * inner.flops + (concat ? 0 : (c.mergeMode === 'ave' ? 2 : 1) * product(out)),
      };
    },
  ),
} satisfies Record<string, LayerDef<object>>;

export type LayerType = keyof typeof LAYER_TYPES;
type FieldMap = { [K in LayerType]: (typeof LAYER_TYPES)[K] extends LayerDef<infer C> ? C : never };

/** A validated layer config of type K, defaults filled in. */
export type LayerConfigOf<K extends LayerType> = { readonly type: K } & Readonly<FieldMap[K]>;
/** Any validated layer config, discriminated by `type`. */
export type TypedLayerConfig = { [K in LayerType]: LayerConfigOf<K> }[LayerType];

// The registry with each entry's config type erased; sound because every use indexes it with the
// `type` of the very config it passes (methods are bivariant, which permits the widening).
const DEFS: Readonly<Record<LayerType, LayerDef<object>>> = LAYER_TYPES;

export function isLayerType(name: string): name is LayerType {
  return Object.hasOwn(LAYER_TYPES, name);
}

/** Formats a zod issue path the way spec errors name fields: `layers[2].kernelSize[0]`. */
export function formatPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out;
}

/** One line per zod issue, each naming its field: `model.layers[0].units: expected a positive integer, got "x"`. */
export function describeIssues(base: string, issues: readonly z.core.$ZodIssue[]): { path: string; message: string }[] {
  return issues.map((issue) => {
    const path = formatPath(base, issue.path) || '(spec)';
    if (issue.code === 'unrecognized_keys') {
      return { path, message: `${path}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` };
    }
    // zod's default type message names the type received; we show the value itself instead.
    const text = issue.code === 'invalid_type' ? issue.message.replace(/^Invalid input: /, '').replace(/, received \w+$/, '') : issue.message;
    if (issue.input === undefined) return { path, message: `${path}: required (${text})` };
    return { path, message: `${path}: ${text}, got ${JSON.stringify(issue.input)}` };
  });
}

function specInvalid(at: string, lines: { path: string; message: string }[]): EcomlError {
  return new EcomlError('E_SPEC_INVALID', lines.map((l) => l.message).join('\n'), { details: { path: at, issues: lines } });
}

/**
 * Validates one layer (hyperparameters already substituted) against its type's schema, filling in
 * defaults. `at` names it in errors, e.g. `model.layers[2]`.
 */
export function parseLayerConfig(raw: { readonly type: string } & Readonly<Record<string, unknown>>, at: string): TypedLayerConfig {
  const { type: name, ...fields } = raw;
  const type = layerTypeOf(name, at);
  const def = DEFS[type];
  const result = def.schema.safeParse(fields, { reportInput: true });
  if (!result.success) {
    const context = `(layer type ${type}; ${def.fields.length > 0 ? `fields: ${def.fields.join(', ')}` : 'no fields'})`;
    throw specInvalid(at, describeIssues(at, result.error.issues).map((l) => ({ ...l, message: `${l.message} ${context}` })));
  }
  // The schema looked up by `type` produced `data`, so together they form that type's config.
  return { ...result.data, type } as TypedLayerConfig;
}

function layerTypeOf(type: string, at: string): LayerType {
  if (isLayerType(type)) return type;
  try {
    lookup(LAYER_TYPES, type, 'layer type');
  } catch (error) {
    if (error instanceof EcomlError) throw new EcomlError(error.code, `${at}.type: ${error.message}`, { details: { ...error.details, path: `${at}.type` } });
    throw error;
  }
  throw new EcomlError('E_INTERNAL', `lookup accepted the unknown layer type "${type}"`);
}

/** Keras' layer naming: snake_case of the type (`maxPooling2d` → `max_pooling2d`). */
export function snakeCase(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/**
 * Layer names as Keras gives them (conv2d, dense, dense_1, …): every engine names its weights
 * `${layer}/${weight}` from these, so weights cross the engine seam by name.
 */
export function layerNames(layers: readonly TypedLayerConfig[]): string[] {
  const seen = new Map<string, number>();
  return layers.map((l) => {
    const base = snakeCase(l.type);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  });
}

/** Shape inference, parameter count and FLOPs for one validated layer. */
export function analyzeLayer(config: TypedLayerConfig, input: Shape, at: string): LayerAnalysis {
  return DEFS[config.type].analyze(input, config, at);
}
