import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { sumMeasurements, type Measurement } from '../../src/meter/index.js';
import { SCHEMA_VERSION, STORE_FILE, openRunStore } from '../../src/store/index.js';
import { MIGRATIONS } from '../../src/store/run-store.js';
import type { RunStore } from '../../src/store/index.js';
import { hourMeasurement } from '../meter/outputs-fixtures.js';

let dir: string;
let store: RunStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ecoml-store-'));
  store = openRunStore(join(dir, '.ecoml'));
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EcomlError ? err.code : `not an EcomlError: ${String(err)}`;
  }
  return undefined;
}

describe('openRunStore', () => {
  it('creates <dir>/ecoml.db in WAL mode with foreign keys on', () => {
    expect(store.path).toBe(join(dir, '.ecoml', STORE_FILE));
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('migrates to the current schema version once, and reopening keeps the data', () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
    expect(tables).toEqual(['epochs', 'run_parts', 'runs', 'serve_requests', 'serve_usage', 'studies', 'trials']);
    const run = store.createRun({ kind: 'train', name: 'mnist' });
    store.close();
    store = openRunStore(join(dir, '.ecoml'));
    expect(store.getRun(run.id)).toEqual(run);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('refuses a store written by a newer schema (E_STORE_FAILED)', () => {
    store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    store.close();
    expect(() => openRunStore(join(dir, '.ecoml'))).toThrow(/newer than this ecoml supports/);
    store = openRunStore(join(dir, 'other'));
  });

  it('a directory that cannot be created because a file is in the way is E_PATH_INVALID naming both', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const target = join(file, 'store');
    try {
      openRunStore(target);
      expect.unreachable('should not open');
    } catch (err) {
      expect(err).toBeInstanceOf(EcomlError);
      expect((err as EcomlError).code).toBe('E_PATH_INVALID');
      expect((err as EcomlError).message).toBe(`run store ${target}: ${file} is a file, not a directory`);
      expect((err as EcomlError).details['path']).toBe(file);
    }
  });

  it('a database file that is not SQLite is E_STORE_FAILED', () => {
    const broken = join(dir, 'broken');
    rmSync(broken, { recursive: true, force: true });
    openRunStore(broken).close();
    writeFileSync(join(broken, STORE_FILE), 'garbage '.repeat(1000));
    rmSync(join(broken, `${STORE_FILE}-wal`), { force: true });
    rmSync(join(broken, `${STORE_FILE}-shm`), { force: true });
    expect(codeOf(() => openRunStore(broken))).toBe('E_STORE_FAILED');
  });
});

describe('runs', () => {
  it('creates a running run with a run-YYYYMMDD-HHMMSS-xxxx id, JSON fields parsed back, frozen', () => {
    const run = store.createRun({ kind: 'train', name: 'mnist-cnn', spec: { model: { layers: [{ type: 'dense', units: 10 }] } }, params: { epochs: 3 } });
    expect(run.id).toMatch(/^run-\d{8}-\d{6}-[0-9a-f]{4}$/);
    expect(run).toMatchObject({ kind: 'train', name: 'mnist-cnn', status: 'running', parentId: null, endedAt: null, metrics: null, measurement: null, error: null });
    expect(run.spec).toEqual({ model: { layers: [{ type: 'dense', units: 10 }] } });
    expect(run.params).toEqual({ epochs: 3 });
    expect(Object.isFrozen(run) && Object.isFrozen(run.spec)).toBe(true);
    expect(Math.abs(Date.parse(run.startedAt) - Date.now())).toBeLessThan(60_000);
  });

  it('finishes a run with metrics, measurement, model dir, stop reason and error', () => {
    const run = store.createRun({ kind: 'train', name: 'm' });
    const measurement = { label: 'train', energy: { joules: 120.5, components: [] }, emissions: { kgCo2e: 1e-5 } };
    const done = store.finishRun(run.id, { status: 'stopped', metrics: { loss: 0.1, accuracy: 0.97 }, measurement, modelDir: 'models/m', stopReason: 'early-stopping' });
    expect(done).toMatchObject({ status: 'stopped', metrics: { loss: 0.1, accuracy: 0.97 }, measurement, modelDir: 'models/m', stopReason: 'early-stopping', error: null });
    expect(done.endedAt).not.toBeNull();

    const failed = store.finishRun(store.createRun({ kind: 'predict', name: 'p' }).id, { status: 'failed', error: new EcomlError('E_MODEL_NOT_FOUND', 'no model at x', { details: { path: 'x' } }) });
    expect(failed.error).toEqual({ code: 'E_MODEL_NOT_FOUND', message: 'no model at x', details: { path: 'x' } });
    const plain = store.finishRun(store.createRun({ kind: 'predict', name: 'p' }).id, { status: 'failed', error: new TypeError('bad') });
    expect(plain.error).toEqual({ name: 'TypeError', message: 'bad' });
  });

  it('reopens a stopped run for --resume, keeping its metrics but clearing end, reason and error', () => {
    const run = store.createRun({ kind: 'train', name: 'm' });
    store.finishRun(run.id, { status: 'failed', metrics: { loss: 1 }, error: new TypeError('killed'), stopReason: 'signal' });
    const reopened = store.reopenRun(run.id);
    expect(reopened).toMatchObject({ status: 'running', endedAt: null, stopReason: null, error: null, metrics: { loss: 1 } });
    expect(codeOf(() => store.reopenRun('run-nope'))).toBe('E_RUN_NOT_FOUND');
  });

  it('validates kinds and statuses as E_CONFIG_INVALID', () => {
    expect(codeOf(() => store.createRun({ kind: 'deploy' as never, name: 'x' }))).toBe('E_CONFIG_INVALID');
    const run = store.createRun({ kind: 'train', name: 'x' });
    expect(codeOf(() => store.finishRun(run.id, { status: 'running' as never }))).toBe('E_CONFIG_INVALID');
    expect(codeOf(() => store.listRuns({ limit: 0 }))).toBe('E_CONFIG_INVALID');
  });

  it('unknown runs are E_RUN_NOT_FOUND everywhere', () => {
    expect(codeOf(() => store.getRun('run-nope'))).toBe('E_RUN_NOT_FOUND');
    expect(codeOf(() => store.finishRun('run-nope', { status: 'completed' }))).toBe('E_RUN_NOT_FOUND');
    expect(codeOf(() => store.addEpoch('run-nope', 0, { loss: 1 }))).toBe('E_RUN_NOT_FOUND');
    expect(codeOf(() => store.epochs('run-nope'))).toBe('E_RUN_NOT_FOUND');
    expect(codeOf(() => store.createRun({ kind: 'trial', name: 't', parentId: 'run-nope' }))).toBe('E_RUN_NOT_FOUND');
  });

  it('finds a run by a unique id prefix; an ambiguous one lists the candidates', () => {
    const a = store.createRun({ kind: 'train', name: 'a' });
    const b = store.createRun({ kind: 'train', name: 'b' });
    const unique = [a.id, b.id].map((id, i, ids) => {
      const other = ids[1 - i] as string;
      let n = 1;
      while (other.startsWith(id.slice(0, n))) n++;
      return id.slice(0, n);
    });
    expect(store.getRun(unique[0] as string).id).toBe(a.id);
    expect(store.getRun(unique[1] as string).id).toBe(b.id);
    try {
      store.getRun('run-');
      expect.unreachable('ambiguous');
    } catch (err) {
      expect((err as EcomlError).code).toBe('E_RUN_NOT_FOUND');
      expect((err as EcomlError).details['candidates']).toEqual([a.id, b.id].sort());
    }
    expect(codeOf(() => store.getRun(''))).toBe('E_RUN_NOT_FOUND');
    // LIKE wildcards are not wildcards here.
    expect(codeOf(() => store.getRun('run-%'))).toBe('E_RUN_NOT_FOUND');
  });

  it('lists newest first, filtered by kind, status and parent, with a limit', () => {
    const tune = store.createRun({ kind: 'tune', name: 'study' });
    const trials = [0, 1, 2].map((n) => store.createRun({ kind: 'trial', name: `trial-${n}`, parentId: tune.id, params: { n } }));
    store.finishRun(trials[1]?.id as string, { status: 'completed' });
    const train = store.createRun({ kind: 'train', name: 'train' });
    expect(store.listRuns().map((r) => r.name)).toEqual(['train', 'trial-2', 'trial-1', 'trial-0', 'study']);
    expect(store.listRuns({ kind: 'trial' }).map((r) => r.name)).toEqual(['trial-2', 'trial-1', 'trial-0']);
    expect(store.listRuns({ kind: 'trial', status: 'completed' }).map((r) => r.name)).toEqual(['trial-1']);
    expect(store.listRuns({ parentId: tune.id, limit: 2 }).map((r) => r.name)).toEqual(['trial-2', 'trial-1']);
    expect(store.listRuns({ status: 'failed' })).toEqual([]);
    expect(store.getRun(train.id).parentId).toBeNull();
    expect(Object.isFrozen(store.listRuns())).toBe(true);
  });
});

describe('epochs', () => {
  it('records per-epoch metrics and measurements in order; rewriting an epoch replaces it', () => {
    const run = store.createRun({ kind: 'train', name: 'm' });
    store.addEpoch(run.id, 1, { loss: 0.5 }, { joules: 2 });
    store.addEpoch(run.id, 0, { loss: Number.NaN });
    store.addEpoch(run.id, 1, { loss: 0.4 }, { joules: 3 });
    const epochs = store.epochs(run.id);
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1]);
    expect(epochs[0]?.metrics['loss']).toBeNaN();
    expect(epochs[0]?.measurement).toBeNull();
    expect(epochs[1]).toEqual({ runId: run.id, epoch: 1, metrics: { loss: 0.4 }, measurement: { joules: 3 } });
    expect(Object.isFrozen(epochs[1]?.metrics)).toBe(true);
    expect(codeOf(() => store.addEpoch(run.id, -1, {}))).toBe('E_CONFIG_INVALID');
  });

  it('go with their run when a parent run is deleted (cascade)', () => {
    const parent = store.createRun({ kind: 'tune', name: 's' });
    const child = store.createRun({ kind: 'trial', name: 't', parentId: parent.id });
    store.addEpoch(child.id, 0, { loss: 1 });
    store.db.prepare('DELETE FROM runs WHERE id = ?').run(parent.id);
    expect(store.db.prepare('SELECT count(*) FROM epochs').pluck().get()).toBe(0);
  });
});

