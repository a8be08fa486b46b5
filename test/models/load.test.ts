import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { defaultHpValues, defineSpec, loadSpecFile, modelProfile, parseSpecText, resolveModelSpec } from '../../src/models/index.js';
import type { SpecFile } from '../../src/models/index.js';

const examples = new URL('../../examples/', import.meta.url).pathname;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecoml-spec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function specError(text: string, name = 'spec.yaml'): Promise<EcomlError> {
  const path = join(dir, name);
  await writeFile(path, text);
  const error = await loadSpecFile(path).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(EcomlError);
  return error as EcomlError;
}

const RECIPE = `
name: recipe
model:
  input: [28, 28, 1]
  layers:
    - {type: conv2d, filters: 32, kernelSize: 3, activation: relu}
    - {type: flatten}
    - {type: dense, units: 10, activation: softmax}
`;

describe('loadSpecFile', () => {
  it('loads every example and resolves it with its default hyperparameters', async () => {
    for (const name of ['mnist-cnn', 'mnist-cnn-tune', 'mnist-cnn-tune-energy', 'mnist-lstm', 'mnist-transformer']) {
      const file = await loadSpecFile(join(examples, `${name}.yaml`));
      const spec = resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: 10 });
      expect(spec.numClasses).toBe(10);
      expect(modelProfile(spec).layers.at(-1)?.outputShape).toEqual([10]);
    }
  });

  it('profiles the recipe: 216,650 parameters, conv 320 + dense 216,330', async () => {
    const file = await loadSpecFile(join(examples, 'mnist-cnn.yaml'));
    const profile = modelProfile(resolveModelSpec(file, {}, { numClasses: 10 }));
    expect(profile.parameterCount).toBe(216_650);
    expect(profile.layers.map((l) => [l.type, l.outputShape, l.params])).toEqual([
      ['conv2d', [26, 26, 32], 320],
      ['flatten', [21632], 0],
      ['dense', [10], 216_330],
    ]);
    // conv: 2·3·3·1·32·26·26 + 26·26·32 bias adds; dense: 2·21632·10 + 10.
    expect(profile.layers.map((l) => l.flops)).toEqual([389_376 + 21_632, 0, 432_640 + 10]);
    expect(profile.flopsPerSample).toBe(843_658);
  });

  it('reads JSON specs', async () => {
    const path = join(dir, 'spec.json');
    await writeFile(path, JSON.stringify({ name: 'j', numClasses: 2, model: { input: [3], layers: [{ type: 'dense', units: 2 }] } }));
    const file = await loadSpecFile(path);
    expect(file.model.layers).toEqual([{ type: 'dense', units: 2 }]);
    expect(file.compile.optimizer.type).toBe('adam');
  });

  it('reports a missing file as E_FILE_NOT_FOUND', async () => {
    await expect(loadSpecFile(join(dir, 'nope.yaml'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });

  it('reports YAML syntax errors with their line', async () => {
    const error = await specError('name: x\nmodel:\n  input: [28, 28\n  layers: []\n');
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toMatch(/spec\.yaml:\d+:\d+: YAML syntax error/);
    expect(error.details.line).toBeGreaterThanOrEqual(3);
  });

  it('reports JSON syntax errors with their line', async () => {
    const error = await specError('{\n  "name": "x",\n  "model": {,}\n}', 'bad.json');
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toContain('bad.json:3:');
  });

  it('lists the valid layer types for an unknown one', async () => {
    const error = await specError(RECIPE.replace('type: flatten', 'type: flaten'));
    expect(error.code).toBe('E_UNKNOWN_NAME');
    expect(error.message).toContain('model.layers[1].type: unknown layer type "flaten"');
    expect(error.details.valid).toEqual(expect.arrayContaining(['flatten', 'conv2d', 'lstm', 'bidirectional']));
  });

  it('names the bad field with its path and the value given', async () => {
    const error = await specError(RECIPE.replace('units: 10', 'units: "x"'));
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toContain('model.layers[2].units: expected a positive integer, got "x"');
    expect(error.message).toContain('layer type dense');
  });

  it('takes weightDecay for adamw only', async () => {
    const text = (type: string): string => `${RECIPE}compile:\n  optimizer: {type: ${type}, weightDecay: 0.01}\n`;
    expect(parseSpecText(text('adamw'), 'spec.yaml', 'yaml').compile.optimizer).toEqual({ type: 'adamw', weightDecay: 0.01 });
    const error = await specError(text('adam'));
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toContain('compile.optimizer.weightDecay: weightDecay applies to type adamw only');
  });

  it('rejects unknown layer fields', async () => {
    const error = await specError(RECIPE.replace('filters: 32', 'filters: 32, kernel: 3'));
    expect(error.message).toContain('model.layers[0]: unknown field "kernel"');
  });

  it('names the field of an unknown hyperparameter reference', async () => {
    const text = `${RECIPE.replace('units: 10', 'units: {hp: unitz}')}
tune:
  space:
    units: {type: int, min: 8, max: 16}
`;
    const error = await specError(text);
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toContain('model.layers[2].units: hyperparameter "unitz" is not in tune.space (defined: units)');
  });

  it('rejects a hyperparameter reference without a tune section', async () => {
    const error = await specError(RECIPE.replace('filters: 32', 'filters: {hp: filters}'));
    expect(error.message).toContain('the spec has no tune.space');
  });

  it('checks shapes when it loads: a kernel larger than its input', async () => {
    const error = await specError(RECIPE.replace('input: [28, 28, 1]', 'input: [2, 2, 1]'));
    expect(error.code).toBe('E_SHAPE_MISMATCH');
    expect(error.message).toContain('model.layers[0] (conv2d)');
  });

  it('checks the stated class count against the last layer', async () => {
    const error = await specError(`numClasses: 3\n${RECIPE}`);
    expect(error.code).toBe('E_SHAPE_MISMATCH');
    expect(error.message).toContain('the last layer needs 3 units');
  });
});

describe('defaultHpValues', () => {
  it('takes Keras Tuner defaults', () => {
    expect(
      defaultHpValues({
        a: { type: 'int', min: 32, max: 256, step: 32, sampling: 'linear' },
        b: { type: 'int', min: 1, max: 9, sampling: 'linear', default: 4 },
        c: { type: 'float', min: 0.001, max: 0.1, sampling: 'log' },
        d: { type: 'choice', values: ['x', 'y'] },
        e: { type: 'boolean' },
        f: { type: 'fixed', value: 7 },
      }),
    ).toEqual({ a: 32, b: 4, c: 0.001, d: 'x', e: false, f: 7 });
  });
});

describe('resolveModelSpec', () => {
  const tuned = (): SpecFile =>
    parseSpecText(
      `${RECIPE.replace('filters: 32', 'filters: {hp: filters}')}
compile:
  optimizer: {type: sgd, learningRate: {hp: lr}, momentum: 0.9}
tune:
  space:
    filters: {type: int, min: 8, max: 64, step: 8}
    lr: {type: float, min: 0.001, max: 0.1, sampling: log}
`,
      'tuned.yaml',
      'yaml',
    );

  it('substitutes hyperparameters, filling defaults for those not given', () => {
    const spec = resolveModelSpec(tuned(), { filters: 16 }, { numClasses: 10 });
    expect(spec.layers[0]).toMatchObject({ type: 'conv2d', filters: 16, kernelSize: 3, strides: 1, padding: 'valid', useBias: true });
    expect(spec.compile.optimizer).toEqual({ type: 'sgd', momentum: 0.9, learningRate: 0.001 });
    expect(modelProfile(spec).parameterCount).toBe(3 * 3 * 16 + 16 + 26 * 26 * 16 * 10 + 10);
  });

  it('returns a frozen spec', () => {
    const spec = resolveModelSpec(tuned(), {}, { numClasses: 10 });
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.layers[0])).toBe(true);
  });

  it('validates substituted values with the layer schema', () => {
    expect(() => resolveModelSpec(tuned(), { filters: 'many' }, { numClasses: 10 })).toThrow(/model\.layers\[0\]\.filters: expected a positive integer, got "many"/);
  });

  it('rejects a model whose output does not fit the data classes', () => {
    const error = (() => {
      try {
        resolveModelSpec(tuned(), {}, { numClasses: 7 });
      } catch (e) {
        return e as EcomlError;
      }
      throw new Error('expected an error');
    })();
    expect(error.code).toBe('E_SHAPE_MISMATCH');
    expect(error.message).toContain('the model outputs [10] but the data has 7 classes');
  });

  it('needs one sigmoid unit and two classes for binary cross-entropy', () => {
    const file = defineSpec({
      name: 'bin',
      model: { input: [4], layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      compile: { loss: 'binary_crossentropy' },
    });
    expect(resolveModelSpec(file, {}, { numClasses: 2 }).numClasses).toBe(2);
    expect(() => resolveModelSpec(file, {}, { numClasses: 3 })).toThrow(/binary_crossentropy needs one output unit and 2 classes/);
  });
});

describe('defineSpec', () => {
  it('validates objects from the TS API like files', () => {
    const file = defineSpec({ name: 'api', numClasses: 2, model: { input: [4], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] } });
    expect(file.train.batchSize).toBe(32);
    expect(() => defineSpec({ name: 'api', model: { input: [4], layers: [{ type: 'dense', units: 0 }] } })).toThrow(
      /model\.layers\[0\]\.units: expected a positive integer, got 0/,
    );
  });
});
