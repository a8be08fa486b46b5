/**
 * A saved model directory: the engine's own files plus `ecoml.json`, the sidecar recording the
 * spec, hyperparameters, preprocessing, metrics, energy and profile, and a SHA-256 per file.
 * Directories are written whole into a temporary sibling and renamed into place, so a reader
 * sees either the old model or the new one, never a mix.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { PreprocessingSchema } from '../data/preprocess.js';
import type { Preprocessing } from '../data/types.js';
import type { CompiledModel, Engine } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import { checkOutputDirectory, ensureDirectory, fsError } from '../util/fs.js';
import { deepFreeze, modelProfile } from './load.js';
import { OPTIMIZER_TYPES, SpecFileSchema } from './spec.js';
import type { HpValue, ModelSpec, SpecFile } from './spec.js';

export const SIDECAR_FILE = 'ecoml.json';
export const SIDECAR_FORMAT = 'ecoml-model/1';

export interface ModelDirProfile {
  readonly parameterCount: number;
  readonly flopsPerSample: number;
  /** Bytes of the engine's files (the sidecar itself excluded). */
  readonly bytesOnDisk: number;
  /** Measured inference figures, when the trainer evaluated the model. */
  readonly inference?: unknown;
}

/** ecoml.json. Fields a trainer adds beyond these are kept as given (JSON). */
export interface ModelSidecar {
  readonly format: typeof SIDECAR_FORMAT;
  readonly createdAt: string;
  readonly engine: string;
  /** The spec file as given. */
  readonly spec: SpecFile;
  readonly resolvedSpec: ModelSpec;
  readonly hyperparameters: Readonly<Record<string, HpValue>>;
  readonly preprocessing: Preprocessing;
  readonly classNames?: readonly string[];
  /** The spec file's directory, against which its relative data paths resolve. */
  readonly specDir: string;
  readonly runId?: string;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly energy: unknown;
  readonly profile: ModelDirProfile;
  /** File name → SHA-256 (hex) of every engine file. */
  readonly files: Readonly<Record<string, string>>;
  readonly [extra: string]: unknown;
}

/** What the caller supplies; the rest (format, dates, engine, resolved spec, profile, hashes) is derived. */
export interface SidecarInput {
  readonly spec: SpecFile;
  readonly hyperparameters: Readonly<Record<string, HpValue>>;
  readonly preprocessing: Preprocessing;
  readonly classNames?: readonly string[];
  /** The spec file's directory (relative data paths in the spec resolve against it). */
  readonly specDir: string;
  readonly runId?: string;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly energy?: unknown;
  /** Stored as profile.inference. */
  readonly inference?: unknown;
  readonly [extra: string]: unknown;
}

const SHA256 = /^[0-9a-f]{64}$/;

const SidecarSchema = z.looseObject({
  format: z.literal(SIDECAR_FORMAT),
  createdAt: z.string(),
  engine: z.string().min(1),
  spec: SpecFileSchema,
  resolvedSpec: z.looseObject({
    name: z.string(),
    input: z.array(z.number().int().positive()).min(1),
    numClasses: z.number().int().positive(),
    layers: z.array(z.looseObject({ type: z.string() })).min(1),
    compile: z.looseObject({ optimizer: z.looseObject({ type: z.enum(OPTIMIZER_TYPES) }), loss: z.string(), metrics: z.array(z.literal('accuracy')) }),
  }),
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  preprocessing: PreprocessingSchema,
  classNames: z.array(z.string()).optional(),
  specDir: z.string(),
  runId: z.string().optional(),
  metrics: z.record(z.string(), z.unknown()),
  energy: z.unknown(),
  profile: z.looseObject({ parameterCount: z.number(), flopsPerSample: z.number(), bytesOnDisk: z.number(), inference: z.unknown().optional() }),
  files: z.record(z.string().refine((name) => basename(name) === name && name !== SIDECAR_FILE), z.string().regex(SHA256)),
});

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

/** An existing `dir` may be replaced by a model only if it is empty or holds an ecoml model. */
function refuseForeignDirectory(dir: string, what: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(error, what, dir);
  }
  if (entries.length > 0 && !entries.includes(SIDECAR_FILE)) {
    throw new EcomlError('E_CONFIG_INVALID', `refusing to replace ${dir}: it is not empty and holds no ${SIDECAR_FILE}`, { details: { dir } });
  }
}

/** Checks, before any work, that saveModelDir could write `dir`; `what` names it for the user (e.g. `--out x`). */
export function checkModelDirTarget(dir: string, what: string): void {
  checkOutputDirectory(dir, what);
  refuseForeignDirectory(dir, what);
}

/** What a model directory is written from: a trained model, or an inference graph (a compressed model). */
export type SavableModel = Pick<CompiledModel, 'engine' | 'spec' | 'parameterCount' | 'flopsPerSample' | 'saveTo'>;

