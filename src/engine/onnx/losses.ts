/**
 * The losses, each in both its forms: in the training graph (the batch's mean loss and count of
 * correct predictions, against targets built in-graph from the class ids as the tfjs engine feeds
 * them) and on the host (one sample's loss from its class probabilities, for evaluate). Each also
 * names the last layer it takes and how that layer's output becomes class probabilities.
 * @module
 */
import type { TypedLayerConfig } from '../../models/layers.js';
import type { ModelSpec } from '../../models/spec.js';
import { EPSILON, PROBABILITY_FLOOR } from '../distillation.js';
import type { Distillation } from '../types.js';
import type { Graph, Value } from './graph.js';

/** Keras clips probabilities to [ε, 1 − ε] before a log. */
function clip(p: number): number {
  return Math.min(Math.max(p, EPSILON), 1 - EPSILON);
}

/** The last layer a loss takes, and its output as class probabilities. */
interface Head {
  takes(l: TypedLayerConfig): boolean;
  /** What the onnx engine refuses otherwise. */
  readonly refusal: string;
  probabilities(g: Graph, logits: Value): Value;
}

const SOFTMAX: Head = {
  takes: (l) => l.type === 'dense' && l.activation === 'softmax',
  refusal: 'a last layer other than dense with softmax',
  probabilities: (g, logits) => g.softmax(logits),
};

/** One sigmoid unit, reported per class as [1 − p, p] as the tfjs engine reports it. */
const SIGMOID: Head = {
  takes: (l) => l.type === 'dense' && l.units === 1 && l.activation === 'sigmoid',
  refusal: 'binary_crossentropy with a last layer other than one dense unit with sigmoid',
  probabilities: (g, logits) => {
    const p = g.unary('Sigmoid', logits);
    return g.concat([g.sub(g.scalar(1), p), p], 1);
  },
};

export interface OnnxLoss {
  readonly head: Head;
  /** The batch's mean loss and its count of correct predictions; `batch` is the batch size as a float. */
  graph(g: Graph, logits: Value, labels: Value, classes: number, batch: () => Value): { loss: Value; correct: Value };
  /** One sample's loss from its class probabilities `row`, against the targets the tfjs engine feeds. */
  sample(row: Float32Array, label: number): number;
}

/**
 * tfjs, op for op: the probabilities renormalized by their sum and clipped to [ε, 1 − ε] before
 * the log, so a sample predicted with p < ε (or > 1 − ε) for its class counts −log ε (or
 * −log(1 − ε)) and passes no gradient. Accuracy: argmax against the label.
 */
const crossentropy: OnnxLoss = {
  head: SOFTMAX,
  graph: (g, logits, labels, classes, batch) => {
    const p = g.softmax(logits);
    const clipped = g.clip(g.div(p, g.reduceSum(p, [1], true)), EPSILON, 1 - EPSILON);
    const ce = g.reduceSum(g.mul(g.oneHot(labels, classes), g.unary('Log', clipped)), [0, 1], false);
    return { loss: g.unary('Neg', g.div(ce, batch())), correct: g.countCorrect(logits, labels) };
  },
  sample: (row, label) => -Math.log(clip(row[label] as number)),
};

/** The mean over classes of the squared or absolute error against one-hot rows. */
function meanError(squared: boolean): OnnxLoss {
  return {
    head: SOFTMAX,
    graph: (g, logits, labels, classes, batch) => {
      const diff = g.sub(g.softmax(logits), g.oneHot(labels, classes));
      const err = squared ? g.mul(diff, diff) : g.unary('Abs', diff);
      return { loss: g.div(g.reduceSum(err, [0, 1], false), g.mul(batch(), g.scalar(classes))), correct: g.countCorrect(logits, labels) };
    },
    sample: (row, label) => {
      let sum = 0;
      row.forEach((p, c) => {
        const d = p - (c === label ? 1 : 0);
        sum += squared ? d * d : Math.abs(d);
      });
      return sum / row.length;
    },
  };
}

/** Against one 0/1 column; accuracy is p > 0.5 against it, as tfjs's. */
const binaryCrossentropy: OnnxLoss = {
  head: SIGMOID,
  graph: (g, logits, labels, _classes, batch) => {
    const target = g.reshape(g.toFloat(labels), [-1, 1]);
    const p = g.unary('Sigmoid', logits);
    // tfjs, op for op: clip p to [ε, 1 − ε], turn it back into a logit z, then the stable
    // sigmoid cross-entropy max(z, 0) − z·y + log(1 + e^−|z|); the clip zeroes saturated gradients.
    const clipped = g.clip(p, EPSILON, 1 - EPSILON);
    const z = g.unary('Log', g.div(clipped, g.sub(g.scalar(1), clipped)));
    const softplus = g.unary('Log', g.add(g.scalar(1), g.unary('Exp', g.unary('Neg', g.unary('Abs', z)))));
    const ce = g.add(g.sub(g.unary('Relu', z), g.mul(z, target)), softplus);
    const hits = g.toFloat(g.compare('Equal', g.toFloat(g.compare('Greater', p, g.scalar(0.5))), target));
    return { loss: g.div(g.reduceSum(ce, [0, 1], false), batch()), correct: g.reduceSum(hits, [0, 1], false) };
  },
  sample: (row, label) => {
    // The row is [1 − p, p] for one sigmoid unit; the target is the label as 0 or 1.
    const p = clip(row[1] as number);
    return -(label * Math.log(p) + (1 - label) * Math.log(1 - p));
  },
};

export const LOSSES: { readonly [L in ModelSpec['compile']['loss']]: OnnxLoss } = {
  sparse_categorical_crossentropy: crossentropy,
  categorical_crossentropy: crossentropy,
  mean_squared_error: meanError(true),
  mean_absolute_error: meanError(false),
  binary_crossentropy: binaryCrossentropy,
};

/**
 * The distillation objective (distillation.ts) around the batch's mean hard-label loss `hard`:
 * α · hard + (1 − α) · T² · the batch's mean KL from the teacher's softened probabilities
 * (`teacher`, [batch, classes]) to the student's softened logits. The teacher's side is built from
 * inputs alone, so it gets no gradient; the clips are Keras' KLDivergence's.
 */
export function distillationLoss(g: Graph, hard: Value, logits: Value, teacher: Value, d: Distillation, batch: () => Value): Value {
  const t = g.scalar(d.temperature);
  const soft = (z: Value): Value => g.clip(g.softmax(g.div(z, t)), EPSILON, 1);
  const q = soft(g.unary('Log', g.clip(teacher, PROBABILITY_FLOOR, 1)));
  const kl = g.reduceSum(g.mul(q, g.unary('Log', g.div(q, soft(logits)))), [0, 1], false);
  return g.add(g.mul(hard, g.scalar(d.alpha)), g.mul(g.div(kl, batch()), g.scalar((1 - d.alpha) * d.temperature ** 2)));
}
