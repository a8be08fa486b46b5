/**
 * The run store: one SQLite file (`<dir>/ecoml.db`, WAL mode) recording every train, tune, evaluate,
 * predict and quickstart run, its per-epoch metrics and its energy measurement, plus the tuning
 * studies and trials (tables used by SqliteStudyStorage in src/tune).
 * The schema evolves through numbered migrations tracked in `PRAGMA user_version`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { EcomlError } from '../errors.js';
import { sumMeasurements } from '../meter/totals.js';
import type { Measurement } from '../meter/types.js';
import { checkOutputDirectory, ensureDirectory } from '../util/fs.js';
import { decodeJson, deepFreeze, encodeJson } from './json.js';

export const DEFAULT_STORE_DIR = '.ecoml';

/** The run store directory: the option, else $ECOML_STORE, else `.ecoml`, relative to `cwd`. */
export function resolveStoreDir(cwd: string, option: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return resolve(cwd, option ?? env.ECOML_STORE ?? DEFAULT_STORE_DIR);
}
export const STORE_FILE = 'ecoml.db';

export const RUN_KINDS = ['train', 'tune', 'evaluate', 'predict', 'quickstart', 'trial', 'serve', 'compress', 'advise'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const FINAL_RUN_STATUSES = ['completed', 'failed', 'stopped'] as const;
export type FinalRunStatus = (typeof FINAL_RUN_STATUSES)[number];
/** `crashed`: the process working on the run is gone (found by reapRuns or a --resume); --resume continues it. */
export const RUN_STATUSES = ['running', ...FINAL_RUN_STATUSES, 'crashed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** How often a process marks the runs it works on as alive (and each epoch's end does too). */
const HEARTBEAT_INTERVAL_MS = 15_000;
/** A run whose last heartbeat is older than this is taken for crashed, whatever its PID says (PIDs are reused). */
const HEARTBEAT_STALE_MS = 120_000;

/**
 * One process's share of a run: the first run of it, or a --resume. The last part's process owns the
 * run while it is `running`.
 */
export interface RunPart {
  /** 1-based, in order of start. */
  readonly part: number;
  /** Null for parts recorded before ecoml kept them. */
  readonly pid: number | null;
  readonly host: string | null;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  readonly endedAt: string | null;
  readonly status: RunStatus;
  /** What this process spent: its own total once it finished, else the sum of the epochs it recorded. */
  readonly measurement: unknown;
}

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
  /** The run's energy: its one part's measurement, or the sum of every part's (a resumed run). */
  readonly measurement: unknown;
  readonly modelDir: string | null;
  readonly error: unknown;
  readonly parts: readonly RunPart[];
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
  /** What this process spent on the run (a Measurement); the run's energy is the sum over its parts. */
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

/** Who this process is, the clock and the liveness probe: injectable so tests need not sleep or kill. */
export interface RunStoreOptions {
  readonly pid?: number;
  readonly host?: string;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Whether a process of this host is running (default: signal 0; EPERM means alive). */
  readonly isProcessAlive?: (pid: number) => boolean;
  /** 0 turns the heartbeat timer off (epoch ends and heartbeat() still beat). */
  readonly heartbeatIntervalMs?: number;
  readonly staleAfterMs?: number;
}

export interface RunStore {
  /** The database file. */
  readonly path: string;
  /** The open connection, for the study storage that shares this file. */
  readonly db: Database.Database;
  /** Creates a running run, owned by this process (its first part). */
  createRun(input: CreateRunInput): RunRecord;
  /** Records (or rewrites, on resume) one epoch's metrics, in this process's part; it counts as a heartbeat. */
  addEpoch(runId: string, epoch: number, metrics: Readonly<Record<string, number>>, measurement?: unknown): void;
  finishRun(runId: string, input: FinishRunInput): RunRecord;
  /**
   * Takes a run up again (`train --resume`) as a new part owned by this process, and clears its end
   * time, stop reason and error. A run still worked on by a live process is E_RUN_LOCKED; one whose
   * process is gone is marked crashed first.
   */
  reopenRun(runId: string): RunRecord;
  /** The energy so far of a long run this process works on (a serving session); it counts as a heartbeat. */
  recordProgress(runId: string, measurement: unknown): void;
  /** Marks every running run whose process is gone as crashed; returns them. */
  reapRuns(): readonly RunRecord[];
  /** Marks the runs this process works on as alive now (a timer does it every HEARTBEAT_INTERVAL_MS). */
  heartbeat(): void;
  /** By full id or by a prefix that matches exactly one run. */
  getRun(idOrPrefix: string): RunRecord;
  /** Newest first. */
  listRuns(options?: ListRunsOptions): readonly RunRecord[];
  epochs(runId: string): readonly EpochRecord[];
  close(): void;
}

/**
 * Migration i brings the schema from user_version i to i+1. Never edit one that has shipped: append.
 * Exported for the test that migrates a store written before the latest one.
 */
export const MIGRATIONS: readonly string[] = [
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
  // 1 → 2: runs may be 'crashed'; each process that works on a run (the first, each --resume) is a part
  // with its PID, host, heartbeat and energy, and each epoch belongs to the part that ran it. The
  // run's energy moves to its parts (a run before this had one). SQLite cannot alter a CHECK, so
  // runs is rebuilt; foreign keys are off while migrations run.
  `
  CREATE TABLE runs_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train','tune','evaluate','predict','quickstart','trial')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped','crashed')),
    stop_reason TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    spec TEXT,
    params TEXT,
    metrics TEXT,
    model_dir TEXT,
    error TEXT
  );
  INSERT INTO runs_new (id, kind, name, status, stop_reason, started_at, ended_at, parent_id, spec, params, metrics, model_dir, error)
    SELECT id, kind, name, status, stop_reason, started_at, ended_at, parent_id, spec, params, metrics, model_dir, error FROM runs;
  CREATE TABLE run_parts (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    part INTEGER NOT NULL,
    pid INTEGER,
    host TEXT,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    ended_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped','crashed')),
    measurement TEXT,
    PRIMARY KEY (run_id, part)
  ) WITHOUT ROWID;
  INSERT INTO run_parts (run_id, part, started_at, heartbeat_at, ended_at, status, measurement)
    SELECT id, 1, started_at, coalesce(ended_at, started_at), ended_at, status, measurement FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_new RENAME TO runs;
  CREATE INDEX runs_by_start ON runs (started_at);
  CREATE INDEX runs_by_parent ON runs (parent_id);
  ALTER TABLE epochs ADD COLUMN part INTEGER NOT NULL DEFAULT 1;
  `,
  // 2 → 3: serving sessions are runs ('serve'); each keeps its energy per model version (added up
  // window by window) and a log of its requests, each with its share of the energy.
  `
  CREATE TABLE runs_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train','tune','evaluate','predict','quickstart','trial','serve')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped','crashed')),
    stop_reason TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    spec TEXT,
    params TEXT,
    metrics TEXT,
    model_dir TEXT,
    error TEXT
  );
  INSERT INTO runs_new SELECT id, kind, name, status, stop_reason, started_at, ended_at, parent_id, spec, params, metrics, model_dir, error FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_new RENAME TO runs;
  CREATE INDEX runs_by_start ON runs (started_at);
  CREATE INDEX runs_by_parent ON runs (parent_id);
  CREATE TABLE serve_usage (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    inferences INTEGER NOT NULL,
    compute_s REAL NOT NULL,
    joules REAL NOT NULL,
    joules_low REAL NOT NULL,
    joules_high REAL NOT NULL,
    kg_co2e REAL NOT NULL,
    method TEXT NOT NULL,
    PRIMARY KEY (run_id, model, version)
  ) WITHOUT ROWID;
  CREATE TABLE serve_requests (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    model TEXT NOT NULL,
    version INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    request_id TEXT,
    status INTEGER NOT NULL,
    inferences INTEGER NOT NULL,
    queue_ms REAL NOT NULL,
    compute_ms REAL NOT NULL,
    joules REAL NOT NULL,
    kg_co2e REAL NOT NULL,
    method TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) WITHOUT ROWID;
  `,
  // 3 → 4: `ecoml compress` runs ('compress').
  `
  CREATE TABLE runs_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train','tune','evaluate','predict','quickstart','trial','serve','compress')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped','crashed')),
    stop_reason TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    spec TEXT,
    params TEXT,
    metrics TEXT,
    model_dir TEXT,
    error TEXT
  );
  INSERT INTO runs_new SELECT id, kind, name, status, stop_reason, started_at, ended_at, parent_id, spec, params, metrics, model_dir, error FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_new RENAME TO runs;
  CREATE INDEX runs_by_start ON runs (started_at);
  CREATE INDEX runs_by_parent ON runs (parent_id);
  `,
  // 4 → 5: `ecoml advise` runs ('advise'); multi-objective, constrained and scheduled studies, and
  // what tune --resume needs (study config; trial scores, summary, violation, attrs).
  `
  CREATE TABLE runs_new (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('train','tune','evaluate','predict','quickstart','trial','serve','compress','advise')),
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running','completed','failed','stopped','crashed')),
    stop_reason TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    parent_id TEXT REFERENCES runs(id) ON DELETE CASCADE,
    spec TEXT,
    params TEXT,
    metrics TEXT,
    model_dir TEXT,
    error TEXT
  );
  INSERT INTO runs_new SELECT id, kind, name, status, stop_reason, started_at, ended_at, parent_id, spec, params, metrics, model_dir, error FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_new RENAME TO runs;
  CREATE INDEX runs_by_start ON runs (started_at);
  CREATE INDEX runs_by_parent ON runs (parent_id);
  ALTER TABLE studies ADD COLUMN config TEXT;
  ALTER TABLE trials ADD COLUMN scores TEXT;
  ALTER TABLE trials ADD COLUMN summary TEXT;
  ALTER TABLE trials ADD COLUMN violation REAL;
  ALTER TABLE trials ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}';
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) the store in `dir` and brings its schema up to date.
 * Failures to create or open it are E_STORE_FAILED naming the path.
 */
export function openRunStore(dir: string = DEFAULT_STORE_DIR, options: RunStoreOptions = {}): RunStore {
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
      db.pragma('busy_timeout = 5000');
      // Foreign keys (which better-sqlite3 turns on by default) are off while migrating: a migration
      // that rebuilds a table must not cascade its DROP into the tables that refer to it.
      db.pragma('foreign_keys = OFF');
      migrate(db, path);
      db.pragma('foreign_keys = ON');
    });
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteRunStore(db, path, options);
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
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new EcomlError('E_STORE_FAILED', `migrating the run store at ${path} left ${broken.length} broken reference(s)`, { details: { path } });
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
  model_dir: string | null;
  error: string | null;
}

interface PartRow {
  run_id: string;
  part: number;
  pid: number | null;
  host: string | null;
  started_at: string;
  heartbeat_at: string;
  ended_at: string | null;
  status: RunStatus;
  measurement: string | null;
}

interface EpochRow {
  run_id: string;
  epoch: number;
  part: number;
  metrics: string;
  measurement: string | null;
}

/** Signal 0 checks a PID without touching the process: ESRCH means gone, EPERM alive (someone else's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Writes run in IMMEDIATE transactions: a deferred one that reads first cannot upgrade to a write
 * lock under WAL once another process has committed (SQLITE_BUSY_SNAPSHOT, which busy_timeout does
 * not retry).
 */
class SqliteRunStore implements RunStore {
  private readonly pid: number;
  private readonly host: string;
  private readonly now: () => number;
  private readonly isProcessAlive: (pid: number) => boolean;
  private readonly staleAfterMs: number;
  private readonly timer: NodeJS.Timeout | undefined;
  /**
   * The runs this connection took up and has not finished: the only ones it beats for. Beating for
   * every part with this PID would keep a dead process's run alive once its PID is reused.
   */
  private readonly owned = new Set<string>();

  constructor(
    readonly db: Database.Database,
    readonly path: string,
    options: RunStoreOptions,
  ) {
    this.pid = options.pid ?? process.pid;
    this.host = options.host ?? hostname();
    this.now = options.now ?? Date.now;
    this.isProcessAlive = options.isProcessAlive ?? processAlive;
    this.staleAfterMs = options.staleAfterMs ?? HEARTBEAT_STALE_MS;
    const interval = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
    this.timer =
      interval > 0
        ? setInterval(() => {
            try {
              this.heartbeat();
            } catch {
              // A missed beat (store busy): the next one, or the next epoch's end, writes it.
            }
          }, interval).unref()
        : undefined;
  }

  createRun(input: CreateRunInput): RunRecord {
    checkMember(RUN_KINDS, input.kind, 'run kind');
    const run = guardStore(this.path, 'createRun', () =>
      this.db.transaction(() => {
        if (input.parentId !== undefined) this.requireRun(input.parentId);
        const startedAt = new Date(this.now());
        let id = newRunId(startedAt);
        while (this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined) id = newRunId(startedAt);
        this.db
          .prepare(
            `INSERT INTO runs (id, kind, name, status, started_at, parent_id, spec, params)
             VALUES (?, ?, ?, 'running', ?, ?, ?, ?)`,
          )
          .run(id, input.kind, input.name, startedAt.toISOString(), input.parentId ?? null, encodeJson(input.spec), encodeJson(input.params));
        this.startPart(id, 1);
        return this.requireRun(id);
      }).immediate(),
    );
    this.owned.add(run.id);
    return run;
  }

  addEpoch(runId: string, epoch: number, metrics: Readonly<Record<string, number>>, measurement?: unknown): void {
    if (!Number.isInteger(epoch) || epoch < 0) {
      throw new EcomlError('E_CONFIG_INVALID', `epoch must be a non-negative integer, got ${epoch}`, { details: { runId, epoch } });
    }
    guardStore(this.path, 'addEpoch', () =>
      this.db.transaction(() => {
        this.requireRun(runId);
        const part = this.ownPart(runId);
        this.db
          .prepare(
            `INSERT INTO epochs (run_id, epoch, part, metrics, measurement) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (run_id, epoch) DO UPDATE SET part = excluded.part, metrics = excluded.metrics, measurement = excluded.measurement`,
          )
          .run(runId, epoch, part.part, encodeJson(metrics), encodeJson(measurement));
        this.beat(part);
      }).immediate(),
    );
  }

  reopenRun(runId: string): RunRecord {
    const run = guardStore(this.path, 'reopenRun', () =>
      this.db.transaction(() => {
        const run = this.requireRun(runId);
        const last = this.lastPart(runId);
        if (run.status === 'running' && last !== undefined) {
          const gone = this.goneReason(last);
          if (gone === undefined) {
            const seconds = Math.round((this.now() - Date.parse(last.heartbeat_at)) / 1000);
            throw new EcomlError(
              'E_RUN_LOCKED',
              `run ${runId} is being worked on by pid ${last.pid ?? '?'} on ${last.host ?? 'an unknown host'} (last heartbeat ${seconds} s ago); wait for it to end or stop it, then --resume`,
              { details: { id: runId, pid: last.pid, host: last.host, heartbeatAt: last.heartbeat_at } },
            );
          }
          this.markCrashed(last, gone);
        }
        this.startPart(runId, (last?.part ?? 0) + 1);
        this.db.prepare(`UPDATE runs SET status = 'running', ended_at = NULL, stop_reason = NULL, error = NULL WHERE id = ?`).run(runId);
        return this.requireRun(runId);
      }).immediate(),
    );
    this.owned.add(run.id);
    return run;
  }

  finishRun(runId: string, input: FinishRunInput): RunRecord {
    checkMember(FINAL_RUN_STATUSES, input.status, 'final run status');
    const run = guardStore(this.path, 'finishRun', () =>
      this.db.transaction(() => {
        this.requireRun(runId);
        const part = this.ownPart(runId);
        const endedAt = this.nowIso();
        this.db
          .prepare(
            `UPDATE runs SET status = ?, ended_at = ?, stop_reason = ?,
               metrics = coalesce(?, metrics), model_dir = coalesce(?, model_dir), error = coalesce(?, error)
             WHERE id = ?`,
          )
          .run(input.status, endedAt, input.stopReason ?? null, encodeJson(input.metrics), input.modelDir ?? null, encodeJson(errorToJson(input.error)), runId);
        this.db
          .prepare('UPDATE run_parts SET status = ?, ended_at = ?, heartbeat_at = ?, measurement = coalesce(?, measurement) WHERE run_id = ? AND part = ?')
          .run(input.status, endedAt, endedAt, encodeJson(input.measurement), runId, part.part);
        return this.requireRun(runId);
      }).immediate(),
    );
    this.owned.delete(run.id);
    return run;
  }

  recordProgress(runId: string, measurement: unknown): void {
    guardStore(this.path, 'recordProgress', () =>
      this.db.transaction(() => {
        const part = this.ownPart(runId);
        this.db.prepare('UPDATE run_parts SET measurement = ? WHERE run_id = ? AND part = ?').run(encodeJson(measurement), runId, part.part);
        this.beat(part);
      }).immediate(),
    );
  }

  reapRuns(): readonly RunRecord[] {
    return guardStore(this.path, 'reapRuns', () =>
      this.db.transaction(() => {
        const reaped: RunRecord[] = [];
        for (const { id } of this.db.prepare(`SELECT id FROM runs WHERE status = 'running' ORDER BY started_at`).all() as { id: string }[]) {
          const last = this.lastPart(id);
          const gone = last === undefined ? undefined : this.goneReason(last);
          if (last === undefined || gone === undefined) continue;
          this.markCrashed(last, gone);
          reaped.push(this.requireRun(id));
        }
        return Object.freeze(reaped);
      }).immediate(),
    );
  }

  heartbeat(): void {
    if (this.owned.size === 0) return;
    guardStore(this.path, 'heartbeat', () =>
      this.db.transaction(() => {
        for (const id of this.owned) {
          const part = this.lastPart(id);
          // Taken over by a --resume after this process was presumed dead: nothing of ours to beat.
          if (part !== undefined && part.pid === this.pid && part.host === this.host) this.beat(part);
        }
      }).immediate(),
    );
  }

  getRun(idOrPrefix: string): RunRecord {
    return guardStore(this.path, 'getRun', () => {
      const exact = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(idOrPrefix) as RunRow | undefined;
      if (exact !== undefined) return this.toRunRecord(exact);
      const matches =
        idOrPrefix === ''
          ? []
          : (this.db.prepare('SELECT * FROM runs WHERE substr(id, 1, length(@prefix)) = @prefix ORDER BY id LIMIT 6').all({ prefix: idOrPrefix }) as RunRow[]);
      const [only] = matches;
      if (only !== undefined && matches.length === 1) return this.toRunRecord(only);
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
      return Object.freeze(rows.map((row) => this.toRunRecord(row)));
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
    clearInterval(this.timer);
    guardStore(this.path, 'close', () => this.db.close());
  }

  private nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  private startPart(runId: string, part: number): void {
    const now = this.nowIso();
    this.db
      .prepare(`INSERT INTO run_parts (run_id, part, pid, host, started_at, heartbeat_at, status) VALUES (?, ?, ?, ?, ?, ?, 'running')`)
      .run(runId, part, this.pid, this.host, now, now);
  }

  /**
   * Marks this process's part alive now. A part reaped while its process was only stalled (longer
   * than the stale limit without a beat) is running again, and so is its run.
   */
  private beat(part: PartRow): void {
    if (part.status !== 'running' && part.status !== 'crashed') return;
    this.db.prepare(`UPDATE run_parts SET heartbeat_at = ?, status = 'running', ended_at = NULL WHERE run_id = ? AND part = ?`).run(this.nowIso(), part.run_id, part.part);
    if (part.status === 'crashed') {
      this.db.prepare(`UPDATE runs SET status = 'running', ended_at = NULL, stop_reason = NULL WHERE id = ? AND status = 'crashed'`).run(part.run_id);
    }
  }

  private lastPart(runId: string): PartRow | undefined {
    return this.db.prepare('SELECT * FROM run_parts WHERE run_id = ? ORDER BY part DESC LIMIT 1').get(runId) as PartRow | undefined;
  }

  /** The run's current part, which must be this process's: one presumed crashed and taken over must not write over its successor. */
  private ownPart(runId: string): PartRow {
    const part = this.lastPart(runId);
    if (part !== undefined && part.pid === this.pid && part.host === this.host) return part;
    throw new EcomlError('E_RUN_LOCKED', `run ${runId} is no longer this process's: it is worked on by pid ${part?.pid ?? '?'} on ${part?.host ?? 'an unknown host'}`, {
      details: { id: runId, pid: part?.pid ?? null, host: part?.host ?? null },
    });
  }

  /**
   * Why the part's process counts as gone, or undefined while it is alive. On this host the PID
   * answers (and a stale heartbeat means the PID was reused); from another host only the heartbeat can.
   */
  private goneReason(part: PartRow): string | undefined {
    const sinceS = Math.round((this.now() - Date.parse(part.heartbeat_at)) / 1000);
    const who = `pid ${part.pid ?? '?'} on ${part.host ?? 'an unknown host'}`;
    if (part.pid !== null && part.host === this.host && !this.isProcessAlive(part.pid)) return `${who} is gone`;
    if (sinceS * 1000 > this.staleAfterMs) return `no heartbeat from ${who} for ${sinceS} s`;
    return undefined;
  }

  private markCrashed(part: PartRow, reason: string): void {
    this.db.prepare(`UPDATE run_parts SET status = 'crashed', ended_at = heartbeat_at WHERE run_id = ? AND part = ?`).run(part.run_id, part.part);
    this.db
      .prepare(`UPDATE runs SET status = 'crashed', ended_at = ?, stop_reason = ? WHERE id = ? AND status = 'running'`)
      .run(part.heartbeat_at, reason, part.run_id);
  }

  private requireRun(id: string): RunRecord {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (row === undefined) throw new EcomlError('E_RUN_NOT_FOUND', `no run with id "${id}" in ${this.path}`, { details: { id, path: this.path } });
    return this.toRunRecord(row);
  }

  private toRunRecord(row: RunRow): RunRecord {
    const parts = (this.db.prepare('SELECT * FROM run_parts WHERE run_id = ? ORDER BY part').all(row.id) as PartRow[]).map((part) => this.toRunPart(part));
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
      measurement: totalOf(parts.map((p) => p.measurement)),
      modelDir: row.model_dir,
      error: decodeJson(row.error),
      parts,
    });
  }

  private toRunPart(row: PartRow): RunPart {
    const epochs = row.measurement === null ? (this.db.prepare('SELECT measurement FROM epochs WHERE run_id = ? AND part = ? ORDER BY epoch').pluck().all(row.run_id, row.part) as (string | null)[]) : [];
    return {
      part: row.part,
      pid: row.pid,
      host: row.host,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      endedAt: row.ended_at,
      status: row.status,
      measurement: row.measurement === null ? totalOf(epochs.map(decodeJson)) : decodeJson(row.measurement),
    };
  }
}

/**
 * The sum of the measurements given (nulls skipped): null for none, the one itself for one. Parts
 * and epochs hold what the meter measured, so they add up as Measurements.
 */
function totalOf(measurements: readonly unknown[]): unknown {
  const present = measurements.filter((m) => m !== null && m !== undefined);
  if (present.length <= 1) return present[0] ?? null;
  return sumMeasurements('run', present as Measurement[]);
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
