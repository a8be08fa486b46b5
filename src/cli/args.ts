/**
 * Typed readers for parsed option values: every flag is validated here, at the boundary, with an
 * E_CONFIG_INVALID naming the flag.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { OptionValues } from './command.js';

export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new EcomlError('E_CONFIG_INVALID', `--${name} needs a value`);
  return v;
}

export function numberOption(
  values: OptionValues,
  name: string,
  rule: { integer?: boolean; min?: number; max?: number; exclusiveMax?: boolean } = {},
): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const bad = (why: string): EcomlError => new EcomlError('E_CONFIG_INVALID', `--${name} ${why}, got "${raw}"`, { details: { option: name, value: raw } });
  if (raw.trim() === '' || !Number.isFinite(n)) throw bad('must be a number');
  if (rule.integer && !Number.isInteger(n)) throw bad('must be an integer');
  if (rule.min !== undefined && n < rule.min) throw bad(`must be ≥ ${rule.min}`);
  if (rule.max !== undefined && (rule.exclusiveMax ? n >= rule.max : n > rule.max)) throw bad(`must be ${rule.exclusiveMax ? '<' : '≤'} ${rule.max}`);
  return n;
}

export function booleanOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

export function requirePositional(positionals: readonly string[], index: number, name: string): string {
  const v = positionals[index];
  if (v === undefined) throw new EcomlError('E_CONFIG_INVALID', `missing ${name} (see --help)`);
  return v;
}
