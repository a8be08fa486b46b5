/**
 * The conformance suite every StudyStorage runs: the primitives, numbering, immutability of what
 * it returns, JSON fidelity (NaN metrics, opaque energy records) and the shared derived queries.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { bestTrial } from '../../src/tune/storage.js';
import type { StudyStorage } from '../../src/tune/storage.js';

export interface StorageFixture {
  readonly storage: StudyStorage;
  readonly dispose?: () => void;
}

export function runStudyStorageSuite(name: string, makeFixture: () => StorageFixture): void {
  describe(`StudyStorage conformance: ${name}`, () => {
    let fixture: StorageFixture;
    let storage: StudyStorage;
    beforeEach(() => {
      fixture = makeFixture();
      storage = fixture.storage;
    });
    afterEach(() => fixture.dispose?.());

    const objectives = [{ name: 'val_accuracy', direction: 'max' }] as const;

    function expectCode(fn: () => unknown, code: string): void {
      try {
        fn();
      } catch (err) {
        expect(err).toBeInstanceOf(EcomlError);
        expect((err as EcomlError).code).toBe(code);
        return;
      }
      expect.unreachable(`expected ${code}`);
    }

    it('creates and reads studies', () => {
      const a = storage.createStudy({ name: 'mnist', objectives });
      const b = storage.createStudy({ name: 'mnist', objectives: [{ name: 'val_loss', direction: 'min' }] });
      expect(a.id).not.toBe(b.id);
      expect(a).toMatchObject({ name: 'mnist', objectives, status: 'running' });
      expect(Date.parse(a.createdAt)).not.toBeNaN();
      expect(storage.getStudy(b.id)).toEqual(b);
      expect(storage.setStudyStatus(a.id, 'exhausted').status).toBe('exhausted');
      expect(storage.getStudy(a.id).status).toBe('exhausted');
      expect(Object.isFrozen(storage.getStudy(a.id).objectives)).toBe(true);
    });

    it('reports a missing study or trial as E_RUN_NOT_FOUND', () => {
      expectCode(() => storage.getStudy(999), 'E_RUN_NOT_FOUND');
      expectCode(() => storage.getTrials(999), 'E_RUN_NOT_FOUND');
      expectCode(() => storage.createTrial(999, {}), 'E_RUN_NOT_FOUND');
      const study = storage.createStudy({ name: 's', objectives });
      expectCode(() => storage.updateTrial(study.id, 0, { state: 'failed' }), 'E_RUN_NOT_FOUND');
    });

    it('numbers trials from 0 within each study', () => {
      const a = storage.createStudy({ name: 'a', objectives });
      const b = storage.createStudy({ name: 'b', objectives });
      expect([storage.createTrial(a.id, { u: 1 }), storage.createTrial(a.id, { u: 2 }), storage.createTrial(b.id, { u: 3 })].map((t) => t.number)).toEqual([0, 1, 0]);
      expect(storage.getTrials(a.id).map((t) => t.values)).toEqual([{ u: 1 }, { u: 2 }]);
    });

    it('creates running trials and applies updates field by field', () => {
      const study = storage.createStudy({ name: 's', objectives });
      const created = storage.createTrial(study.id, { units: 64, lr: 0.001, act: 'relu', bn: true });
      expect(created).toMatchObject({ number: 0, state: 'running', executions: [], metrics: [], intermediateValues: [] });
      expect(created.score).toBeUndefined();
      storage.updateTrial(study.id, 0, { intermediateValues: [{ step: 0, value: 0.5 }] });
      const finished = storage.updateTrial(study.id, 0, {
        state: 'completed',
        executions: [{ seed: 7, metricsByEpoch: [{ val_accuracy: 0.5 }, { val_accuracy: 0.7 }], extra: { modelDir: 'm/0' } }],
        metrics: [{ val_accuracy: 0.5 }, { val_accuracy: 0.7 }],
        score: 0.7,
        bestEpoch: 1,
        endedAt: '2026-01-01T00:00:01.000Z',
        durationS: 1.25,
        energy: { joules: 12.5, components: [{ name: 'cpu', joules: 12.5 }] },
      });
      expect(finished).toEqual({
        ...created,
        state: 'completed',
        executions: [{ seed: 7, metricsByEpoch: [{ val_accuracy: 0.5 }, { val_accuracy: 0.7 }], extra: { modelDir: 'm/0' } }],
        metrics: [{ val_accuracy: 0.5 }, { val_accuracy: 0.7 }],
        intermediateValues: [{ step: 0, value: 0.5 }],
        score: 0.7,
        bestEpoch: 1,
        endedAt: '2026-01-01T00:00:01.000Z',
        durationS: 1.25,
        energy: { joules: 12.5, components: [{ name: 'cpu', joules: 12.5 }] },
      });
      expect(storage.getTrials(study.id)).toEqual([finished]);
    });

    it('keeps non-finite metrics (a diverged loss) as numbers', () => {
      const study = storage.createStudy({ name: 's', objectives });
      storage.createTrial(study.id, {});
      const trial = storage.updateTrial(study.id, 0, { metrics: [{ loss: Number.NaN, val_loss: Infinity, x: -Infinity }], state: 'failed', error: 'diverged' });
      expect(trial.metrics[0]?.['loss']).toBeNaN();
      expect(storage.getTrials(study.id)[0]?.metrics).toEqual([{ loss: Number.NaN, val_loss: Infinity, x: -Infinity }]);
      expect(storage.getTrials(study.id)[0]?.error).toBe('diverged');
    });

    it('returns deep-frozen snapshots that later writes and caller mutations do not touch', () => {
      const study = storage.createStudy({ name: 's', objectives });
      const values = { units: 64 };
      const first = storage.createTrial(study.id, values);
      values.units = 128;
      expect(first.values).toEqual({ units: 64 });
      expect(Object.isFrozen(first) && Object.isFrozen(first.values) && Object.isFrozen(first.metrics)).toBe(true);
      const metrics = [{ loss: 1 }];
      const updated = storage.updateTrial(study.id, 0, { metrics });
      metrics[0] = { loss: 99 };
      expect(updated.metrics).toEqual([{ loss: 1 }]);
      expect(Object.isFrozen(updated.metrics[0])).toBe(true);
      expect(first.metrics).toEqual([]);
      expect(Object.isFrozen(storage.getTrials(study.id))).toBe(true);
    });

    it('refuses to change a finished trial (E_STORE_FAILED)', () => {
      const study = storage.createStudy({ name: 's', objectives });
      storage.createTrial(study.id, {});
      storage.updateTrial(study.id, 0, { state: 'pruned' });
      expectCode(() => storage.updateTrial(study.id, 0, { score: 1 }), 'E_STORE_FAILED');
      expect(storage.getTrials(study.id)[0]?.state).toBe('pruned');
    });

    it('answers bestTrial from the primitives, for either direction', () => {
      for (const direction of ['max', 'min'] as const) {
        const study = storage.createStudy({ name: direction, objectives: [{ name: 'o', direction }] });
        expect(bestTrial(storage, study.id)).toBeUndefined();
        for (const [score, state] of [
          [0.2, 'completed'],
          [0.9, 'completed'],
          [undefined, 'failed'],
          [0.5, 'completed'],
        ] as const) {
          const { number } = storage.createTrial(study.id, { s: score ?? -1 });
          storage.updateTrial(study.id, number, { state, ...(score === undefined ? {} : { score }) });
        }
        expect(bestTrial(storage, study.id)?.number).toBe(direction === 'max' ? 1 : 0);
      }
    });

    it('keeps a study config and trial attrs, scores, summary and violation as given', () => {
      const config = { sampler: 'tpe', space: { units: { type: 'int', min: 1, max: 4 } }, seed: 3 };
      const study = storage.createStudy({ name: 'mo', objectives: [...objectives, { name: 'joules', direction: 'min' }], config });
      expect(storage.getStudy(study.id).config).toEqual(config);
      const trial = storage.createTrial(study.id, { units: 2 }, { epochs: 4, parent: 1, bracket: 'b' });
      expect(trial.attrs).toEqual({ epochs: 4, parent: 1, bracket: 'b' });
      const updated = storage.updateTrial(study.id, trial.number, {
        values: { units: 2, lr: 0.1 },
        scores: [0.9, 12.5],
        summary: { joules: 12.5, epochs: 4 },
        violation: 0,
        intermediateValues: [{ step: 1, value: 0.5, values: [0.5, 3] }],
      });
      expect(updated).toMatchObject({ values: { units: 2, lr: 0.1 }, scores: [0.9, 12.5], summary: { joules: 12.5, epochs: 4 }, violation: 0 });
      expect(storage.getTrials(study.id)[0]).toEqual(updated);
      expect(storage.createTrial(study.id, {}).attrs).toBeUndefined();
    });

    it('restarts a running trial under its number with its values and attrs, and refuses a finished one', () => {
      const study = storage.createStudy({ name: 'r', objectives });
      const trial = storage.createTrial(study.id, { units: 3 }, { epochs: 2 });
      storage.updateTrial(study.id, trial.number, { intermediateValues: [{ step: 1, value: 0.2 }], executions: [{ seed: 1, metricsByEpoch: [] }] });
      const restarted = storage.restartTrial(study.id, trial.number);
      expect(restarted).toMatchObject({ number: 0, state: 'running', values: { units: 3 }, attrs: { epochs: 2 }, intermediateValues: [], executions: [] });
      storage.updateTrial(study.id, trial.number, { state: 'completed', score: 1 });
      expectCode(() => storage.restartTrial(study.id, trial.number), 'E_STORE_FAILED');
      expectCode(() => storage.restartTrial(study.id, 9), 'E_RUN_NOT_FOUND');
    });

    it('lists studies newest first and deletes one with its trials', () => {
      const a = storage.createStudy({ name: 'a', objectives });
      const b = storage.createStudy({ name: 'b', objectives });
      storage.createTrial(a.id, {});
      expect(storage.listStudies().map((s) => s.name)).toEqual(['b', 'a']);
      storage.deleteStudy(a.id);
      expect(storage.listStudies().map((s) => s.id)).toEqual([b.id]);
      expectCode(() => storage.getTrials(a.id), 'E_RUN_NOT_FOUND');
      expectCode(() => storage.deleteStudy(a.id), 'E_RUN_NOT_FOUND');
    });
  });
}
