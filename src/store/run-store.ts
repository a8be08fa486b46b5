/**
 * The run store: one SQLite file (`<dir>/ecoml.db`, WAL mode) recording every train, tune, evaluate,
 * predict and quickstart run, its per-epoch metrics and its energy measurement, plus the tuning
 * studies and trials (tables used by SqliteStudyStorage in src/tune).
 * The schema evolves through numbered migrations tracked in `PRAGMA user_version`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { EcomlError } from '../errors.js';
import { checkOutputDirectory, ensureDirectory } from '../util/fs.js';
import { decodeJson, deepFreeze, encodeJson } from './json.js';

export const DEFAULT_STORE_DIR = '.ecoml';

/** The run store directory: the option, else $ECOML_STORE, else `.ecoml`, relative to `cwd`. */
export function resolveStoreDir(cwd: string, option: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return resolve(cwd, option ?? env.ECOML_STORE ?? DEFAULT_STORE_DIR);
}
export const STORE_FILE = 'ecoml.db';

export const RUN_KINDS = ['train', 'tune', 'evaluate', 'predict', 'quickstart', 'trial'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const FINAL_RUN_STATUSES = ['completed', 'failed', 'stopped'] as const;
export type FinalRunStatus = (typeof FINAL_RUN_STATUSES)[number];
export const RUN_STATUSES = ['running', ...FINAL_RUN_STATUSES] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One run as stored. JSON columns come back parsed; absent values are null. */
export interface RunRecord {
  readonly id: string;
  readonly kind: RunKind;
  readonly name: string;
  readonly status: RunStatus;
  readonly stopReason: string | null;
  readonly startedAt: string;
  readonly endedAt: string | null;
  /** The study run a trial belongs to. */
  readonly parentId: string | null;
  readonly spec: unknown;
  readonly params: unknown;
  readonly metrics: Readonly<Record<string, number>> | null;
  /** The energy/emissions record, opaque to the store. */
  readonly measurement: unknown;
  readonly modelDir: string | null;
  readonly error: unknown;
}

export interface EpochRecord {
  readonly runId: string;
  readonly epoch: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly measurement: unknown;
}

export interface CreateRunInput {
  readonly kind: RunKind;
  readonly name: string;
  readonly parentId?: string;
  readonly spec?: unknown;
  readonly params?: unknown;
}

export interface FinishRunInput {
  readonly status: FinalRunStatus;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly measurement?: unknown;
  readonly modelDir?: string;
  /** An EcomlError (its toJSON is stored), another Error (name and message) or any JSON value. */
  readonly error?: unknown;
  readonly stopReason?: string;
}

export interface ListRunsOptions {
  readonly kind?: RunKind;
  readonly status?: RunStatus;
  readonly parentId?: string;
  readonly limit?: number;
}

export interface RunStore {
  /** The database file. */
  readonly path: string;
  /** The open connection, for the study storage that shares this file. */
  readonly db: Database.Database;
  createRun(input: CreateRunInput): RunRecord;
  /** Records (or rewrites, on resume) one epoch's metrics. */
  addEpoch(runId: string, epoch: number, metrics: Readonly<Record<string, number>>, measurement?: unknown): void;
  finishRun(runId: string, input: FinishRunInput): RunRecord;
  /** Marks a run running again (`train --resume`): clears its end time, stop reason and error. */
  reopenRun(runId: string): RunRecord;
  /** By full id or by a prefix that matches exactly one run. */
  getRun(idOrPrefix: string): RunRecord;
  /** Newest first. */
  listRuns(options?: ListRunsOptions): readonly RunRecord[];
  epochs(runId: string): readonly EpochRecord[];
  close(): void;
}

/** Migration i brings the schema from user_version i to i+1. Never edit one that has shipped: append. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train','tune','evaluate','predict','quickstart','trial')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped')),
    stop_reason TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    spec TEXT,
    params TEXT,
    metrics TEXT,
    measurement TEXT,
    model_dir TEXT,
    error TEXT
  );
  CREATE INDEX runs_by_start ON runs (started_at);
  CREATE INDEX runs_by_parent ON runs (parent_id);
  CREATE TABLE epochs (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    measurement TEXT,
    PRIMARY KEY (run_id, epoch)
  ) WITHOUT ROWID;
  CREATE TABLE studies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    run_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    objectives TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','exhausted','failed')),
    created_at TEXT NOT NULL
  );
  CREATE TABLE trials (
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running','completed','pruned','failed')),
    params TEXT NOT NULL,
    executions TEXT NOT NULL,
    intermediate TEXT NOT NULL,
    metrics TEXT NOT NULL,
    score REAL,
    best_epoch INTEGER,
    error TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    duration_s REAL,
    measurement TEXT,
    PRIMARY KEY (study_id, number)
  ) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) the store in `dir` and brings its schema up to date.
 * Failures to create or open it are E_STORE_FAILED naming the path.
 */
export function openRunStore(dir: string = DEFAULT_STORE_DIR): RunStore {
  const path = join(dir, STORE_FILE);
  const what = `run store ${dir}`;
  checkOutputDirectory(dir, what);
  ensureDirectory(dir, what);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (err) {
    throw new EcomlError('E_STORE_FAILED', `cannot open the run store at ${path}: ${messageOf(err)}`, { details: { path }, cause: err });
  }
  try {
    guardStore(path, 'open', () => {
      // WAL lets `ecoml runs` read while a training process writes; NORMAL sync is durable enough under WAL.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, path);
    });
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteRunStore(db, path);
}

/** Runs `fn`, turning any non-ecoml failure (SQLite I/O, constraint, closed handle) into E_STORE_FAILED. */
export function guardStore<T>(path: string, op: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof EcomlError) throw err;
    throw new EcomlError('E_STORE_FAILED', `run store ${op} failed (${path}): ${messageOf(err)}`, { details: { path, op }, cause: err });
  }
}

