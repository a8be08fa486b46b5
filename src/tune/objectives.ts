/**
 * Objectives and constraints as people write them: `val_accuracy`, `joules:min`,
 * `val_accuracy >= 0.985`. Directions follow Keras Tuner's inference when not given: metrics
 * that grow when the model gets better (accuracy, AUC, precision, recall) are maximised, the rest
 * (losses, errors, joules, CO2e, latency, size, parameters) minimised.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { Constraint, Direction, Objective } from './trial.js';

/**
 * Trial-level objectives a tuning trial can be scored on besides its epoch metrics, with units in
 * their names.
 */
export const TRIAL_OBJECTIVES = ['joules', 'kg_co2e', 'latency_ms', 'size_bytes', 'params'] as const;

const MAXIMISED = /(^|_)(acc|accuracy|auc|precision|recall|f1)$/;

export function inferDirection(metric: string): Direction {
  return MAXIMISED.test(metric) ? 'max' : 'min';
}

/** `name` or `name:min|max`. */
export function parseObjective(text: string): Objective {
  const match = /^\s*([A-Za-z_][\w.]*)\s*(?::\s*(min|max))?\s*$/.exec(text);
  if (match === null) {
    throw new EcomlError('E_CONFIG_INVALID', `objective "${text}" is not "name" or "name:min|max" (e.g. val_accuracy:max, joules:min)`, { details: { objective: text } });
  }
  const name = match[1] as string;
  return { name, direction: (match[2] as Direction | undefined) ?? inferDirection(name) };
}

/** `name >= bound` or `name <= bound`. */
export function parseConstraint(text: string): Constraint {
  const match = /^\s*([A-Za-z_][\w.]*)\s*(>=|<=)\s*(\S+)\s*$/.exec(text);
  const bound = match === null ? Number.NaN : Number(match[3]);
  if (match === null || !Number.isFinite(bound)) {
    throw new EcomlError('E_CONFIG_INVALID', `constraint "${text}" is not "name >= number" or "name <= number" (e.g. val_accuracy >= 0.985)`, { details: { constraint: text } });
  }
  return { name: match[1] as string, op: match[2] as Constraint['op'], bound };
}
