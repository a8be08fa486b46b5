/**
 * A request's tensors checked against the model's signature before anything runs: every input
 * present and no other, datatypes equal, ranks equal and every fixed dimension matched, outputs
 * known. Each failure is E_REQUEST_INVALID (400) saying what the model takes.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { Signature, TensorSignature } from './runtimes/runtime.js';
import type { Tensor } from './tensors.js';

function invalid(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError('E_REQUEST_INVALID', message, { details });
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function findInput(signature: Signature, name: string): TensorSignature {
  const input = signature.inputs.find((i) => i.name === name);
  if (input === undefined) {
    throw invalid(`the model has no input "${name}"; its inputs: ${signature.inputs.map((i) => i.name).join(', ')}`, { input: name, valid: signature.inputs.map((i) => i.name) });
  }
  return input;
}

/** Does `shape` fit the declared one (-1 takes any size)? */
export function shapeFits(shape: readonly number[], declared: readonly number[]): boolean {
  return shape.length === declared.length && declared.every((d, i) => d < 0 || d === shape[i]);
}

export function checkInputs(signature: Signature, inputs: ReadonlyMap<string, Tensor>): void {
  for (const [name, tensor] of inputs) {
    const spec = findInput(signature, name);
    if (tensor.datatype !== spec.datatype) {
      throw invalid(`input "${name}" is ${tensor.datatype}, but the model takes ${spec.datatype}`, { input: name, datatype: tensor.datatype, expected: spec.datatype });
    }
    if (!shapeFits(tensor.shape, spec.shape)) {
      throw invalid(`input "${name}" has shape ${formatShape(tensor.shape)}, but the model takes ${formatShape(spec.shape)} (-1: any size)`, {
        input: name,
        shape: [...tensor.shape],
        expected: [...spec.shape],
      });
    }
  }
  const missing = signature.inputs.filter((i) => !inputs.has(i.name));
  if (missing.length > 0) {
    throw invalid(`missing input${missing.length > 1 ? 's' : ''} ${missing.map((i) => `"${i.name}" ${i.datatype} ${formatShape(i.shape)}`).join(', ')}`, { missing: missing.map((i) => i.name) });
  }
}

/** The outputs a request names, checked; all of the model's when it names none. */
export function checkOutputs(signature: Signature, names: readonly string[] | undefined): string[] {
  if (names === undefined || names.length === 0) return signature.outputs.map((o) => o.name);
  const seen = new Set<string>();
  for (const name of names) {
    if (!signature.outputs.some((o) => o.name === name)) {
      throw invalid(`the model has no output "${name}"; its outputs: ${signature.outputs.map((o) => o.name).join(', ')}`, { output: name, valid: signature.outputs.map((o) => o.name) });
    }
    if (seen.has(name)) throw invalid(`output "${name}" is requested twice`, { output: name });
    seen.add(name);
  }
  return names.slice();
}
