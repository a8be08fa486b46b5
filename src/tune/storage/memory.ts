/**
 * Study storage in a Map, for tests and for searches that need no record. Inputs are cloned and
 * frozen on the way in, so callers can neither change stored trials nor be changed by later writes.
 * @module
 */
import type { HpValue } from '../../models/spec.js';
import { deepFreeze } from '../../store/json.js';
import { storageErrors } from '../storage.js';
import type { CreateStudyInput, StudyRecord, StudyStatus, StudyStorage, TrialUpdate } from '../storage.js';
import type { FrozenTrial } from '../trial.js';

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

  createTrial(studyId: number, values: Readonly<Record<string, HpValue>>): FrozenTrial {
    const { trials } = this.entry(studyId);
    const trial = frozenCopy<FrozenTrial>({
      number: trials.length,
      values,
      state: 'running',
      executions: [],
      metrics: [],
      intermediateValues: [],
      startedAt: new Date().toISOString(),
    });
    trials.push(trial);
    return trial;
  }

  updateTrial(studyId: number, trialNumber: number, update: TrialUpdate): FrozenTrial {
    const { trials } = this.entry(studyId);
    const current = trials[trialNumber];
    if (current === undefined) throw storageErrors.trialNotFound(studyId, trialNumber);
    if (current.state !== 'running') throw storageErrors.trialFinished(studyId, trialNumber, current.state);
    const next = frozenCopy<FrozenTrial>({ ...current, ...update });
    trials[trialNumber] = next;
    return next;
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

/** Detached, frozen, and without undefined-valued keys (SQL NULLs read back as absent keys too). */
function frozenCopy<T extends object>(value: T): T {
  const defined = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  return deepFreeze(structuredClone(defined)) as T;
}