function migrate(db: Database.Database, path: string): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes cannot both migrate.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new EcomlError('E_STORE_FAILED', `the run store at ${path} has schema version ${version}, newer than this ecoml supports (${MIGRATIONS.length})`, {
        details: { path, version, supported: MIGRATIONS.length },
      });
    }
    for (const sql of MIGRATIONS.slice(version)) db.exec(sql);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

interface RunRow {
  id: string;
  kind: RunKind;
  name: string;
  status: RunStatus;
  stop_reason: string | null;
  started_at: string;
  ended_at: string | null;
  parent_id: string | null;
  spec: string | null;
  params: string | null;
  metrics: string | null;
  measurement: string | null;
  model_dir: string | null;
  error: string | null;
}

interface EpochRow {
  run_id: string;
  epoch: number;
  metrics: string;
  measurement: string | null;
}

/**
 * Writes run in IMMEDIATE transactions: a deferred one that reads first cannot upgrade to a write
 * lock under WAL once another process has committed (SQLITE_BUSY_SNAPSHOT, which busy_timeout does
 * not retry).
 */
class SqliteRunStore implements RunStore {
  constructor(
    readonly db: Database.Database,
    readonly path: string,
  ) {}

  createRun(input: CreateRunInput): RunRecord {
    checkMember(RUN_KINDS, input.kind, 'run kind');
    return guardStore(this.path, 'createRun', () =>
      this.db.transaction(() => {
        if (input.parentId !== undefined) this.requireRun(input.parentId);
        const startedAt = new Date();
        let id = newRunId(startedAt);
        while (this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined) id = newRunId(startedAt);
        this.db
          .prepare(
            `INSERT INTO runs (id, kind, name, status, started_at, parent_id, spec, params)
             VALUES (?, ?, ?, 'running', ?, ?, ?, ?)`,
          )
          .run(id, input.kind, input.name, startedAt.toISOString(), input.parentId ?? null, encodeJson(input.spec), encodeJson(input.params));
        return this.requireRun(id);
      }).immediate(),
    );
  }

