import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { parseModelConfig, scanRepository, scanSingleModel, selectVersions, type ModelConfig } from '../../src/serve/repository.js';
import { tempDir } from '../cli/helpers.js';

describe('parseModelConfig', () => {
  it("reads Triton's config.pbtxt: batching, queue policy, version policy, instance groups, parameters", () => {
    const text = `
      name: "densenet"
      platform: "onnxruntime_onnx"
      max_batch_size: 8
      version_policy: { specific: { versions: [3, 1] } }
      input [ { name: "x" data_type: TYPE_FP32 dims: [ 28, 28, 1 ] } ]
      dynamic_batching { preferred_batch_size: [ 8, 4 ] max_queue_delay_microseconds: 1500
        default_queue_policy { max_queue_size: 16 default_timeout_microseconds: 2000000 } }
      instance_group [ { count: 2 kind: KIND_CPU }, { count: 1 } ]
      parameters: { key: "intra_op_thread_count" value: { string_value: "2" } }
      parameters: { key: "idle_timeout_s" value: { string_value: "30" } }
      version_labels: { key: "stable" value: 1 }`;
    expect(parseModelConfig(text, 'densenet/config.pbtxt', 'densenet')).toEqual<ModelConfig>({
      platform: 'onnx',
      maxBatchSize: 8,
      dynamicBatching: { maxQueueDelayMs: 1.5, preferredBatchSizes: [4, 8], maxQueueSize: 16, timeoutMs: 2000 },
      versionPolicy: { kind: 'specific', versions: [1, 3] },
      versionLabels: { stable: 1 },
      instances: 3,
      threads: 2,
      idleTimeoutS: 30,
      warmup: true,
      ignored: ['input'],
    });
  });

  it('reads the same fields from config.json and config.yaml, with defaults for what is left out', () => {
    const json = parseModelConfig(JSON.stringify({ version_policy: { latest: { num_versions: 2 } }, dynamic_batching: false, threads: 4, default_model_filename: 'net.onnx' }), 'm/config.json', 'm');
    expect(json).toEqual({ dynamicBatching: false, versionPolicy: { kind: 'latest', numVersions: 2 }, versionLabels: {}, threads: 4, defaultModelFilename: 'net.onnx', warmup: true, ignored: [] });
    const yaml = parseModelConfig('version_policy: { all: {} }\nplatform: tfjs\nidle_timeout_s: 0\nwarmup: false\n', 'm/config.yaml', 'm');
    expect(yaml).toEqual({ platform: 'tfjs', versionPolicy: { kind: 'all' }, versionLabels: {}, idleTimeoutS: 0, warmup: false, ignored: [] });
    expect(parseModelConfig('', 'm/config.yaml', 'm')).toEqual({ versionPolicy: { kind: 'latest', numVersions: 1 }, versionLabels: {}, warmup: true, ignored: [] });
  });

  it.each([
    ['{"max_batch_size": -1}', /max_batch_size/],
    ['{"max_batchsize": 4}', /unrecognized|max_batchsize/i],
    ['{"name": "other"}', /does not match the model's directory "m"/],
    ['{"default_model_filename": "../x.onnx"}', /default_model_filename/],
    ['{"version_policy": {"latest": {}, "all": {}}}', /version_policy/],
    ['{"version_labels": {"../x": 1}}', /version_labels/],
    ['{"parameters": {"idle_timeout_s": {"string_value": "soon"}}}', /idle_timeout_s must be a non-negative number/],
    ['[1, 2]', /must be an object of settings/],
    ['{not json', /cannot be read/],
  ])('refuses %s with E_CONFIG_INVALID naming the file and field', (text, message) => {
    const error = (() => {
      try {
        parseModelConfig(text, 'm/config.json', 'm');
      } catch (e) {
        return e;
      }
      return undefined;
    })() as EcomlError;
    expect(error).toBeInstanceOf(EcomlError);
    expect(error.code).toBe('E_CONFIG_INVALID');
    expect(error.message).toMatch(/^m\/config\.json: /);
    expect(error.message).toMatch(message);
  });

  it('reports a text-format syntax error with its line and column', () => {
    expect(() => parseModelConfig('max_batch_size: 4\nversion_policy { latest { num_versions: 1 }', 'm/config.pbtxt', 'm')).toThrow(/m\/config\.pbtxt:\d+:\d+/);
  });
});

describe('selectVersions', () => {
  it('latest(n) takes the n highest, all takes all, specific takes the listed ones that exist', () => {
    expect(selectVersions([3, 1, 2], { kind: 'latest', numVersions: 1 })).toEqual([3]);
    expect(selectVersions([3, 1, 2], { kind: 'latest', numVersions: 2 })).toEqual([2, 3]);
    expect(selectVersions([3, 1, 2], { kind: 'all' })).toEqual([1, 2, 3]);
    expect(selectVersions([3, 1], { kind: 'specific', versions: [1, 2] })).toEqual([1]);
  });

  it('always returns a sorted subset of what is on disk, latest(n) the top n of them', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(1000)), fc.integer({ min: 1, max: 10 }), (available, n) => {
        const chosen = selectVersions(available, { kind: 'latest', numVersions: n });
        const distinct = [...new Set(available)].sort((a, b) => a - b);
        expect(chosen).toEqual(distinct.slice(Math.max(0, distinct.length - n)));
        expect(chosen.every((v) => available.includes(v))).toBe(true);
      }),
    );
  });
});

