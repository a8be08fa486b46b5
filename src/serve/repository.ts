/**
 * The model repository on disk, in the layout TF Serving and Triton share:
 * `<repo>/<model>/<version>/…` with numeric versions and an optional per-model config
 * (`config.pbtxt` in Triton's text format, or `config.json` / `config.yaml` with the same field
 * names). Scanning is pure reading; which versions load is decided by the version policy here and
 * acted on by models.ts.
 * @module
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { EcomlError } from '../errors.js';
import { SIDECAR_FILE } from '../models/index.js';
import { ONNX_FILE, TFJS_FILE } from './files.js';
import { parseTextProto, type TextProtoMessage, type TextProtoValue } from './pbtxt.js';

/** Model names as directory names and URL segments: nothing that could climb out of the repository. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/**
 * Version directories: canonical non-negative integers. Triton skips names with a leading zero;
 * TF Serving would read `007` as 7, which could make two directories one version, so they are skipped.
 */
const VERSION_DIR = /^(0|[1-9]\d{0,14})$/;

export const CONFIG_FILES = ['config.pbtxt', 'config.json', 'config.yaml', 'config.yml'] as const;

export type VersionPolicy =
  | { readonly kind: 'latest'; readonly numVersions: number }
  | { readonly kind: 'all' }
  | { readonly kind: 'specific'; readonly versions: readonly number[] };

export type Platform = 'onnx' | 'tfjs';

export interface DynamicBatchingConfig {
  readonly maxQueueDelayMs: number;
  readonly preferredBatchSizes: readonly number[];
  readonly maxQueueSize?: number;
  readonly timeoutMs?: number;
}

/** A model's configuration, validated and with every unit in its name. */
export interface ModelConfig {
  readonly platform?: Platform;
  /** Largest batch; 0: no batching. Absent: 0 unless the model's first dimensions are all dynamic. */
  readonly maxBatchSize?: number;
  /** Present: merge requests (`false` turns the server's default off). */
  readonly dynamicBatching?: DynamicBatchingConfig | false;
  readonly versionPolicy: VersionPolicy;
  readonly versionLabels: Readonly<Record<string, number>>;
  readonly instances?: number;
  readonly threads?: number;
  readonly idleTimeoutS?: number;
  readonly defaultModelFilename?: string;
  readonly warmup: boolean;
  /** Fields that were read but have no effect here (Triton's input/output declarations, optimization…). */
  readonly ignored: readonly string[];
}

export const DEFAULT_VERSION_POLICY: VersionPolicy = { kind: 'latest', numVersions: 1 };

const count = z.number().int().min(1);
const nonNegative = z.number().int().min(0);

/** The config file's fields, Triton's names (snake_case), as JSON/YAML give them or as text format normalizes to. */
const ConfigSchema = z
  .object({
    name: z.string().optional(),
    platform: z.enum(['onnxruntime_onnx', 'onnx', 'tfjs', 'tensorflowjs', 'tfjs_layers']).optional(),
    backend: z.enum(['onnxruntime', 'tfjs']).optional(),
    max_batch_size: nonNegative.optional(),
    dynamic_batching: z
      .union([
        z.literal(false),
        z
          .object({
            max_queue_delay_microseconds: nonNegative.optional(),
            preferred_batch_size: z.array(count).optional(),
            max_queue_size: count.optional(),
            default_queue_policy: z
              .object({
                max_queue_size: nonNegative.optional(),
                default_timeout_microseconds: nonNegative.optional(),
                timeout_action: z.string().optional(),
                allow_timeout_override: z.boolean().optional(),
              })
              .strict()
              .optional(),
            preserve_ordering: z.boolean().optional(),
          })
          .strict(),
      ])
      .optional(),
    version_policy: z
      .union([
        z.object({ latest: z.object({ num_versions: count.optional() }).strict() }).strict(),
        z.object({ all: z.object({}).strict() }).strict(),
        z.object({ specific: z.object({ versions: z.array(nonNegative).min(1) }).strict() }).strict(),
      ])
      .optional(),
    version_labels: z.record(z.string().regex(MODEL_NAME, 'a label is letters, digits, ".", "_" or "-"'), nonNegative).optional(),
    instance_group: z.array(z.object({ count: count.optional(), kind: z.enum(['KIND_AUTO', 'KIND_CPU']).optional(), name: z.string().optional() }).strict()).optional(),
    threads: count.optional(),
    idle_timeout_s: z.number().min(0).optional(),
    default_model_filename: z.string().refine((f) => f !== '' && basename(f) === f && f !== '..', 'a file name inside the version directory').optional(),
    warmup: z.boolean().optional(),
    parameters: z.record(z.string(), z.object({ string_value: z.string() }).strict()).optional(),
  })
  .strict();