  addEpoch(runId: string, epoch: number, metrics: Readonly<Record<string, number>>, measurement?: unknown): void {
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw new EcomlError('E_CONFIG_INVALID', `epoch must be a non-negative integer, got ${epoch}`, { details: { runId, epoch } });
    }
    guardStore(this.path, 'addEpoch', () =>
      this.db.transaction(() => {
        this.requireRun(runId);
        this.db
          .prepare(
            `INSERT INTO epochs (run_id, epoch, metrics, measurement) VALUES (?, ?, ?, ?)
             ON CONFLICT (run_id, epoch) DO UPDATE SET metrics = excluded.metrics, measurement = excluded.measurement`,
          )
          .run(runId, epoch, encodeJson(metrics), encodeJson(measurement));
      }).immediate(),
    );
  }

  reopenRun(runId: string): RunRecord {
    return guardStore(this.path, 'reopenRun', () =>
      this.db.transaction(() => {
        this.requireRun(runId);
        this.db.prepare(`UPDATE runs SET status = 'running', ended_at = NULL, stop_reason = NULL, error = NULL WHERE id = ?`).run(runId);
        return this.requireRun(runId);
      }).immediate(),
    );
  }

  finishRun(runId: string, input: FinishRunInput): RunRecord {
    checkMember(FINAL_RUN_STATUSES, input.status, 'final run status');
    return guardStore(this.path, 'finishRun', () =>
      this.db.transaction(() => {
        this.requireRun(runId);
        this.db
          .prepare(
            `UPDATE runs SET status = ?, ended_at = ?, stop_reason = ?,
               metrics = coalesce(?, metrics), measurement = coalesce(?, measurement),
               model_dir = coalesce(?, model_dir), error = coalesce(?, error)
             WHERE id = ?`,
          )
          .run(
            input.status,
            new Date().toISOString(),
            input.stopReason ?? null,
            encodeJson(input.metrics),
            encodeJson(input.measurement),
            input.modelDir ?? null,
            encodeJson(errorToJson(input.error)),
            runId,
          );
        return this.requireRun(runId);
      }).immediate(),
    );
  }

  getRun(idOrPrefix: string): RunRecord {
    return guardStore(this.path, 'getRun', () => {
      const exact = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(idOrPrefix) as RunRow | undefined;
      if (exact !== undefined) return toRunRecord(exact);
      const matches =
        idOrPrefix === ''
          ? []
          : (this.db.prepare('SELECT * FROM runs WHERE substr(id, 1, length(@prefix)) = @prefix ORDER BY id LIMIT 6').all({ prefix: idOrPrefix }) as RunRow[]);
      const [only] = matches;
      if (only !== undefined && matches.length === 1) return toRunRecord(only);
      if (matches.length > 1) {
        const candidates = matches.map((row) => row.id);
        throw new EcomlError('E_RUN_NOT_FOUND', `run id prefix "${idOrPrefix}" is ambiguous; it matches ${candidates.join(', ')}${matches.length > 5 ? ', …' : ''}`, {
          details: { id: idOrPrefix, candidates: candidates.slice(0, 5) },
        });
      }
      throw new EcomlError('E_RUN_NOT_FOUND', `no run with id "${idOrPrefix}" in ${this.path}`, { details: { id: idOrPrefix, path: this.path } });
    });
  }

  listRuns(options: ListRunsOptions = {}): readonly RunRecord[] {
    if (options.kind !== undefined) checkMember(RUN_KINDS, options.kind, 'run kind');
    if (options.status !== undefined) checkMember(RUN_STATUSES, options.status, 'run status');
    if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) {
      throw new EcomlError('E_CONFIG_INVALID', `limit must be a positive integer, got ${options.limit}`, { details: { limit: options.limit } });
    }
    return guardStore(this.path, 'listRuns', () => {
      const rows = this.db
        .prepare(
          `SELECT * FROM runs
           WHERE (@kind IS NULL OR kind = @kind) AND (@status IS NULL OR status = @status) AND (@parentId IS NULL OR parent_id = @parentId)
           ORDER BY started_at DESC, rowid DESC LIMIT @limit`,
        )
        .all({ kind: options.kind ?? null, status: options.status ?? null, parentId: options.parentId ?? null, limit: options.limit ?? -1 }) as RunRow[];
      return Object.freeze(rows.map(toRunRecord));
    });
  }

  epochs(runId: string): readonly EpochRecord[] {
    return guardStore(this.path, 'epochs', () => {
      this.requireRun(runId);
      const rows = this.db.prepare('SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch').all(runId) as EpochRow[];
      return Object.freeze(
        rows.map((row) =>
          Object.freeze({
            runId: row.run_id,
            epoch: row.epoch,
            metrics: decodeJson(row.metrics) as Readonly<Record<string, number>>,
            measurement: decodeJson(row.measurement),
          }),
        ),
      );
    });
  }

  close(): void {
    guardStore(this.path, 'close', () => this.db.close());
  }

  private requireRun(id: string): RunRecord {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (row === undefined) throw new EcomlError('E_RUN_NOT_FOUND', `no run with id "${id}" in ${this.path}`, { details: { id, path: this.path } });
    return toRunRecord(row);
  }
}

function toRunRecord(row: RunRow): RunRecord {
  return deepFreeze({
    id: row.id,
    kind: row.kind,
    name: row.name,
    status: row.status,
    stopReason: row.stop_reason,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    parentId: row.parent_id,
    spec: decodeJson(row.spec),
    params: decodeJson(row.params),
    metrics: decodeJson(row.metrics) as Readonly<Record<string, number>> | null,
    measurement: decodeJson(row.measurement),
    modelDir: row.model_dir,
    error: decodeJson(row.error),
  });
}

/** `run-YYYYMMDD-HHMMSS-xxxx` in UTC: sortable by start, short enough to type, unique via 16 random bits. */
function newRunId(at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `run-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Plain Errors serialise to {}; keep what a reader of the run needs. */
function errorToJson(error: unknown): unknown {
  if (error instanceof EcomlError) return error.toJSON();
  if (error instanceof Error) return { name: error.name, message: error.message };
  return error;
}

function checkMember<T extends string>(allowed: readonly T[], value: string, what: string): asserts value is T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new EcomlError('E_CONFIG_INVALID', `invalid ${what} "${value}"; valid: ${allowed.join(', ')}`, { details: { value, valid: allowed } });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
