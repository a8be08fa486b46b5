/**
 * Moving a model between engines: every engine names and shapes weights the tfjs way (layouts are
 * converted inside each engine), so a compile plus setWeights carries a model across exactly.
 * @module
 */
import type { CompiledModel, Engine } from '../engine/types.js';

/** `model` itself when it already runs on `target`; otherwise a new model there with the same weights. */
export async function moveToEngine(model: CompiledModel, target: Engine, seed: number): Promise<CompiledModel> {
  if (model.engine === target.name) return model;
  const moved = await target.compile(model.spec, { seed });
  moved.setWeights(await model.getWeights());
  return moved;
}
