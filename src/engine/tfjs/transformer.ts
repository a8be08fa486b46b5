/**
 * keras_hub's transformer layers, which tfjs-layers lacks: custom layers written with tf ops (so
 * tfjs's autograd gives their gradients) and registered for serialization, so saved TF.js model
 * directories load back. Their weights are named and shaped as layers.ts lists them, op for op as
 * the onnx engine computes them.
 * @module
 */
import { type Activation, type SublayerWeight, tokenAndPositionWeights, transformerEncoderWeights } from '../../models/layers.js';
import { mixSeed } from '../../util/random.js';
import { tf } from './runtime.js';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Shape = (number | null)[];

/** Keras' uniform start for token embeddings, as the `embedding` layer's: ±0.05. */
const TOKEN_EMBEDDING_LIMIT = 0.05;

function oneTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
}

function oneShape(shape: tf.Shape | tf.Shape[]): Shape {
  return (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
}

/** Seeded starts (one derived seed per weight, so equal shapes start apart), unseeded without a seed. */
function seeded(seed: number | undefined, index: number): { seed?: number } {
  return seed === undefined ? {} : { seed: mixSeed(seed, index) };
}

/** Adds `weights` to `layer` with Keras' starts: glorot-uniform kernels and position embeddings, zero biases and betas, unit gammas. */
function addWeights(layer: WeightOwner, weights: readonly SublayerWeight[], seed: number | undefined): Map<string, tf.LayerVariable> {
  return new Map(
    weights.map((w, i) => {
      const role = w.name.slice(w.name.lastIndexOf('/') + 1);
      const initializer =
        role === 'bias' || role === 'beta'
          ? tf.initializers.zeros()
          : role === 'gamma'
            ? tf.initializers.ones()
            : w.name.startsWith('token_embedding/')
              ? tf.initializers.randomUniform({ minval: -TOKEN_EMBEDDING_LIMIT, maxval: TOKEN_EMBEDDING_LIMIT, ...seeded(seed, i) })
              : tf.initializers.glorotUniform(seeded(seed, i));
      return [w.name, layer.addOwnWeight(w.name, [...w.shape], initializer)] as const;
    }),
  );
}

/** A layer that lets `addWeights` reach its protected addWeight. */
abstract class WeightOwner extends tf.layers.Layer {
  addOwnWeight(name: string, shape: number[], initializer: ReturnType<typeof tf.initializers.zeros>): tf.LayerVariable {
    return this.addWeight(name, shape, 'float32', initializer);
  }
}

function read(weights: ReadonlyMap<string, tf.LayerVariable>, name: string): tf.Tensor {
  return (weights.get(name) as tf.LayerVariable).read();
}

export interface PositionEmbeddingArgs extends LayerArgs {
  /** Seeds the embeddings' start. */
  readonly initializerSeed?: number;
}

/** keras_hub's PositionEmbedding: a learned [steps, dim] table added to every sample. */
export class PositionEmbedding extends WeightOwner {
  static readonly className = 'PositionEmbedding';
  private readonly initializerSeed: number | undefined;
  private table: tf.LayerVariable | undefined;

  constructor(args: PositionEmbeddingArgs) {
    super(args);
    this.initializerSeed = args.initializerSeed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [, steps, dim] = oneShape(inputShape) as [null, number, number];
    this.table = this.addOwnWeight('embeddings', [steps, dim], tf.initializers.glorotUniform(seeded(this.initializerSeed, 0)));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.add(oneTensor(inputs), (this.table as tf.LayerVariable).read()));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...(this.initializerSeed !== undefined ? { initializerSeed: this.initializerSeed } : {}) };
  }
}

export interface TokenAndPositionEmbeddingArgs extends PositionEmbeddingArgs {
  readonly inputDim: number;
  readonly outputDim: number;
}

/** keras_hub's TokenAndPositionEmbedding: token ids [steps] → token embeddings + position embeddings. */
export class TokenAndPositionEmbedding extends WeightOwner {
  static readonly className = 'TokenAndPositionEmbedding';
  private readonly inputDim: number;
  private readonly outputDim: number;
  private readonly initializerSeed: number | undefined;
  private weightsByName = new Map<string, tf.LayerVariable>();

  constructor(args: TokenAndPositionEmbeddingArgs) {
    super(args);
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
    this.initializerSeed = args.initializerSeed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const steps = oneShape(inputShape)[1] as number;
    this.weightsByName = addWeights(this, tokenAndPositionWeights(steps, this.inputDim, this.outputDim), this.initializerSeed);
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...oneShape(inputShape), this.outputDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      // As tfjs's Embedding: ids arrive as floats and are truncated to integers.
      const ids = tf.cast(oneTensor(inputs), 'int32');
      return tf.add(tf.gather(read(this.weightsByName, 'token_embedding/embeddings'), ids), read(this.weightsByName, 'position_embedding/embeddings'));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      inputDim: this.inputDim,
      outputDim: this.outputDim,
      ...(this.initializerSeed !== undefined ? { initializerSeed: this.initializerSeed } : {}),
    };
  }
}

export interface TransformerEncoderArgs extends LayerArgs {
  readonly numHeads: number;
  readonly intermediateDim: number;
  readonly dropout: number;
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly normalizeFirst: boolean;
  /** Seeds the dropout masks (reseeded per step by TfjsModel, as Dropout's seed is). */
  readonly seed?: number;
  /** Seeds the weights' starts. */
  readonly initializerSeed?: number;
}

