import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRunStore } from '../../src/store/index.js';
import { MemoryStudyStorage } from '../../src/tune/storage/memory.js';
import { SqliteStudyStorage } from '../../src/tune/storage/sqlite.js';
import { runStudyStorageSuite } from './storage.suite.js';

function sqliteFixture() {
  const dir = mkdtempSync(join(tmpdir(), 'ecoml-study-'));
  const store = openRunStore(dir);
  return {
    store,
    storage: new SqliteStudyStorage(store),
    dispose: () => {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

runStudyStorageSuite('memory', () => ({ storage: new MemoryStudyStorage() }));
runStudyStorageSuite('sqlite', sqliteFixture);

describe('SqliteStudyStorage', () => {
  it('attaches a study to its tune run, and trials survive reopening the store', () => {
    const fixture = sqliteFixture();
    try {
      const run = fixture.store.createRun({ kind: 'tune', name: 'mnist' });
      const study = fixture.storage.createStudy({ name: 'mnist', objectives: [{ name: 'val_loss', direction: 'min' }], runId: run.id });
      expect(study.runId).toBe(run.id);
      fixture.storage.createTrial(study.id, { units: 64 });
      const reopened = openRunStore(join(fixture.store.path, '..'));
      try {
        expect(new SqliteStudyStorage(reopened).getTrials(study.id).map((t) => t.values)).toEqual([{ units: 64 }]);
      } finally {
        reopened.close();
      }
    } finally {
      fixture.dispose();
    }
  });

  it('rejects a study for a run that does not exist', () => {
    const fixture = sqliteFixture();
    try {
      expect(() => fixture.storage.createStudy({ name: 's', objectives: [{ name: 'o', direction: 'max' }], runId: 'run-nope' })).toThrow(/no run with id "run-nope"/);
    } finally {
      fixture.dispose();
    }
  });
});
