/**
 * The declarative spec file (YAML or JSON): data, model, compile, train and tune sections.
 * This module validates the file's outer structure; each layer's own fields are validated by the
 * layer registry (layers.ts) once hyperparameter references are resolved.
 * @module
 */
import { z } from 'zod';

/** A reference to a tuned hyperparameter, usable as any layer field or optimizer learning rate. */
export const HpRefSchema = z.object({ hp: z.string().min(1) }).strict();
export type HpRef = z.infer<typeof HpRefSchema>;

const positiveInt = z.number().int().positive();

const hpValue = z.union([z.number(), z.string(), z.boolean()]);

/**
 * Keras Tuner's conditional scope: the parameter is active (drawn, and given to the model) only
 * while `parentName`, declared before it, takes one of `parentValues`.
 */
const condition = {
  parentName: z.string().min(1).optional(),
  parentValues: z.array(hpValue).min(1).optional(),
};

/** One hyperparameter of the search space (Keras Tuner's vocabulary). */
export const HyperparameterSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('int'),
      min: z.number().int(),
      max: z.number().int(),
      step: z.number().positive().optional(),
      sampling: z.enum(['linear', 'log', 'reverse_log']).default('linear'),
      default: z.number().int().optional(),
      ...condition,
    })
    .strict(),
  z
    .object({
      type: z.literal('float'),
      min: z.number(),
      max: z.number(),
      step: z.number().positive().optional(),
      sampling: z.enum(['linear', 'log', 'reverse_log']).default('linear'),
      default: z.number().optional(),
      ...condition,
    })
    .strict(),
  z
    .object({
      type: z.literal('choice'),
      values: z.array(hpValue).min(1),
      default: hpValue.optional(),
      ...condition,
    })
    .strict(),
  z.object({ type: z.literal('boolean'), default: z.boolean().optional(), ...condition }).strict(),
  z.object({ type: z.literal('fixed'), value: hpValue, ...condition }).strict(),
]);
export type Hyperparameter = z.infer<typeof HyperparameterSchema>;
export type HpValue = number | string | boolean;

export const DataSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('mnist') }).strict(),
  z
    .object({
      source: z.literal('idx'),
      trainImages: z.string(),
      trainLabels: z.string(),
      testImages: z.string().optional(),
      testLabels: z.string().optional(),
    })
    .strict(),
  z
    .object({
      source: z.literal('csv'),
      train: z.string(),
      test: z.string().optional(),
      labelColumn: z.string(),
    })
    .strict(),
]);

export const NormalizeSchema = z.enum(['scale', 'standardize', 'none']);

/** A layer before validation: its type plus fields, any of which may be an HpRef. */
export const RawLayerSchema = z.object({ type: z.string().min(1) }).catchall(z.unknown());
export type RawLayer = z.infer<typeof RawLayerSchema>;

export const OPTIMIZER_TYPES = ['adam', 'adamw', 'sgd', 'rmsprop'] as const;

export const OptimizerSchema = z
  .object({
    type: z.enum(OPTIMIZER_TYPES),
    learningRate: z.union([z.number().positive(), HpRefSchema]).optional(),
    momentum: z.number().min(0).max(1).optional(),
    nesterov: z.boolean().optional(),
    beta1: z.number().min(0).lt(1).optional(),
    beta2: z.number().min(0).lt(1).optional(),
    epsilon: z.number().positive().optional(),
    rho: z.number().min(0).lt(1).optional(),
    /** AdamW's decoupled decay per step, as a fraction of the learning rate (Keras' default 0.004). */
    weightDecay: z.number().min(0).optional(),
  })
  .strict()
  // Only AdamW decays: on another optimizer the field would be silently ignored.
  .refine((o) => o.weightDecay === undefined || o.type === 'adamw', { error: 'weightDecay applies to type adamw only', path: ['weightDecay'] });

/** An optimizer's numbers with Keras' defaults where the spec leaves them out. */
export interface OptimizerSettings {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly rho: number;
  readonly momentum: number;
  readonly weightDecay: number;
}