/** Triton fields that describe what the model file says anyway, or tune what this server does not have. */
const IGNORED_FIELDS = ['input', 'output', 'optimization', 'model_warmup', 'model_transaction_policy', 'response_cache', 'sequence_batching', 'ensemble_scheduling', 'model_operations', 'model_repository_agents', 'label_filename'];

function invalidConfig(source: string, message: string): EcomlError {
  return new EcomlError('E_CONFIG_INVALID', `${source}: ${message}`, { details: { source } });
}

/** Text format has no lists for one element and no maps: shape it like the JSON form Triton also reads. */
function fromTextProto(message: TextProtoMessage): Record<string, unknown> {
  const asList = (v: TextProtoValue | undefined): TextProtoValue[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
  const out: Record<string, unknown> = { ...message };
  const batching = message.dynamic_batching;
  if (batching !== undefined && typeof batching === 'object' && !Array.isArray(batching)) {
    out.dynamic_batching = { ...batching, ...(batching.preferred_batch_size !== undefined ? { preferred_batch_size: asList(batching.preferred_batch_size) } : {}) };
  }
  if (message.instance_group !== undefined) out.instance_group = asList(message.instance_group);
  const policy = message.version_policy;
  if (policy !== undefined && typeof policy === 'object' && !Array.isArray(policy) && typeof policy.specific === 'object' && !Array.isArray(policy.specific)) {
    out.version_policy = { specific: { versions: asList(policy.specific.versions) } };
  }
  // Maps in text format are lists of { key, value } entries.
  for (const field of ['parameters', 'version_labels'] as const) {
    const entries = asList(message[field]);
    if (entries === undefined) continue;
    out[field] = Object.fromEntries(entries.map((e) => (typeof e === 'object' && !Array.isArray(e) ? [String(e.key), e.value] : [String(e), undefined])));
  }
  return out;
}

/** Parses and validates one model's config file; `format` from its extension. */
export function parseModelConfig(text: string, file: string, modelName: string): ModelConfig {
  let raw: unknown;
  try {
    raw = file.endsWith('.pbtxt') ? fromTextProto(parseTextProto(text, { source: file })) : file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    if (error instanceof EcomlError) throw error;
    throw invalidConfig(file, `cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalidConfig(file, 'must be an object of settings');
  const entries = Object.entries(raw as Record<string, unknown>);
  const ignored = entries.map(([k]) => k).filter((k) => IGNORED_FIELDS.includes(k));
  const fields = Object.fromEntries(entries.filter(([k]) => !IGNORED_FIELDS.includes(k)));
  const parsed = ConfigSchema.safeParse(fields);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(top level)';
    throw invalidConfig(file, `${where}: ${issue?.message ?? 'invalid'}`);
  }
  const c = parsed.data;
  if (c.name !== undefined && c.name !== modelName) throw invalidConfig(file, `name "${c.name}" does not match the model's directory "${modelName}"`);
  const parameters = c.parameters ?? {};
  const numberParameter = (key: string): number | undefined => {
    const value = parameters[key]?.string_value;
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!(Number.isFinite(n) && n >= 0)) throw invalidConfig(file, `parameters.${key} must be a non-negative number, got "${value}"`);
    return n;
  };
  const platform = c.platform === 'onnxruntime_onnx' || c.platform === 'onnx' || c.backend === 'onnxruntime' ? 'onnx' : c.platform !== undefined || c.backend === 'tfjs' ? 'tfjs' : undefined;
  const threads = c.threads ?? numberParameter('intra_op_thread_count');
  const idleTimeoutS = c.idle_timeout_s ?? numberParameter('idle_timeout_s');
  const instances = c.instance_group?.reduce((n, g) => n + (g.count ?? 1), 0);
  const batching = c.dynamic_batching;
  const policy = c.version_policy;
  const queue = batching === false ? undefined : batching?.default_queue_policy;
  return {
    ...(platform !== undefined ? { platform } : {}),
    ...(c.max_batch_size !== undefined ? { maxBatchSize: c.max_batch_size } : {}),
    ...(batching === false
      ? { dynamicBatching: false as const }
      : batching !== undefined
        ? {
            dynamicBatching: {
              maxQueueDelayMs: (batching.max_queue_delay_microseconds ?? 0) / 1000,
              preferredBatchSizes: [...(batching.preferred_batch_size ?? [])].sort((a, b) => a - b),
              ...((batching.max_queue_size ?? queue?.max_queue_size) ? { maxQueueSize: batching.max_queue_size ?? queue?.max_queue_size } : {}),
              ...(queue?.default_timeout_microseconds ? { timeoutMs: queue.default_timeout_microseconds / 1000 } : {}),
            },
          }
        : {}),
    versionPolicy:
      policy === undefined
        ? DEFAULT_VERSION_POLICY
        : 'latest' in policy
          ? { kind: 'latest', numVersions: policy.latest.num_versions ?? 1 }
          : 'all' in policy
            ? { kind: 'all' }
            : { kind: 'specific', versions: [...new Set(policy.specific.versions)].sort((a, b) => a - b) },
    versionLabels: c.version_labels ?? {},
    ...(instances !== undefined ? { instances } : {}),
    ...(threads !== undefined ? { threads: Math.max(1, Math.floor(threads)) } : {}),
    ...(idleTimeoutS !== undefined ? { idleTimeoutS } : {}),
    ...(c.default_model_filename !== undefined ? { defaultModelFilename: c.default_model_filename } : {}),
    warmup: c.warmup ?? true,
    ignored,
  };
}

export interface VersionDir {
  readonly version: number;
  readonly path: string;
  /** Names, sizes and modification times of its files: a change means files are being written or replaced. */
  readonly fingerprint: string;
}

export interface ModelEntry {
  readonly name: string;
  readonly dir: string;
  /** The config, or why it could not be read (the model then does not load). */
  readonly config: ModelConfig | EcomlError;
  /** Every version directory found, ascending. */
  readonly versions: readonly VersionDir[];
}

export interface RepositoryScan {
  readonly models: readonly ModelEntry[];
  /** Entries skipped, and why. */
  readonly problems: readonly string[];
}

async function fingerprint(dir: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  const parts = await Promise.all(
    entries
      .map((e) => e.name)
      .sort()
      .map(async (name) => {
        const s = await stat(join(dir, name)).catch(() => undefined);
        return s === undefined ? `${name}:gone` : `${name}:${s.size}:${s.mtimeMs}`;
      }),
  );
  return parts.join('|');
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** One model's directory: its config and numeric version directories. */
/**
 * Parsed config files by path, kept while their size and modification time stay the same: a
 * repository polled every few seconds need not re-read and re-validate unchanged files.
 */
export type ConfigCache = Map<string, { readonly stamp: string; readonly config: ModelConfig | EcomlError }>;

async function readConfig(path: string, name: string, cache: ConfigCache | undefined): Promise<ModelConfig | EcomlError> {
  const stamp = await stat(path).then(
    (s) => `${s.size}:${s.mtimeMs}`,
    () => 'unreadable',
  );
  const cached = cache?.get(path);
  if (cached !== undefined && cached.stamp === stamp) return cached.config;
  let config: ModelConfig | EcomlError;
  try {
    config = parseModelConfig(await readFile(path, 'utf8'), path, name);
  } catch (error) {
    config = error instanceof EcomlError ? error : invalidConfig(path, String(error));
  }
  cache?.set(path, { stamp, config });
  return config;
}

export async function scanModel(name: string, dir: string, problems: string[] = [], cache?: ConfigCache): Promise<ModelEntry> {
  let config: ModelConfig | EcomlError = { versionPolicy: DEFAULT_VERSION_POLICY, versionLabels: {}, warmup: true, ignored: [] };
  const entries = await readdir(dir, { withFileTypes: true });
  const configFile = CONFIG_FILES.find((f) => entries.some((e) => e.name === f && !e.isDirectory()));
  if (configFile !== undefined) config = await readConfig(join(dir, configFile), name, cache);
  const versions: VersionDir[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (!VERSION_DIR.test(entry.name)) continue;
    if (!(await isDirectory(path))) continue;
    versions.push({ version: Number(entry.name), path, fingerprint: await fingerprint(path).catch(() => 'unreadable') });
  }
  // A model saved straight into its folder (`ecoml train` writes models/<name>/) is its version 1.
  const modelFiles = [config instanceof EcomlError ? undefined : config.defaultModelFilename, ONNX_FILE, TFJS_FILE, SIDECAR_FILE];
  if (versions.length === 0 && entries.some((e) => !e.isDirectory() && modelFiles.includes(e.name))) versions.push({ version: 1, path: dir, fingerprint: await fingerprint(dir) });
  if (versions.length === 0) problems.push(`${dir}: no version directories (numeric names such as 1/) and no model files`);
  versions.sort((a, b) => a.version - b.version);
  return { name, dir, config, versions };
}

/** Every model directory of a repository; names that could not be URL segments are skipped with a note. */
export async function scanRepository(root: string, cache?: ConfigCache): Promise<RepositoryScan> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EcomlError(code === 'ENOENT' ? 'E_FILE_NOT_FOUND' : 'E_CONFIG_INVALID', `cannot read the model repository ${root}: ${(error as Error).message}`, {
      details: { path: root },
      cause: error,
    });
  }
  const problems: string[] = [];
  const models: ModelEntry[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(root, entry.name);
    if (entry.name.startsWith('.') || !(await isDirectory(dir))) continue;
    if (!MODEL_NAME.test(entry.name)) {
      problems.push(`${dir}: skipped; a model name is letters, digits, ".", "_" and "-", starting with a letter or digit`);
      continue;
    }
    try {
      models.push(await scanModel(entry.name, dir, problems, cache));
    } catch (error) {
      problems.push(`${dir}: skipped; ${(error as Error).message}`);
    }
  }
  return { models, problems };
}

/**
 * One model served from its own directory (`ecoml serve MODEL_DIR`): its numeric subdirectories are
 * its versions, or, when it has none, the directory itself is version 1.
 */
export async function scanSingleModel(dir: string, name: string, cache?: ConfigCache): Promise<ModelEntry> {
  if (!MODEL_NAME.test(name)) throw new EcomlError('E_CONFIG_INVALID', `"${name}" cannot be a model name: use letters, digits, ".", "_" and "-"`, { details: { name } });
  if (!(await isDirectory(dir))) throw new EcomlError('E_FILE_NOT_FOUND', `${dir} is not a directory`, { details: { path: dir } });
  const problems: string[] = [];
  const entry = await scanModel(name, dir, problems, cache);
  if (entry.versions.length > 0) return entry;
  return { ...entry, versions: [{ version: 1, path: dir, fingerprint: await fingerprint(dir) }] };
}

/** The versions a policy serves out of those on disk, ascending. */
export function selectVersions(available: readonly number[], policy: VersionPolicy): number[] {
  const sorted = [...new Set(available)].sort((a, b) => a - b);
  switch (policy.kind) {
    case 'latest':
      return sorted.slice(Math.max(0, sorted.length - policy.numVersions));
    case 'all':
      return sorted;
    case 'specific':
      return sorted.filter((v) => policy.versions.includes(v));
  }
}