describe('scanning a repository', () => {
  it('finds models and their numeric version directories, skipping names that cannot be URL segments', async () => {
    const repo = await tempDir('ecoml-repo-');
    for (const dir of ['good/1', 'good/12', 'good/01', 'good/latest', 'other.v2/3', 'bad name/1', '.hidden/1']) await mkdir(join(repo, dir), { recursive: true });
    await writeFile(join(repo, 'good', '12', 'model.onnx'), 'x');
    await writeFile(join(repo, 'a-file'), 'not a model');
    await writeFile(join(repo, 'good', 'config.json'), '{"max_batch_size": 2}');
    await writeFile(join(repo, 'other.v2', 'config.json'), '{"max_batch_size": "lots"}');
    const scan = await scanRepository(repo);
    expect(scan.models.map((m) => [m.name, m.versions.map((v) => v.version)])).toEqual([
      ['good', [1, 12]],
      ['other.v2', [3]],
    ]);
    expect(scan.models[0]?.config).toMatchObject({ maxBatchSize: 2 });
    expect(scan.models[1]?.config).toBeInstanceOf(EcomlError);
    expect(scan.problems.join('\n')).toMatch(/bad name: skipped/);
    // A version directory's fingerprint changes with its files.
    const before = scan.models[0]?.versions[1]?.fingerprint;
    await writeFile(join(repo, 'good', '12', 'model.onnx'), 'xy');
    expect((await scanRepository(repo)).models[0]?.versions[1]?.fingerprint).not.toBe(before);
  });

  it('follows a symlinked model directory (as mounted volumes are)', async () => {
    const repo = await tempDir('ecoml-repo-');
    const elsewhere = await tempDir('ecoml-model-');
    await mkdir(join(elsewhere, '1'));
    await symlink(elsewhere, join(repo, 'linked'));
    expect((await scanRepository(repo)).models.map((m) => m.name)).toEqual(['linked']);
  });

  it("takes a model saved straight into its folder (as ecoml train saves models/<name>/) as its version 1", async () => {
    const repo = await tempDir('ecoml-repo-');
    await mkdir(join(repo, 'mnist-cnn'));
    await writeFile(join(repo, 'mnist-cnn', 'ecoml.json'), '{}');
    await mkdir(join(repo, 'empty'));
    const scan = await scanRepository(repo);
    expect(scan.models.map((m) => [m.name, m.versions.map((v) => [v.version, v.path])])).toEqual([
      ['empty', []],
      ['mnist-cnn', [[1, join(repo, 'mnist-cnn')]]],
    ]);
    expect(scan.problems.join('\n')).toMatch(/empty: no version directories \(numeric names such as 1\/\) and no model files/);
  });

  it('a missing repository is E_FILE_NOT_FOUND', async () => {
    await expect(scanRepository('/nonexistent/repo')).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });

  it('serves one model directory as version 1, or its numeric subdirectories as its versions', async () => {
    const dir = await tempDir('ecoml-model-');
    expect((await scanSingleModel(dir, 'm')).versions.map((v) => [v.version, v.path])).toEqual([[1, dir]]);
    await mkdir(join(dir, '4'));
    expect((await scanSingleModel(dir, 'm')).versions.map((v) => v.version)).toEqual([4]);
    await expect(scanSingleModel(dir, '../m')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });
});
