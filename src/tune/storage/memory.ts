/**
 * Study storage in a Map, for tests and for searches that need no record. Inputs are cloned and
 * frozen on the way in, so callers can neither change stored trials nor be changed by later writes.
 * @module
 */
import type { HpValue } from '../../models/spec.js';
import { deepFreeze } from '../../store/json.js';
import { storageErrors } from '../storage.js';
import type { CreateStudyInput, StudyRecord, StudyStatus, StudyStorage, TrialUpdate } from '../storage.js';
import type { FrozenTrial, TrialAttrs } from '../trial.js';

export class MemoryStudyStorage implements StudyStorage {
  private readonly studies = new Map<number, { record: StudyRecord; trials: FrozenTrial[] }>();
  private nextId = 1;

  createStudy(input: CreateStudyInput): StudyRecord {
    const record = frozenCopy({ ...input, id: this.nextId++, status: 'running' as const, createdAt: new Date().toISOString() });
    this.studies.set(record.id, { record, trials: [] });
    return record;
  }

  getStudy(studyId: number): StudyRecord {
    return this.entry(studyId).record;
  }

  setStudyStatus(studyId: number, status: StudyStatus): StudyRecord {
    const entry = this.entry(studyId);
    entry.record = frozenCopy({ ...entry.record, status });
    return entry.record;
  }

  createTrial(studyId: number, values: Readonly<Record<string, HpValue>>, attrs: TrialAttrs = {}): FrozenTrial {
    const { trials } = this.entry(studyId);
    const trial = fresh(trials.length, values, attrs);
    trials.push(trial);
    return trial;
  }

  restartTrial(studyId: number, trialNumber: number): FrozenTrial {
    const current = this.running(studyId, trialNumber);
    const trial = fresh(trialNumber, current.values, current.attrs ?? {});
    this.entry(studyId).trials[trialNumber] = trial;
    return trial;
  }

  listStudies(): readonly StudyRecord[] {
    return Object.freeze([...this.studies.values()].map((entry) => entry.record).reverse());
  }

  deleteStudy(studyId: number): void {
    this.entry(studyId);
    this.studies.delete(studyId);
  }

  updateTrial(studyId: number, trialNumber: number, update: TrialUpdate): FrozenTrial {
    const next = frozenCopy<FrozenTrial>({ ...this.running(studyId, trialNumber), ...update });
    this.entry(studyId).trials[trialNumber] = next;
    return next;
  }

  private running(studyId: number, trialNumber: number): FrozenTrial {
    const current = this.entry(studyId).trials[trialNumber];
    if (current === undefined) throw storageErrors.trialNotFound(studyId, trialNumber);
    if (current.state !== 'running') throw storageErrors.trialFinished(studyId, trialNumber, current.state);
    return current;
  }

  getTrials(studyId: number): readonly FrozenTrial[] {
    return Object.freeze([...this.entry(studyId).trials]);
  }

  private entry(studyId: number): { record: StudyRecord; trials: FrozenTrial[] } {
    const entry = this.studies.get(studyId);
    if (entry === undefined) throw storageErrors.studyNotFound(studyId);
    return entry;
  }
}

function fresh(number: number, values: Readonly<Record<string, HpValue>>, attrs: TrialAttrs): FrozenTrial {
  return frozenCopy<FrozenTrial>({
    number,
    values,
    state: 'running',
    executions: [],
    metrics: [],
    intermediateValues: [],
    startedAt: new Date().toISOString(),
    // Matches the SQLite storage, which reads an empty attrs column back as no key.
    ...(Object.keys(attrs).length === 0 ? {} : { attrs }),
  });
}

/** Detached, frozen, and without undefined-valued keys (SQL NULLs read back as absent keys too). */
function frozenCopy<T extends object>(value: T): T {
  const defined = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  return deepFreeze(structuredClone(defined)) as T;
}