/** Which residual branch a dropout mask drops, so the two draw independent masks. */
const DROPOUT_SITE = { attention: 1, feedforward: 2 } as const;

/**
 * keras_hub's TransformerEncoder: multi-head self-attention and a two-layer feed-forward block,
 * each a residual branch with dropout, layer-normalized after the residual add (or before the
 * branch with normalizeFirst). Dropout on the attention probabilities is left out.
 */
export class TransformerEncoder extends WeightOwner {
  static readonly className = 'TransformerEncoder';
  private readonly numHeads: number;
  private readonly intermediateDim: number;
  private readonly dropout: number;
  private readonly activationName: Activation;
  private readonly activation: tf.layers.Layer;
  private readonly layerNormEpsilon: number;
  private readonly normalizeFirst: boolean;
  private readonly initializerSeed: number | undefined;
  /** Read at every call: TfjsModel reseeds it per step. */
  seed: number | undefined;
  private weightsByName = new Map<string, tf.LayerVariable>();

  constructor(args: TransformerEncoderArgs) {
    super(args);
    this.numHeads = args.numHeads;
    this.intermediateDim = args.intermediateDim;
    this.dropout = args.dropout;
    this.activationName = args.activation;
    this.activation = tf.layers.activation({ activation: args.activation });
    this.layerNormEpsilon = args.layerNormEpsilon;
    this.normalizeFirst = args.normalizeFirst;
    this.seed = args.seed;
    this.initializerSeed = args.initializerSeed;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const dim = oneShape(inputShape)[2] as number;
    this.weightsByName = addWeights(this, transformerEncoderWeights(dim, this.intermediateDim), this.initializerSeed);
    this.built = true;
  }

  /** A dense sublayer over the last axis (no activation). */
  private dense(x: tf.Tensor, name: string): tf.Tensor {
    const kernel = read(this.weightsByName, `${name}/kernel`);
    const [fanIn, units] = kernel.shape as [number, number];
    const rows = tf.matMul(tf.reshape(x, [-1, fanIn]), kernel);
    return tf.add(tf.reshape(rows, [...x.shape.slice(0, -1), units]), read(this.weightsByName, `${name}/bias`));
  }

  /** (x − mean) / √(variance + ε) · gamma + beta over the last axis. */
  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.layerNormEpsilon)));
    return tf.add(tf.mul(normalized, read(this.weightsByName, `${name}/gamma`)), read(this.weightsByName, `${name}/beta`));
  }

  /** Scaled dot-product attention of every head over the sequence, then the output projection. */
  private selfAttention(x: tf.Tensor): tf.Tensor {
    const [n, steps, dim] = x.shape as [number, number, number];
    const headDim = dim / this.numHeads;
    const heads = (t: tf.Tensor, perm: number[]): tf.Tensor => tf.transpose(tf.reshape(t, [n, steps, this.numHeads, headDim]), perm);
    // As Keras: the query is scaled before its product with the keys.
    const query = tf.mul(heads(this.dense(x, 'query'), [0, 2, 1, 3]), tf.scalar(1 / Math.sqrt(headDim)));
    const keys = heads(this.dense(x, 'key'), [0, 2, 3, 1]);
    const values = heads(this.dense(x, 'value'), [0, 2, 1, 3]);
    const attended = tf.matMul(tf.softmax(tf.matMul(query, keys)), values);
    return this.dense(tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [n, steps, dim]), 'attention_output');
  }

  private feedForward(x: tf.Tensor): tf.Tensor {
    return this.dense(this.activation.apply(this.dense(x, 'feedforward_intermediate_dense')) as tf.Tensor, 'feedforward_output_dense');
  }

  /** x + dropout(branch(x)), normalized before the branch or after the sum. */
  private residual(x: tf.Tensor, norm: string, site: keyof typeof DROPOUT_SITE, training: boolean, branch: (t: tf.Tensor) => tf.Tensor): tf.Tensor {
    let y = branch(this.normalizeFirst ? this.layerNorm(x, norm) : x);
    if (training && this.dropout > 0) y = tf.dropout(y, this.dropout, undefined, this.seed === undefined ? undefined : mixSeed(this.seed, DROPOUT_SITE[site]));
    const sum = tf.add(x, y);
    return this.normalizeFirst ? sum : this.layerNorm(sum, norm);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const training = kwargs.training === true;
    return tf.tidy(() => {
      const attended = this.residual(oneTensor(inputs), 'self_attention_layer_norm', 'attention', training, (t) => this.selfAttention(t));
      return this.residual(attended, 'feedforward_layer_norm', 'feedforward', training, (t) => this.feedForward(t));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      intermediateDim: this.intermediateDim,
      dropout: this.dropout,
      activation: this.activationName,
      layerNormEpsilon: this.layerNormEpsilon,
      normalizeFirst: this.normalizeFirst,
      ...(this.seed !== undefined ? { seed: this.seed } : {}),
      ...(this.initializerSeed !== undefined ? { initializerSeed: this.initializerSeed } : {}),
    };
  }
}

for (const layer of [PositionEmbedding, TokenAndPositionEmbedding, TransformerEncoder]) tf.serialization.registerClass(layer);
