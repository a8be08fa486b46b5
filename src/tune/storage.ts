/**
 * The study storage seam: a few primitives (create/read studies, create/update/read trials) that a
 * memory map, the SQLite run store or a shared journal can implement. Derived queries such as the
 * best trial are written once, on top of the primitives.
 * Every trial returned is a deep-frozen snapshot that later writes never change.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { HpValue } from '../models/spec.js';
import { bestTrials } from './trial.js';
import type { FrozenTrial, Objective, TrialAttrs } from './trial.js';

/** 'exhausted': the sampler kept proposing values already tried. */
export type StudyStatus = 'running' | 'completed' | 'exhausted' | 'failed';

export type Objectives = readonly [Objective, ...Objective[]];

export interface StudyRecord {
  readonly id: number;
  readonly name: string;
  readonly objectives: Objectives;
  /** How the study was set up (space, sampler, pruner, seed, budgets), as JSON: what --resume and reports read. */
  readonly config?: unknown;
  readonly status: StudyStatus;
  /** The run-store run (kind 'tune') this study belongs to, if any. */
  readonly runId?: string;
  readonly createdAt: string;
}

export interface CreateStudyInput {
  readonly name: string;
  readonly objectives: Objectives;
  readonly config?: unknown;
  readonly runId?: string;
}

/** Fields a trial update may replace; the rest keep their values. */
export type TrialUpdate = Partial<
  Pick<
    FrozenTrial,
    | 'values'
    | 'state'
    | 'executions'
    | 'metrics'
    | 'score'
    | 'scores'
    | 'bestEpoch'
    | 'summary'
    | 'violation'
    | 'attrs'
    | 'intermediateValues'
    | 'error'
    | 'endedAt'
    | 'durationS'
    | 'energy'
  >
>;

export interface StudyStorage {
  createStudy(input: CreateStudyInput): StudyRecord;
  /** E_RUN_NOT_FOUND when there is no such study. */
  getStudy(studyId: number): StudyRecord;
  setStudyStatus(studyId: number, status: StudyStatus): StudyRecord;
  /** A new running trial numbered after the study's last one. */
  createTrial(studyId: number, values: Readonly<Record<string, HpValue>>, attrs?: TrialAttrs): FrozenTrial;
  /** E_STORE_FAILED once the trial has left the running state: finished trials are immutable. */
  updateTrial(studyId: number, trialNumber: number, update: TrialUpdate): FrozenTrial;
  /**
   * Puts a running trial back to the state of one just created (same number, values and attrs),
   * for a resumed study to run it again; E_STORE_FAILED when it has finished.
   */
  restartTrial(studyId: number, trialNumber: number): FrozenTrial;
  /** By trial number. */
  getTrials(studyId: number): readonly FrozenTrial[];
  /** Newest first. */
  listStudies(): readonly StudyRecord[];
  /** The study and its trials; E_RUN_NOT_FOUND when there is no such study. */
  deleteStudy(studyId: number): void;
}

/** The best completed trial of the study for its (first) objective. */
export function bestTrial(storage: StudyStorage, studyId: number): FrozenTrial | undefined {
  const [objective] = storage.getStudy(studyId).objectives;
  return bestTrials(storage.getTrials(studyId), objective)[0];
}

/** The errors every implementation reports the same way (the conformance suite checks them). */
export const storageErrors = {
  studyNotFound: (studyId: number) => new EcomlError('E_RUN_NOT_FOUND', `no study with id ${studyId}`, { details: { studyId } }),
  trialNotFound: (studyId: number, trialNumber: number) =>
    new EcomlError('E_RUN_NOT_FOUND', `no trial ${trialNumber} in study ${studyId}`, { details: { studyId, trialNumber } }),
  trialFinished: (studyId: number, trialNumber: number, state: string) =>
    new EcomlError('E_STORE_FAILED', `trial ${trialNumber} of study ${studyId} is already ${state} and cannot change`, {
      details: { studyId, trialNumber, state },
    }),
};
