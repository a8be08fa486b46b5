/**
 * Engine-neutral training checkpoints: weights and optimizer state as named float32 tensors plus
 * the loop's state (epoch, history, early-stopping), written atomically after every epoch so
 * `--resume` continues exactly where an interrupted run stopped.
 * @module
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EcomlError } from '../errors.js';
import { ensureDirectory, fsError } from '../util/fs.js';
import type { NamedWeight } from '../engine/types.js';
import type { EarlyStoppingState } from './early-stopping.js';
import type { EpochRecord } from './fit.js';

export interface CheckpointState {
  readonly runId: string;
  /** The last completed epoch, 1-based. */
  readonly epoch: number;
  readonly history: readonly EpochRecord[];
  readonly earlyStopping: EarlyStoppingState;
}

interface TensorManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly length: number;
}

interface CheckpointFile extends CheckpointState {
  readonly format: 'ecoml-checkpoint/1';
  readonly weights: readonly TensorManifestEntry[];
  readonly optimizer: readonly TensorManifestEntry[];
}

function pack(tensors: readonly NamedWeight[]): { manifest: TensorManifestEntry[]; bytes: Buffer } {
  const total = tensors.reduce((sum, t) => sum + t.values.length, 0);
  const all = new Float32Array(total);
  const manifest: TensorManifestEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    all.set(t.values, offset);
    manifest.push({ name: t.name, shape: [...t.shape], offset, length: t.values.length });
    offset += t.values.length;
  }
  return { manifest, bytes: Buffer.from(all.buffer, all.byteOffset, all.byteLength) };
}

function unpack(manifest: readonly TensorManifestEntry[], bytes: Buffer, file: string): NamedWeight[] {
  if (bytes.byteLength % 4 !== 0) throw new EcomlError('E_MODEL_CORRUPT', `${file}: size ${bytes.byteLength} is not a multiple of 4`, { details: { file } });
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return manifest.map((entry) => {
    if (entry.offset + entry.length > all.length) {
      throw new EcomlError('E_MODEL_CORRUPT', `${file}: tensor ${entry.name} runs past the end of the file`, { details: { file } });
    }
    return { name: entry.name, shape: entry.shape, values: all.slice(entry.offset, entry.offset + entry.length) };
  });
}

export async function writeCheckpoint(
  dir: string,
  state: CheckpointState,
  weights: readonly NamedWeight[],
  optimizer: readonly NamedWeight[],
): Promise<void> {
  const w = pack(weights);
  const o = pack(optimizer);
  const file: CheckpointFile = { format: 'ecoml-checkpoint/1', ...state, weights: w.manifest, optimizer: o.manifest };
  const tmp = `${dir}.tmp-${process.pid}`;
  const what = `checkpoint ${dir}`;
  try {
    await rm(tmp, { recursive: true, force: true });
    ensureDirectory(tmp, what);
    await writeFile(join(tmp, 'weights.bin'), w.bytes);
    await writeFile(join(tmp, 'optimizer.bin'), o.bytes);
    await writeFile(join(tmp, 'checkpoint.json'), JSON.stringify(file, null, 1));
    // rename() cannot replace a non-empty directory: move the old one aside first.
    const old = `${dir}.old-${process.pid}`;
    await rename(dir, old).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    await rename(tmp, dir);
    await rm(old, { recursive: true, force: true });
  } catch (error) {
    // A full disk mid-training is one coded line naming the checkpoint, not a stack trace.
    throw fsError(error, what, undefined, 'write');
  }
}

export async function readCheckpoint(
  dir: string,
): Promise<{ state: CheckpointState; weights: NamedWeight[]; optimizer: NamedWeight[] }> {
  const jsonPath = join(dir, 'checkpoint.json');
  let parsed: CheckpointFile;
  try {
    parsed = JSON.parse(await readFile(jsonPath, 'utf8')) as CheckpointFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new EcomlError('E_FILE_NOT_FOUND', `no checkpoint at ${dir}`, { details: { file: jsonPath } });
    }
    if (error instanceof SyntaxError) throw new EcomlError('E_MODEL_CORRUPT', `${jsonPath}: ${error.message}`, { details: { file: jsonPath } });
    throw fsError(error, `checkpoint ${dir}`);
  }
  if (parsed.format !== 'ecoml-checkpoint/1') {
    throw new EcomlError('E_MODEL_CORRUPT', `${jsonPath}: unknown format ${String(parsed.format)}`, { details: { file: jsonPath } });
  }
  const weightsPath = join(dir, 'weights.bin');
  const optimizerPath = join(dir, 'optimizer.bin');
  const { format: _format, weights, optimizer, ...state } = parsed;
  const read = (path: string): Promise<Buffer> =>
    readFile(path).catch((error: unknown) => {
      throw fsError(error, `checkpoint ${dir}`);
    });
  return {
    state,
    weights: unpack(weights, await read(weightsPath), weightsPath),
    optimizer: unpack(optimizer, await read(optimizerPath), optimizerPath),
  };
}
