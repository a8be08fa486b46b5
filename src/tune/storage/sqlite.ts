/**
 * Study storage in the run store's SQLite file (tables `studies` and `trials`), so a search's trials
 * sit next to the runs they produced and survive the process. Every write is one transaction.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { HpValue } from '../../models/spec.js';
import { decodeJson, deepFreeze, encodeJson, guardStore } from '../../store/index.js';
import type { RunStore } from '../../store/index.js';
import { storageErrors } from '../storage.js';
import type { CreateStudyInput, Objectives, StudyRecord, StudyStatus, StudyStorage, TrialUpdate } from '../storage.js';
import type { ExecutionRecord, FrozenTrial, IntermediateValue, TrialAttrs, TrialState } from '../trial.js';

interface StudyRow {
  id: number;
  name: string;
  run_id: string | null;
  objectives: string;
  config: string | null;
  status: StudyStatus;
  created_at: string;
}

interface TrialRow {
  study_id: number;
  number: number;
  state: TrialState;
  params: string;
  executions: string;
  intermediate: string;
  metrics: string;
  score: number | null;
  best_epoch: number | null;
  error: string | null;
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  measurement: string | null;
  scores: string | null;
  summary: string | null;
  violation: number | null;
  attrs: string;
}

export class SqliteStudyStorage implements StudyStorage {
  constructor(private readonly store: Pick<RunStore, 'db' | 'path'>) {}

  createStudy(input: CreateStudyInput): StudyRecord {
    return this.write('createStudy', () => {
      if (input.runId !== undefined && this.store.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(input.runId) === undefined) {
        throw new EcomlError('E_RUN_NOT_FOUND', `no run with id "${input.runId}" to attach the study to`, { details: { id: input.runId } });
      }
      const { lastInsertRowid } = this.store.db
        .prepare(`INSERT INTO studies (name, run_id, objectives, config, status, created_at) VALUES (?, ?, ?, ?, 'running', ?)`)
        .run(input.name, input.runId ?? null, encodeJson(input.objectives), input.config === undefined ? null : encodeJson(input.config), new Date().toISOString());
      return this.requireStudy(Number(lastInsertRowid));
    });
  }

  getStudy(studyId: number): StudyRecord {
    return guardStore(this.store.path, 'getStudy', () => this.requireStudy(studyId));
  }

  setStudyStatus(studyId: number, status: StudyStatus): StudyRecord {
    return this.write('setStudyStatus', () => {
      this.requireStudy(studyId);
      this.store.db.prepare('UPDATE studies SET status = ? WHERE id = ?').run(status, studyId);
      return this.requireStudy(studyId);
    });
  }

  createTrial(studyId: number, values: Readonly<Record<string, HpValue>>, attrs: TrialAttrs = {}): FrozenTrial {
    return this.write('createTrial', () => {
      this.requireStudy(studyId);
      const { next } = this.store.db.prepare('SELECT coalesce(max(number) + 1, 0) AS next FROM trials WHERE study_id = ?').get(studyId) as { next: number };
      this.store.db
        .prepare(
          `INSERT INTO trials (study_id, number, state, params, executions, intermediate, metrics, started_at, attrs)
           VALUES (?, ?, 'running', ?, '[]', '[]', '[]', ?, ?)`,
        )
        .run(studyId, next, encodeJson(values), new Date().toISOString(), encodeJson(attrs));
      return this.requireTrial(studyId, next);
    });
  }

  restartTrial(studyId: number, trialNumber: number): FrozenTrial {
    return this.write('restartTrial', () => {
      const current = this.requireTrial(studyId, trialNumber);
      if (current.state !== 'running') throw storageErrors.trialFinished(studyId, trialNumber, current.state);
      this.store.db
        .prepare(
          `UPDATE trials SET executions = '[]', intermediate = '[]', metrics = '[]', score = NULL, scores = NULL, best_epoch = NULL, summary = NULL,
             violation = NULL, error = NULL, ended_at = NULL, duration_s = NULL, measurement = NULL, started_at = ?
           WHERE study_id = ? AND number = ?`,
        )
        .run(new Date().toISOString(), studyId, trialNumber);
      return this.requireTrial(studyId, trialNumber);
    });
  }

  listStudies(): readonly StudyRecord[] {
    return guardStore(this.store.path, 'listStudies', () => {
      const rows = this.store.db.prepare('SELECT * FROM studies ORDER BY id DESC').all() as StudyRow[];
      return Object.freeze(rows.map(toStudyRecord));
    });
  }

  deleteStudy(studyId: number): void {
    this.write('deleteStudy', () => {
      this.requireStudy(studyId);
      this.store.db.prepare('DELETE FROM trials WHERE study_id = ?').run(studyId);
      this.store.db.prepare('DELETE FROM studies WHERE id = ?').run(studyId);
    });
  }

  updateTrial(studyId: number, trialNumber: number, update: TrialUpdate): FrozenTrial {
    return this.write('updateTrial', () => {
      const current = this.requireTrial(studyId, trialNumber);
      if (current.state !== 'running') throw storageErrors.trialFinished(studyId, trialNumber, current.state);
      const next: FrozenTrial = { ...current, ...update };
      this.store.db
        .prepare(
          `UPDATE trials SET params = @values, state = @state, executions = @executions, intermediate = @intermediate, metrics = @metrics,
             score = @score, scores = @scores, best_epoch = @bestEpoch, summary = @summary, violation = @violation, attrs = @attrs,
             error = @error, ended_at = @endedAt, duration_s = @durationS, measurement = @energy
           WHERE study_id = @studyId AND number = @number`,
        )
        .run({
          studyId,
          number: trialNumber,
          values: encodeJson(next.values),
          state: next.state,
          scores: next.scores === undefined ? null : encodeJson(next.scores),
          summary: next.summary === undefined ? null : encodeJson(next.summary),
          violation: next.violation ?? null,
          attrs: encodeJson(next.attrs ?? {}),
          executions: encodeJson(next.executions),
          intermediate: encodeJson(next.intermediateValues),
          metrics: encodeJson(next.metrics),
          score: next.score ?? null,
          bestEpoch: next.bestEpoch ?? null,
          error: next.error ?? null,
          endedAt: next.endedAt ?? null,
          durationS: next.durationS ?? null,
          energy: encodeJson(next.energy),
        });
      return this.requireTrial(studyId, trialNumber);
    });
  }

  getTrials(studyId: number): readonly FrozenTrial[] {
    return guardStore(this.store.path, 'getTrials', () => {
      this.requireStudy(studyId);
      const rows = this.store.db.prepare('SELECT * FROM trials WHERE study_id = ? ORDER BY number').all(studyId) as TrialRow[];
      return Object.freeze(rows.map(toFrozenTrial));
    });
  }

  private write<T>(op: string, fn: () => T): T {
    return guardStore(this.store.path, op, () => this.store.db.transaction(fn).immediate());
  }

  private requireStudy(studyId: number): StudyRecord {
    const row = this.store.db.prepare('SELECT * FROM studies WHERE id = ?').get(studyId) as StudyRow | undefined;
    if (row === undefined) throw storageErrors.studyNotFound(studyId);
    return toStudyRecord(row);
  }

  private requireTrial(studyId: number, trialNumber: number): FrozenTrial {
    const row = this.store.db.prepare('SELECT * FROM trials WHERE study_id = ? AND number = ?').get(studyId, trialNumber) as TrialRow | undefined;
    if (row === undefined) {
      this.requireStudy(studyId);
      throw storageErrors.trialNotFound(studyId, trialNumber);
    }
    return toFrozenTrial(row);
  }
}

function toStudyRecord(row: StudyRow): StudyRecord {
  return deepFreeze({
    id: row.id,
    name: row.name,
    objectives: decodeJson(row.objectives) as Objectives,
    ...(row.config === null ? {} : { config: decodeJson(row.config) }),
    status: row.status,
    ...(row.run_id === null ? {} : { runId: row.run_id }),
    createdAt: row.created_at,
  });
}

/** NULL columns become absent keys, matching what the memory storage returns. */
function toFrozenTrial(row: TrialRow): FrozenTrial {
  return deepFreeze({
    number: row.number,
    values: decodeJson(row.params) as Readonly<Record<string, HpValue>>,
    state: row.state,
    executions: decodeJson(row.executions) as readonly ExecutionRecord[],
    metrics: decodeJson(row.metrics) as FrozenTrial['metrics'],
    intermediateValues: decodeJson(row.intermediate) as readonly IntermediateValue[],
    startedAt: row.started_at,
    ...(row.score === null ? {} : { score: row.score }),
    ...(row.scores === null ? {} : { scores: decodeJson(row.scores) as readonly number[] }),
    ...(row.summary === null ? {} : { summary: decodeJson(row.summary) as Readonly<Record<string, number>> }),
    ...(row.violation === null ? {} : { violation: row.violation }),
    ...(row.attrs === '{}' ? {} : { attrs: decodeJson(row.attrs) as TrialAttrs }),
    ...(row.best_epoch === null ? {} : { bestEpoch: row.best_epoch }),
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
    ...(row.duration_s === null ? {} : { durationS: row.duration_s }),
    ...(row.measurement === null ? {} : { energy: decodeJson(row.measurement) }),
  });
}