describe('failures', () => {
  it('writes after close are E_STORE_FAILED', () => {
    const other = openRunStore(join(dir, 'closed'));
    other.close();
    expect(codeOf(() => other.createRun({ kind: 'train', name: 'x' }))).toBe('E_STORE_FAILED');
  });

  it('a second connection sees committed runs (WAL readers while a writer is open)', () => {
    const run = store.createRun({ kind: 'train', name: 'visible' });
    const reader = new Database(store.path, { readonly: true });
    try {
      expect(reader.prepare('SELECT name FROM runs WHERE id = ?').pluck().get(run.id)).toBe('visible');
    } finally {
      reader.close();
    }
  });
});

describe('parts: each process that works on a run, locked while alive and reaped when gone', () => {
  const HOUR_J = hourMeasurement().energy.joules;
  let now: number;
  const alive = new Set<number>();
  const opened: RunStore[] = [];
  /** The store as seen by process `pid` on `host`, with the test's clock and process table. */
  const storeOf = (pid: number, host = 'h1'): RunStore => {
    const opening = openRunStore(join(dir, '.ecoml'), { pid, host, now: () => now, isProcessAlive: (p) => alive.has(p), heartbeatIntervalMs: 0, staleAfterMs: 60_000 });
    opened.push(opening);
    return opening;
  };
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });

  beforeEach(() => {
    now = Date.parse('2026-12-01T10:00:00Z');
    alive.clear();
    alive.add(100);
    alive.add(200);
  });

  it('records the creating process as part 1, with its pid, host and heartbeat', () => {
    const a = storeOf(100);
    const run = a.createRun({ kind: 'train', name: 'm' });
    expect(run.parts).toEqual([
      { part: 1, pid: 100, host: 'h1', startedAt: '2026-12-01T10:00:00.000Z', heartbeatAt: '2026-12-01T10:00:00.000Z', endedAt: null, status: 'running', measurement: null },
    ]);
    now += 5_000;
    a.heartbeat();
    expect(a.getRun(run.id).parts[0]?.heartbeatAt).toBe('2026-12-01T10:00:05.000Z');
  });

  it('refuses a second resume of a run whose process is alive (E_RUN_LOCKED), on this host or another', () => {
    const a = storeOf(100);
    const b = storeOf(200);
    const remote = storeOf(300, 'h2');
    const run = a.createRun({ kind: 'train', name: 'm' });
    for (const other of [b, remote]) {
      try {
        other.reopenRun(run.id);
        expect.unreachable('a live run must not be resumed twice');
      } catch (err) {
        expect((err as EcomlError).code).toBe('E_RUN_LOCKED');
        expect((err as EcomlError).message).toMatch(new RegExp(`^run ${run.id} is being worked on by pid 100 on h1 \\(last heartbeat 0 s ago\\)`));
      }
    }
    // The refused attempts changed nothing.
    expect(a.getRun(run.id)).toMatchObject({ status: 'running', parts: [{ part: 1, pid: 100 }] });
  });

  it('reaps a run whose process is gone as crashed; a resume takes it over, and the old process may no longer write', () => {
    const a = storeOf(100);
    const b = storeOf(200);
    const run = a.createRun({ kind: 'train', name: 'm' });
    a.addEpoch(run.id, 1, { loss: 1 }, hourMeasurement());
    expect(b.reapRuns()).toEqual([]);
    alive.delete(100);
    const [reaped] = b.reapRuns();
    expect(reaped).toMatchObject({ id: run.id, status: 'crashed', stopReason: 'pid 100 on h1 is gone', endedAt: '2026-12-01T10:00:00.000Z' });
    expect(reaped?.parts[0]).toMatchObject({ status: 'crashed', endedAt: '2026-12-01T10:00:00.000Z' });
    expect(b.listRuns({ status: 'crashed' }).map((r) => r.id)).toEqual([run.id]);
    expect(b.reapRuns()).toEqual([]);

    const resumed = b.reopenRun(run.id);
    expect(resumed).toMatchObject({ status: 'running', stopReason: null, endedAt: null });
    expect(resumed.parts.map((p) => [p.part, p.pid, p.status])).toEqual([
      [1, 100, 'crashed'],
      [2, 200, 'running'],
    ]);
    expect(codeOf(() => a.addEpoch(run.id, 2, { loss: 0.5 }))).toBe('E_RUN_LOCKED');
    expect(codeOf(() => a.finishRun(run.id, { status: 'completed' }))).toBe('E_RUN_LOCKED');
  });

  it('a resume of a running run whose process is gone marks that part crashed and goes on', () => {
    const a = storeOf(100);
    const b = storeOf(200);
    const run = a.createRun({ kind: 'train', name: 'm' });
    alive.delete(100);
    expect(b.reopenRun(run.id).parts.map((p) => p.status)).toEqual(['crashed', 'running']);
  });

  it('from another host only a stale heartbeat counts; on this host a stale heartbeat beats a live (reused) PID', () => {
    const a = storeOf(100);
    const remote = storeOf(300, 'h2');
    const run = a.createRun({ kind: 'train', name: 'm' });
    alive.delete(100);
    // h2 cannot see h1's processes: a fresh heartbeat means alive.
    expect(remote.reapRuns()).toEqual([]);
    now += 59_000;
    a.heartbeat();
    now += 59_000;
    expect(remote.reapRuns()).toEqual([]);
    now += 2_000;
    expect(remote.reapRuns().map((r) => [r.id, r.stopReason])).toEqual([[run.id, 'no heartbeat from pid 100 on h1 for 61 s']]);

    const other = a.createRun({ kind: 'train', name: 'n' });
    alive.add(100);
    now += 61_000;
    expect(storeOf(200).reapRuns().map((r) => r.id)).toEqual([other.id]);
  });

  it('a heartbeat is only for the runs this store took up: a reused PID does not keep a dead run alive', () => {
    const dead = storeOf(100).createRun({ kind: 'train', name: 'dead' });
    // A later process that happens to get PID 100.
    const reused = storeOf(100);
    const live = reused.createRun({ kind: 'train', name: 'live' });
    now += 61_000;
    reused.heartbeat();
    expect(storeOf(200).reapRuns().map((r) => r.id)).toEqual([dead.id]);
    expect(reused.getRun(live.id).status).toBe('running');
  });

  it('a process that was only stalled, reaped, takes its run back at its next beat', () => {
    const a = storeOf(100);
    const run = a.createRun({ kind: 'train', name: 'm' });
    now += 61_000;
    expect(storeOf(200).reapRuns().map((r) => r.status)).toEqual(['crashed']);
    a.heartbeat();
    expect(a.getRun(run.id)).toMatchObject({ status: 'running', endedAt: null, stopReason: null, parts: [{ status: 'running', endedAt: null }] });
    now += 61_000;
    a.addEpoch(run.id, 1, { loss: 1 });
    expect(storeOf(200).reapRuns()).toEqual([]);
    expect(a.finishRun(run.id, { status: 'completed' }).status).toBe('completed');
    // A finished run is no longer this store's to beat for.
    a.heartbeat();
    expect(a.getRun(run.id).parts[0]?.status).toBe('completed');
  });

  it("a run's energy is the sum of its parts: a finished part's own total, a crashed part's epochs", () => {
    const a = storeOf(100);
    const b = storeOf(200);
    const run = a.createRun({ kind: 'train', name: 'm' });
    a.addEpoch(run.id, 1, { loss: 1 }, hourMeasurement());
    a.addEpoch(run.id, 2, { loss: 0.9 }, hourMeasurement());
    expect((a.getRun(run.id).measurement as Measurement).energy.joules).toBeCloseTo(2 * HOUR_J, 6);
    alive.delete(100);
    b.reopenRun(run.id);
    b.addEpoch(run.id, 3, { loss: 0.8 }, hourMeasurement());
    // While part 2 runs, its energy so far is its epochs'.
    expect((b.getRun(run.id).measurement as Measurement).energy.joules).toBeCloseTo(3 * HOUR_J, 6);
    const total = hourMeasurement({ label: 'total' });
    const done = b.finishRun(run.id, { status: 'completed', measurement: sumMeasurements('total', [total, total]) });
    const parts = done.parts.map((p) => (p.measurement as Measurement).energy.joules);
    expect(parts[0]).toBeCloseTo(2 * HOUR_J, 6);
    expect(parts[1]).toBeCloseTo(2 * HOUR_J, 6);
    expect((done.measurement as Measurement).energy.joules).toBeCloseTo(4 * HOUR_J, 6);
    expect(b.epochs(run.id).map((e) => e.epoch)).toEqual([1, 2, 3]);
  });

  it('a timer keeps the heartbeat of the runs this process works on, and stops on close', async () => {
    const ticking = openRunStore(join(dir, '.ecoml'), { heartbeatIntervalMs: 20 });
    try {
      const run = ticking.createRun({ kind: 'train', name: 'm' });
      const first = run.parts[0]?.heartbeatAt;
      await vi.waitFor(() => expect(ticking.getRun(run.id).parts[0]?.heartbeatAt).not.toBe(first), { timeout: 10_000, interval: 25 });
    } finally {
      ticking.close();
    }
  });
});

