/**
 * TF.js layers-model files on disk with plain fs (tfjs-node's file:// handler is not available):
 * `model.json` (topology + weights manifest) and one weight shard, `group1-shard1of1.bin`.
 * The same layout `tf.loadLayersModel` reads over HTTP, so browsers can load what we save.
 * @module
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EcomlError } from '../../errors.js';
import { ensureDirectory } from '../../util/fs.js';
import { tf } from './runtime.js';

export const MODEL_JSON = 'model.json';
export const WEIGHT_SHARD = 'group1-shard1of1.bin';

interface ModelJson {
  readonly modelTopology: unknown;
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
  readonly weightsManifest: readonly { readonly paths: readonly string[]; readonly weights: tf.io.WeightsManifestEntry[] }[];
  readonly trainingConfig?: unknown;
  readonly userDefinedMetadata?: unknown;
}

/** An IOHandler whose save() writes model.json and the weight shard into `dir` (which must exist). */
export function dirSaveHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const json: ModelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHT_SHARD], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig !== undefined ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata !== undefined ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      ensureDirectory(dir, `model directory ${dir}`);
      await writeFile(join(dir, MODEL_JSON), JSON.stringify(json));
      await writeFile(join(dir, WEIGHT_SHARD), new Uint8Array(weights));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

async function readIn(dir: string, name: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (name === MODEL_JSON) throw new EcomlError('E_MODEL_NOT_FOUND', `no TF.js model in ${dir}: ${MODEL_JSON} is missing`, { details: { dir, file: name } });
    throw new EcomlError('E_MODEL_CORRUPT', `${dir}: weight file ${name} is missing`, { details: { dir, file: name } });
  }
}

function corrupt(dir: string, message: string): EcomlError {
  return new EcomlError('E_MODEL_CORRUPT', `${dir}/${MODEL_JSON}: ${message}`, { details: { dir, file: MODEL_JSON } });
}

/** An IOHandler whose load() reads what dirSaveHandler wrote (any number of shards). */
export function dirLoadHandler(dir: string): tf.io.IOHandler {
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      let json: ModelJson;
      try {
        json = JSON.parse((await readIn(dir, MODEL_JSON)).toString('utf8')) as ModelJson;
      } catch (error) {
        if (error instanceof SyntaxError) throw corrupt(dir, `not valid JSON (${error.message})`);
        throw error;
      }
      if (typeof json !== 'object' || json === null || !Array.isArray(json.weightsManifest) || json.modelTopology === undefined) {
        throw corrupt(dir, 'expected modelTopology and weightsManifest');
      }
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const path of group.paths) {
          // Shards sit beside model.json; a path elsewhere is not ours to read.
          if (basename(path) !== path) throw corrupt(dir, `weight path "${path}" leaves the model directory`);
          const bytes = await readIn(dir, path);
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs,
        weightData: tf.io.CompositeArrayBuffer.join(buffers),
        ...(json.format !== undefined ? { format: json.format } : {}),
        ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
        ...(json.convertedBy != null ? { convertedBy: json.convertedBy } : {}),
      };
    },
  };
}

/** The bytes a TF.js model's files take (model.json and every weight shard its manifest names). */
export async function layersModelBytes(dir: string): Promise<number> {
  const json = await readIn(dir, MODEL_JSON);
  let paths: string[] = [];
  try {
    const parsed = JSON.parse(json.toString('utf8')) as Partial<ModelJson>;
    paths = (parsed.weightsManifest ?? []).flatMap((group) => [...group.paths]).filter((p) => basename(p) === p);
  } catch {
    // Loading the model reports a malformed model.json; it holds no shards to count.
  }
  const sizes = await Promise.all(paths.map((p) => stat(join(dir, p)).then((s) => s.size, () => 0)));
  return sizes.reduce((a, b) => a + b, json.byteLength);
}

/** A TF.js layers model from `dir`; a model tfjs cannot rebuild is E_MODEL_CORRUPT naming the folder. */
export async function loadLayers(dir: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(dirLoadHandler(dir));
  } catch (error) {
    if (error instanceof EcomlError) throw error;
    throw new EcomlError('E_MODEL_CORRUPT', `${dir}: cannot rebuild the TF.js model: ${error instanceof Error ? error.message : String(error)}`, { details: { dir }, cause: error });
  }
}
