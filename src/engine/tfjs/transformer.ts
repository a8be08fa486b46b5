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

export interface ComposedLayerArgs extends LayerArgs {
  /** Seeds the weights' starts. */
  readonly initializerSeed?: number;
}

/**
 * A layer whose weights are its sublayers' (named as layers.ts lists them), started as Keras
 * starts them from `initializerSeed`, which it serializes.
 */
abstract class ComposedLayer extends tf.layers.Layer {
  private readonly initializerSeed: number | undefined;
  private weightsByName = new Map<string, tf.LayerVariable>();

  constructor(args: ComposedLayerArgs) {
    super(args);
    this.initializerSeed = args.initializerSeed;
  }

  /**
   * Adds `weights`: glorot-uniform kernels and position embeddings, token embeddings uniform in
   * ±0.05, zero biases and betas, unit gammas; one derived seed each, so equal shapes start apart.
   */
  protected addSublayerWeights(weights: readonly SublayerWeight[]): void {
    this.weightsByName = new Map(
      weights.map((w, i) => {
        const role = w.name.slice(w.name.lastIndexOf('/') + 1);
        const seed = this.initializerSeed === undefined ? {} : { seed: mixSeed(this.initializerSeed, i) };
        const initializer =
          role === 'bias' || role === 'beta'
            ? tf.initializers.zeros()
            : role === 'gamma'
              ? tf.initializers.ones()
              : w.name.startsWith('token_embedding/')
                ? tf.initializers.randomUniform({ minval: -TOKEN_EMBEDDING_LIMIT, maxval: TOKEN_EMBEDDING_LIMIT, ...seed })
                : tf.initializers.glorotUniform(seed);
        return [w.name, this.addWeight(w.name, [...w.shape], 'float32', initializer)] as const;
      }),
    );
    this.built = true;
  }

  /** The current value of the weight named `name` (relative to the layer). */
  protected weightValue(name: string): tf.Tensor {
    return (this.weightsByName.get(name) as tf.LayerVariable).read();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...(this.initializerSeed !== undefined ? { initializerSeed: this.initializerSeed } : {}) };
  }
}

/** keras_hub's PositionEmbedding: a learned [steps, dim] table added to every sample. */
export class PositionEmbedding extends ComposedLayer {
  static readonly className = 'PositionEmbedding';

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [, steps, dim] = oneShape(inputShape) as [null, number, number];
    this.addSublayerWeights([{ name: 'embeddings', shape: [steps, dim] }]);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.add(oneTensor(inputs), this.weightValue('embeddings')));
  }
}

export interface TokenAndPositionEmbeddingArgs extends ComposedLayerArgs {
  readonly inputDim: number;
  readonly outputDim: number;
}

/** keras_hub's TokenAndPositionEmbedding: token ids [steps] → token embeddings + position embeddings. */
export class TokenAndPositionEmbedding extends ComposedLayer {
  static readonly className = 'TokenAndPositionEmbedding';
  private readonly inputDim: number;
  private readonly outputDim: number;

  constructor(args: TokenAndPositionEmbeddingArgs) {
    super(args);
    this.inputDim = args.inputDim;
    this.outputDim = args.outputDim;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    this.addSublayerWeights(tokenAndPositionWeights(oneShape(inputShape)[1] as number, this.inputDim, this.outputDim));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return [...oneShape(inputShape), this.outputDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      // As tfjs's Embedding: ids arrive as floats and are truncated to integers.
      const ids = tf.cast(oneTensor(inputs), 'int32');
      return tf.add(tf.gather(this.weightValue('token_embedding/embeddings'), ids), this.weightValue('position_embedding/embeddings'));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inputDim: this.inputDim, outputDim: this.outputDim };
  }
}

export interface TransformerEncoderArgs extends ComposedLayerArgs {
  readonly numHeads: number;
  readonly intermediateDim: number;
  readonly dropout: number;
  readonly activation: Activation;
  readonly layerNormEpsilon: number;
  readonly normalizeFirst: boolean;
  /** Seeds the dropout masks (reseeded per step by TfjsModel, as Dropout's seed is). */
  readonly seed?: number;
}

/** Which residual branch a dropout mask drops, so the two draw independent masks. */
const DROPOUT_SITE = { attention: 1, feedforward: 2 } as const;

/**
 * keras_hub's TransformerEncoder: multi-head self-attention and a two-layer feed-forward block,
 * each a residual branch with dropout, layer-normalized after the residual add (or before the
 * branch with normalizeFirst). Dropout on the attention probabilities is left out.
 */
export class TransformerEncoder extends ComposedLayer {
  static readonly className = 'TransformerEncoder';
  private readonly numHeads: number;
  private readonly intermediateDim: number;
  private readonly dropout: number;
  private readonly activationName: Activation;
  private readonly activation: tf.layers.Layer;
  private readonly layerNormEpsilon: number;
  private readonly normalizeFirst: boolean;
  /** Read at every call: TfjsModel reseeds it per step. */
  seed: number | undefined;

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
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    this.addSublayerWeights(transformerEncoderWeights(oneShape(inputShape)[2] as number, this.intermediateDim));
  }

  /** A dense sublayer over the last axis (no activation). */
  private dense(x: tf.Tensor, name: string): tf.Tensor {
    const kernel = this.weightValue(`${name}/kernel`);
    const [fanIn, units] = kernel.shape as [number, number];
    const rows = tf.matMul(tf.reshape(x, [-1, fanIn]), kernel);
    return tf.add(tf.reshape(rows, [...x.shape.slice(0, -1), units]), this.weightValue(`${name}/bias`));
  }

  /** (x − mean) / √(variance + ε) · gamma + beta over the last axis. */
  private layerNorm(x: tf.Tensor, name: string): tf.Tensor {
    const { mean, variance } = tf.moments(x, -1, true);
    const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.layerNormEpsilon)));
    return tf.add(tf.mul(normalized, this.weightValue(`${name}/gamma`)), this.weightValue(`${name}/beta`));
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
    };
  }
}

for (const layer of [PositionEmbedding, TokenAndPositionEmbedding, TransformerEncoder]) tf.serialization.registerClass(layer);
