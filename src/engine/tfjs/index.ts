/**
 * The reference engine: TensorFlow.js layers on the wasm backend, with ecoml's kernels.
 * @module
 */
import { EcomlError } from '../../errors.js';
import { defineSpec, modelProfile, resolveModelSpec } from '../../models/load.js';
import type { SpecInput } from '../../models/load.js';
import type { ModelSpec, SpecFile } from '../../models/spec.js';
import { checkDistillation } from '../distillation.js';
import type { CompileOptions, CompiledModel, Distillation, Engine } from '../types.js';
import { buildLayersModel, checkTrainable, compileLayersModel } from './build.js';
import { describeLayers } from './describe.js';
import { loadLayers } from './io.js';
import { TfjsModel } from './model.js';
import { initTfjs, tf } from './runtime.js';

export type { TfjsModel } from './model.js';
export { openTfjsInference } from './inference.js';
export { layersModelBytes } from './io.js';
/** tfjs's model type, for the TS API's `fromLayersModel`. */
export type LayersModel = tf.LayersModel;
/** The tfjs namespace ecoml runs on, handed to model builder functions. */
export type Tfjs = typeof tf;

function compiled(model: tf.LayersModel, spec: ModelSpec, distillation?: Distillation): TfjsModel {
  compileLayersModel(model, spec.compile);
  const profile = modelProfile(spec);
  return new TfjsModel(model, spec, profile.parameterCount, profile.flopsPerSample, distillation);
}

export class TfjsEngine implements Engine {
  readonly name = 'tfjs';

  ready(): Promise<void> {
    return initTfjs();
  }

  async compile(spec: ModelSpec, options: CompileOptions): Promise<CompiledModel> {
    await initTfjs();
    checkTrainable(spec);
    if (options.distillation !== undefined) checkDistillation(spec, options.distillation);
    return compiled(buildLayersModel(spec, options.seed), spec, options.distillation);
  }

  async load(dir: string, spec: ModelSpec): Promise<CompiledModel> {
    await initTfjs();
    const model = await loadLayers(dir);
    const input = model.inputs[0]?.shape.slice(1) ?? [];
    const output = model.outputs[0]?.shape.at(-1);
    const expectedOutput = spec.compile.loss === 'binary_crossentropy' ? 1 : spec.numClasses;
    if (input.length !== spec.input.length || input.some((d, i) => d !== spec.input[i]) || output !== expectedOutput) {
      model.dispose();
      throw new EcomlError(
        'E_MODEL_CORRUPT',
        `${dir}: the TF.js model maps [${input.join(', ')}] → ${output} but its spec says [${spec.input.join(', ')}] → ${expectedOutput}`,
        { details: { dir } },
      );
    }
    return compiled(model, spec);
  }

  liveTensors(): number {
    return tf.memory().numTensors;
  }
}

export function createTfjsEngine(): Engine {
  return new TfjsEngine();
}

/** How to train a user's own model: a name, the class count (default: the output width) and compile settings. */
export interface LayersModelOptions {
  readonly name?: string;
  readonly numClasses?: number;
  readonly compile?: SpecInput['compile'];
}

/**
 * Wraps a user's tf.LayersModel (or a function building one from ecoml's tfjs namespace) as a
 * CompiledModel, keeping its weights. The model must be a linear stack of standard layers; it is
 * described as an ecoml spec (returned too, for saving) and compiled with `options.compile`.
 */
export async function fromLayersModel(
  source: tf.LayersModel | ((tfjs: Tfjs) => tf.LayersModel | Promise<tf.LayersModel>),
  options: LayersModelOptions = {},
): Promise<{ compiled: CompiledModel; specFile: SpecFile }> {
  await initTfjs();
  const model = typeof source === 'function' ? await source(tf) : source;
  const { input, layers } = describeLayers(model);
  const loss = options.compile?.loss ?? 'sparse_categorical_crossentropy';
  const width = model.outputs[0]?.shape.at(-1);
  const numClasses = options.numClasses ?? (loss === 'binary_crossentropy' ? 2 : typeof width === 'number' ? width : undefined);
  const specFile = defineSpec({
    name: (options.name ?? model.name).replace(/[^A-Za-z0-9._-]/g, '_'),
    ...(numClasses !== undefined ? { numClasses } : {}),
    model: { input, layers },
    ...(options.compile !== undefined ? { compile: options.compile } : {}),
  });
  const spec = resolveModelSpec(specFile, {});
  const result = compiled(model, spec);
  if (result.parameterCount !== model.countParams()) {
    throw new EcomlError('E_SPEC_INVALID', `model ${model.name}: described with ${result.parameterCount} parameters but it has ${model.countParams()}`, {
      details: { described: result.parameterCount, actual: model.countParams() },
    });
  }
  return { compiled: result, specFile };
}
