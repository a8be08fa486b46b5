/**
 * `export`: a saved model as a standalone artifact for another runtime — an ONNX inference graph
 * (dynamic batch) or plain TF.js layers files for browsers — checked against the source model on
 * seeded inputs before it is handed over.
 * @module
 */
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EcomlError, lookup } from '../errors.js';
import { GRAPH_FILE, ONNX_GRAPH_ENGINE } from '../engine/index.js';
import { loadModelDir, readModelDir } from '../models/index.js';
import { maxAbsDiff } from '../util/arrays.js';
import { checkOutputDirectory, ensureDirectory, fsError } from '../util/fs.js';
import { PyRandom } from '../util/random.js';
import { moveToEngine } from './engines.js';
import type { Workspace } from './workspace.js';

export const EXPORT_FORMATS = { onnx: 'onnx', tfjs: 'tfjs' } as const;
/** Largest difference in any output probability the export may show against its source. */
export const EXPORT_TOLERANCE = 1e-4;
const CHECK_SAMPLES = 64;

export interface ExportReport {
  readonly model_dir: string;
  readonly format: string;
  readonly out: string;
  readonly files: readonly string[];
  /** Largest |exported − source| over the check inputs' probabilities. */
  readonly max_abs_diff: number;
  readonly checked_samples: number;
}

/** The export's directory must be new or empty, and creatable: checked before the model is even loaded. */
async function requireEmptyTarget(out: string, what: string): Promise<void> {
  checkOutputDirectory(out, what);
  const entries = await readdir(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw fsError(error, what, out);
  });
  if (entries.length > 0) throw new EcomlError('E_CONFIG_INVALID', `${out} exists and is not empty: choose a new --out directory`, { details: { out } });
}

export async function exportModel(ws: Workspace, dir: string, options: { readonly format: string; readonly out: string }): Promise<ExportReport> {
  const format = lookup(EXPORT_FORMATS, options.format, 'export format');
  const target = lookup(ws.engines, format, 'engine');
  const source = resolve(ws.cwd, dir);
  const out = resolve(ws.cwd, options.out);
  const what = `--out ${options.out}`;
  await requireEmptyTarget(out, what);
  if ((await readModelDir(source)).engine === ONNX_GRAPH_ENGINE) {
    throw new EcomlError('E_CONFIG_INVALID', `${source} is a compressed model: its ${GRAPH_FILE} is already the ONNX graph to deploy, and it has no weights for another format`, {
      details: { dir: source },
    });
  }
  const { compiled: stored } = await loadModelDir(source, ws.reference);
  const moved = await moveToEngine(stored, target, 0);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  try {
    await rm(tmp, { recursive: true, force: true });
    ensureDirectory(tmp, what);
    const { files } = await moved.saveTo(tmp).catch((error: unknown) => {
      throw fsError(error, what, undefined, 'write');
    });
    // The check reads the written files back through the target runtime, as a user would.
    const reloaded = await target.load(tmp, stored.spec);
    let difference = Number.POSITIVE_INFINITY;
    try {
      const perSample = stored.spec.input.reduce((a, b) => a * b, 1);
      const rng = new PyRandom(7);
      const x = Float32Array.from({ length: CHECK_SAMPLES * perSample }, () => rng.random());
      const [expected, actual] = [await stored.predict(x, CHECK_SAMPLES), await reloaded.predict(x, CHECK_SAMPLES)];
      difference = maxAbsDiff(expected, actual);
    } finally {
      reloaded.dispose();
    }
    if (!(difference <= EXPORT_TOLERANCE)) {
      throw new EcomlError('E_ENGINE_FAILED', `the ${format} export differs from its source by ${difference} (tolerance ${EXPORT_TOLERANCE}); nothing was written`, {
        details: { maxAbsDiff: difference },
      });
    }
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out).catch((error: unknown) => {
      throw fsError(error, what, out, 'write');
    });
    return { model_dir: source, format, out, files, max_abs_diff: difference, checked_samples: CHECK_SAMPLES };
  } finally {
    await rm(tmp, { recursive: true, force: true });
    if (moved !== stored) moved.dispose();
    stored.dispose();
  }
}
