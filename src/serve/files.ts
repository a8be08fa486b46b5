/**
 * What to load from a version directory: an ONNX file (`model.onnx`, or the config's
 * default_model_filename) as it is; an ecoml model directory (ecoml.json + TF.js files) through its
 * ONNX export, made on first load by the caller's converter and cached, with the preprocessing and
 * class names its sidecar records, or on tfjs when the onnx engine cannot take its spec; a plain
 * TF.js layers model on tfjs.
 * @module
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { EcomlError } from '../errors.js';
import { readModelDir, SIDECAR_FILE, type ModelSidecar } from '../models/index.js';
import type { ResolvedFiles } from './models.js';
import type { ModelConfig } from './repository.js';

export const ONNX_FILE = 'model.onnx';
export const TFJS_FILE = 'model.json';

export interface FileResolverOptions {
  /**
   * The ONNX file serving an ecoml model directory (converted and cached by the caller), or, when
   * the onnx engine cannot compile its spec, the reason, and it is served on tfjs.
   */
  readonly toOnnx: (dir: string, sidecar: ModelSidecar) => Promise<{ readonly file: string } | { readonly unsupported: string }>;
}

const exists = (path: string): Promise<boolean> => access(path).then(
  () => true,
  () => false,
);

export function createFileResolver(options: FileResolverOptions): (dir: string, config: ModelConfig) => Promise<ResolvedFiles> {
  return async (dir, config) => {
    const onnxName = config.defaultModelFilename ?? ONNX_FILE;
    const [hasOnnx, hasSidecar, hasTfjs] = await Promise.all([exists(join(dir, onnxName)), exists(join(dir, SIDECAR_FILE)), exists(join(dir, TFJS_FILE))]);
    const sidecar = hasSidecar ? await readModelDir(dir) : undefined;
    const extras = sidecar
      ? { ...(sidecar.preprocessing.kind !== 'none' ? { preprocessing: { record: sidecar.preprocessing } } : {}), ...(sidecar.classNames ? { classNames: sidecar.classNames } : {}) }
      : {};
    if (hasOnnx && config.platform !== 'tfjs') return { platform: 'onnx', source: join(dir, onnxName), origin: onnxName, ...extras };
    if (sidecar !== undefined && config.platform !== 'tfjs') {
      const converted = await options.toOnnx(dir, sidecar);
      if ('file' in converted) return { platform: 'onnx', source: converted.file, origin: `ecoml model, converted to ONNX (${converted.file})`, ...extras };
      if (config.platform === 'onnx') throw new EcomlError('E_MODEL_CORRUPT', `${dir}: the config asks for onnx, but ${converted.unsupported}`, { details: { dir } });
      return { platform: 'tfjs', source: dir, origin: `ecoml model on tfjs (${converted.unsupported})`, ...extras };
    }
    if (hasTfjs && config.platform !== 'onnx') return { platform: 'tfjs', source: dir, origin: sidecar ? 'ecoml model on tfjs' : TFJS_FILE, ...extras };
    const wanted = config.platform === 'onnx' ? onnxName : config.platform === 'tfjs' ? TFJS_FILE : `${onnxName}, ${TFJS_FILE} or ${SIDECAR_FILE}`;
    throw new EcomlError('E_MODEL_NOT_FOUND', `${dir} holds no model to serve: expected ${wanted}`, { details: { dir } });
  };
}