/** Keras' defaults, in one place: every engine takes its optimizer's numbers from here. */
export function optimizerSettings(o: ModelSpec['compile']['optimizer']): OptimizerSettings {
  return {
    learningRate: o.learningRate ?? (o.type === 'sgd' ? 0.01 : 0.001),
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    epsilon: o.epsilon ?? 1e-7,
    rho: o.rho ?? 0.9,
    momentum: o.momentum ?? 0,
    weightDecay: o.weightDecay ?? 0.004,
  };
}

/** Whether the optimizer takes Adam's steps (AdamW decays the weights first), with Adam's slots and β powers. */
export function isAdam(optimizer: { readonly type: z.infer<typeof OptimizerSchema>['type'] }): boolean {
  return optimizer.type === 'adam' || optimizer.type === 'adamw';
}

export const LossSchema = z.enum([
  'sparse_categorical_crossentropy',
  'categorical_crossentropy',
  'binary_crossentropy',
  'mean_squared_error',
  'mean_absolute_error',
]);

export const CompileSchema = z
  .object({
    optimizer: OptimizerSchema.default({ type: 'adam' }),
    loss: LossSchema.default('sparse_categorical_crossentropy'),
    metrics: z.array(z.enum(['accuracy'])).default(['accuracy']),
  })
  .strict();

export const EarlyStoppingSchema = z
  .object({
    monitor: z.enum(['loss', 'val_loss', 'accuracy', 'val_accuracy']).default('val_loss'),
    patience: z.number().int().nonnegative().default(0),
    minDelta: z.number().nonnegative().default(0),
  })
  .strict();

export const TrainSchema = z
  .object({
    epochs: positiveInt.default(10),
    batchSize: positiveInt.default(32),
    /** Fraction of the training set held out for validation; 0 = validate on the test split. */
    validationSplit: z.number().min(0).lt(1).default(0),
    earlyStopping: EarlyStoppingSchema.optional(),
    seed: z.number().int().nonnegative().default(42),
    shuffle: z.boolean().default(true),
  })
  .strict();

export const ObjectiveSchema = z
  .object({ name: z.string().min(1), direction: z.enum(['min', 'max']) })
  .strict();

export const TuneSchema = z
  .object({
    /** Absent: the default strategy (see workflows/tune.ts). */
    sampler: z.string().optional(),
    pruner: z.string().optional(),
    objective: ObjectiveSchema.default({ name: 'val_accuracy', direction: 'max' }),
    /** Several objectives (a Pareto front); replaces `objective` when given. */
    objectives: z.array(ObjectiveSchema).min(1).optional(),
    /** Bounds a trial must meet, e.g. "val_accuracy >= 0.985". */
    constraints: z.array(z.string()).optional(),
    maxTrials: positiveInt.default(10),
    executionsPerTrial: positiveInt.default(1),
    seed: z.number().int().nonnegative().optional(),
    space: z.record(z.string(), HyperparameterSchema),
  })
  .strict();

export const ModelSectionSchema = z
  .object({
    input: z.array(positiveInt).min(1),
    layers: z.array(RawLayerSchema).min(1),
  })
  .strict();

export const SpecFileSchema = z
  .object({
    name: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    description: z.string().optional(),
    data: DataSchema.default({ source: 'mnist' }),
    normalize: NormalizeSchema.default('scale'),
    numClasses: positiveInt.optional(),
    model: ModelSectionSchema,
    compile: CompileSchema.default({ optimizer: { type: 'adam' }, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] }),
    train: TrainSchema.default({ epochs: 10, batchSize: 32, validationSplit: 0, seed: 42, shuffle: true }),
    tune: TuneSchema.optional(),
  })
  .strict();

/** A whole spec file as validated: layers may still hold HpRefs. */
export type SpecFile = z.infer<typeof SpecFileSchema>;

/** A model spec with every hyperparameter resolved: what engines compile. */
export interface ModelSpec {
  readonly name: string;
  readonly input: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly LayerConfig[];
  readonly compile: {
    readonly optimizer: z.infer<typeof OptimizerSchema> & { readonly learningRate?: number };
    readonly loss: z.infer<typeof LossSchema>;
    readonly metrics: readonly 'accuracy'[];
  };
}

/** A validated layer with concrete values (see layers.ts for each type's fields). */
export type LayerConfig = { readonly type: string } & Readonly<Record<string, unknown>>;