describe('migration 2 (parts, crashed)', () => {
  it('keeps a version-1 store: each run becomes its one part with its energy, epochs belong to it, cascades still hold', () => {
    const path = join(dir, 'v1');
    store.close();
    mkdirSync(path);
    const db = new Database(join(path, STORE_FILE));
    db.exec(MIGRATIONS[0] as string);
    db.pragma('user_version = 1');
    const m = JSON.stringify(hourMeasurement());
    db.prepare(`INSERT INTO runs (id, kind, name, status, started_at, ended_at, measurement) VALUES ('run-old', 'train', 'old', 'completed', '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z', ?)`).run(m);
    db.prepare(`INSERT INTO runs (id, kind, name, status, started_at) VALUES ('run-left', 'train', 'left', 'running', '2026-01-02T00:00:00.000Z')`).run();
    db.prepare(`INSERT INTO epochs (run_id, epoch, metrics, measurement) VALUES ('run-left', 1, '{"loss":1}', ?)`).run(m);
    db.close();

    store = openRunStore(path, { pid: 100, host: 'h1', now: () => Date.parse('2026-12-01T00:00:00Z'), heartbeatIntervalMs: 0 });
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    const old = store.getRun('run-old');
    expect(old.measurement).toEqual(hourMeasurement());
    expect(old.parts).toEqual([
      { part: 1, pid: null, host: null, startedAt: '2026-01-01T00:00:00.000Z', heartbeatAt: '2026-01-01T01:00:00.000Z', endedAt: '2026-01-01T01:00:00.000Z', status: 'completed', measurement: hourMeasurement() },
    ]);
    // A run an older ecoml left running has no PID to ask: its old heartbeat (its start) makes it crashed.
    expect(store.getRun('run-left').measurement).toEqual(hourMeasurement());
    expect(store.reapRuns().map((r) => [r.id, r.status])).toEqual([['run-left', 'crashed']]);
    store.db.prepare(`DELETE FROM runs WHERE id = 'run-left'`).run();
    expect(store.db.prepare('SELECT count(*) FROM epochs').pluck().get()).toBe(0);
    expect(store.db.prepare(`SELECT count(*) FROM run_parts WHERE run_id = 'run-left'`).pluck().get()).toBe(0);
  });
});