/**
 * Writes `compiled` with its sidecar to `dir`, atomically: everything goes into a temporary
 * sibling directory, is fsynced, and is renamed over `dir`. An existing `dir` is replaced only if
 * it is empty or holds an ecoml model. Returns the sidecar written.
 */
export async function saveModelDir(dir: string, compiled: SavableModel, input: SidecarInput): Promise<ModelSidecar> {
  const what = `model directory ${dir}`;
  const parent = dirname(dir);
  ensureDirectory(parent, what);
  refuseForeignDirectory(dir, what);
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(dir)}.tmp-${suffix}`);
  await mkdir(tmp).catch((error: unknown) => {
    throw fsError(error, what, tmp, 'write');
  });
  try {
    const { files } = await compiled.saveTo(tmp);
    const hashes: Record<string, string> = {};
    let bytesOnDisk = 0;
    for (const name of files) {
      const bytes = await readFile(join(tmp, name));
      hashes[name] = sha256(bytes);
      bytesOnDisk += bytes.byteLength;
    }
    const { spec, specDir, hyperparameters, preprocessing, metrics, energy, inference, ...extra } = input;
    const sidecar: ModelSidecar = {
      ...extra,
      format: SIDECAR_FORMAT,
      createdAt: new Date().toISOString(),
      engine: compiled.engine,
      spec,
      specDir,
      resolvedSpec: compiled.spec,
      hyperparameters,
      preprocessing,
      metrics: metrics ?? {},
      energy: energy ?? null,
      profile: {
        parameterCount: compiled.parameterCount,
        flopsPerSample: compiled.flopsPerSample,
        bytesOnDisk,
        ...(inference !== undefined ? { inference } : {}),
      },
      files: hashes,
    };
    await writeFile(join(tmp, SIDECAR_FILE), `${JSON.stringify(sidecar, null, 2)}\n`);
    for (const name of [...files, SIDECAR_FILE]) await fsyncPath(join(tmp, name));
    await fsyncPath(tmp);
    await swapInto(tmp, dir, suffix);
    await fsyncPath(parent);
    return sidecar;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw fsError(error, what, undefined, 'write');
  }
}

/** rename() cannot replace a non-empty directory: move the old one aside, put the new one in, then delete the old. */
async function swapInto(tmp: string, dir: string, suffix: string): Promise<void> {
  const old = join(dirname(dir), `.${basename(dir)}.old-${suffix}`);
  const hadOld = await rename(dir, old).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
  try {
    await rename(tmp, dir);
  } catch (error) {
    if (hadOld) await rename(old, dir);
    throw error;
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** Reads and checks `dir`'s sidecar, verifying every listed file against its SHA-256. */
export async function readModelDir(dir: string): Promise<ModelSidecar> {
  let text: string;
  try {
    text = await readFile(join(dir, SIDECAR_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const what = (await exists(dir)) ? `${dir} holds no ${SIDECAR_FILE}` : `${dir} does not exist`;
      throw new EcomlError('E_MODEL_NOT_FOUND', `no saved model: ${what}`, { details: { dir }, cause: error });
    }
    throw fsError(error, `model directory ${dir}`);
  }
  const corrupt = (file: string, message: string): EcomlError =>
    new EcomlError('E_MODEL_CORRUPT', `${join(dir, file)}: ${message}`, { details: { dir, file } });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw corrupt(SIDECAR_FILE, `not valid JSON (${(error as Error).message})`);
  }
  const parsed = SidecarSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw corrupt(SIDECAR_FILE, `not an ${SIDECAR_FORMAT} sidecar (${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'})`);
  }
  // The schema checked the structure; the resolved spec's layers are checked by profiling them.
  const sidecar = parsed.data as ModelSidecar;
  try {
    modelProfile(sidecar.resolvedSpec);
  } catch (error) {
    throw corrupt(SIDECAR_FILE, `resolvedSpec does not validate: ${(error as Error).message}`);
  }
  for (const [name, expected] of Object.entries(sidecar.files)) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw corrupt(name, 'is missing');
      throw fsError(error, `model directory ${dir}`);
    }
    if (sha256(bytes) !== expected) throw corrupt(name, 'does not match its SHA-256 in ecoml.json (edited or damaged)');
  }
  return deepFreeze(sidecar);
}

/** Reads, verifies and loads the model in `dir` with `engine` (which must be the one that saved it). */
export async function loadModelDir(dir: string, engine: Engine): Promise<{ compiled: CompiledModel; sidecar: ModelSidecar }> {
  const sidecar = await readModelDir(dir);
  if (sidecar.engine !== engine.name) {
    throw new EcomlError('E_CONFIG_INVALID', `${dir} was saved by the ${sidecar.engine} engine; load it with that engine, not ${engine.name}`, {
      details: { dir, saved: sidecar.engine, requested: engine.name },
    });
  }
  return { compiled: await engine.load(dir, sidecar.resolvedSpec), sidecar };
}
