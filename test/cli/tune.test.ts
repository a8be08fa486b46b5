import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRunStore } from '../../src/store/index.js';
import { SqliteStudyStorage } from '../../src/tune/index.js';
import { REPO_ROOT, cli, cliProcessArgs, tempDir } from './helpers.js';

/** A small MLP whose hidden width and learning rate are tuned: trials of a fraction of a second. */
async function tuneSpec(dir: string, extra: string[] = []): Promise<string> {
  const path = join(dir, 'mlp-tune.yaml');
  await writeFile(
    path,
    [
      'name: mlp-tune',
      'data: { source: mnist }',
      'model:',
      '  input: [28, 28, 1]',
      '  layers:',
      '    - { type: flatten }',
      '    - { type: dense, units: { hp: units }, activation: relu }',
      '    - { type: dense, units: 10, activation: softmax }',
      'compile: { optimizer: { type: adam, learningRate: { hp: lr } }, loss: sparse_categorical_crossentropy, metrics: [accuracy] }',
      'train: { epochs: 3, batchSize: 64, seed: 1 }',
      'tune:',
      '  maxTrials: 6',
      '  seed: 7',
      ...extra,
      '  space:',
      '    units: { type: int, min: 8, max: 64, step: 8 }',
      '    lr: { type: float, min: 0.0001, max: 0.01, sampling: log }',
      '',
    ].join('\n'),
  );
  return path;
}

const LIMITS = ['--train-limit', '600', '--test-limit', '200'];

interface TrialJson {
  number: number;
  state: string;
  values: Record<string, number>;
  score?: number;
  scores?: number[];
  epochs?: number;
  parent?: number;
  violation?: number;
  joules?: number;
}

interface TuneJson {
  study_id: number;
  sampler: string;
  pruner: string;
  status: string;
  trials: TrialJson[];
  best?: TrialJson;
  model_dir?: string;
  report: {
    energy: { joules: number; trials: number; by_state: Record<string, number> };
    saved_by_early_stopping: { joules: number; epochs_run: number; epochs_not_run: number; full_epochs: number; method: string };
    front: { trial: number }[];
    best: { objective: string; trial: number; feasible: boolean }[];
  };
  evaluation?: unknown;
}

describe('ecoml tune', () => {
  it('runs the default strategy (TPE + ASHA): pruned trials, what they saved counted from epochs not run, the best model saved', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const run = await cli(['tune', spec, ...LIMITS, '--json'], cwd);
    expect(run.code, run.stderr).toBe(0);
    const r = run.json<TuneJson>();
    expect([r.sampler, r.pruner]).toEqual(['tpe', 'asha']);
    expect(r.trials).toHaveLength(6);
    const epochs = r.trials.map((t) => t.epochs ?? 0);
    expect(r.trials.some((t) => t.state === 'pruned')).toBe(true);
    for (const t of r.trials) {
      if (t.state === 'completed') expect(t.epochs).toBe(3);
      else expect(t.epochs).toBeLessThan(3);
    }
    const run_ = epochs.reduce((a, b) => a + b, 0);
    expect(r.report.saved_by_early_stopping).toMatchObject({ epochs_run: run_, epochs_not_run: 6 * 3 - run_, full_epochs: 18 });
    expect(r.report.saved_by_early_stopping.joules).toBeGreaterThan(0);
    expect(r.report.saved_by_early_stopping.method).toMatch(/^estimated: epochs not run/);
    expect(r.report.energy.joules).toBeCloseTo(r.trials.reduce((s, t) => s + (t.joules ?? 0), 0), 9);
    expect(r.best?.state).toBe('completed');
    expect(r.model_dir && existsSync(join(r.model_dir, 'ecoml.json'))).toBe(true);
    expect(r.evaluation).toBeDefined();
  });

  it('--sampler random --pruner none keeps the seed’s random search: every trial to the end, Keras Tuner’s draws', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const r = (await cli(['tune', spec, ...LIMITS, '--sampler', 'random', '--pruner', 'none', '--max-trials', '3', '--json'], cwd)).json<TuneJson>();
    expect(r.trials.map((t) => [t.state, t.epochs])).toEqual([
      ['completed', 3],
      ['completed', 3],
      ['completed', 3],
    ]);
    expect(r.report.saved_by_early_stopping.joules).toBe(0);
    // TPE starts from the same draws: its first trials are random search's for the seed.
    const tpe = (await cli(['tune', spec, ...LIMITS, '--pruner', 'none', '--max-trials', '3', '--json'], cwd)).json<TuneJson>();
    expect(tpe.trials.map((t) => t.values)).toEqual(r.trials.map((t) => t.values));
  });

  it('Hyperband promotes trials that continue their parent’s checkpoint (Keras Tuner brackets for 3 epochs)', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const run = await cli(['tune', spec, ...LIMITS, '--sampler', 'random', '--pruner', 'hyperband', '--json'], cwd);
    expect(run.code, run.stderr).toBe(0);
    const r = run.json<TuneJson>();
    // max_epochs 3, factor 3: brackets [(3 at 1 epoch), (1 at 3)] and [(2 at 3)].
    expect(r.trials).toHaveLength(6);
    const promoted = r.trials.filter((t) => t.parent !== undefined);
    expect(promoted).toHaveLength(1);
    const [child] = promoted;
    const parent = r.trials[child?.parent as number];
    expect(child?.values).toEqual(parent?.values);
    // The promotion trains epochs 2 and 3 only: epoch 1 comes from the parent's checkpoint.
    expect([parent?.epochs, child?.epochs]).toEqual([1, 2]);
    expect(run.stderr).toMatch(new RegExp(`trial ${child?.number}: .*\\(epochs 1→3, continuing trial ${parent?.number}\\)`));
    // Five configurations (the promotion continues one): 15 epochs had each trained to the end.
    const epochsRun = r.trials.reduce((s, t) => s + (t.epochs ?? 0), 0);
    expect(r.report.saved_by_early_stopping).toMatchObject({ full_epochs: 15, epochs_run: epochsRun, epochs_not_run: 15 - epochsRun });
    // Checkpoints only live while the study runs.
    expect(existsSync(join(cwd, '.ecoml', 'checkpoints', `study-${r.study_id}`))).toBe(false);
  });

  it('optimises several objectives under a constraint and reports the Pareto front', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const run = await cli(['tune', spec, ...LIMITS, '--sampler', 'random', '--pruner', 'none', '--objective', 'val_accuracy:max,params,latency_ms', '--constraint', 'val_accuracy>=0.5', '--json'], cwd);
    expect(run.code, run.stderr).toBe(0);
    const r = run.json<TuneJson & { objectives: { name: string; direction: string }[] }>();
    expect(r.objectives).toEqual([
      { name: 'val_accuracy', direction: 'max' },
      { name: 'params', direction: 'min' },
      { name: 'latency_ms', direction: 'min' },
    ]);
    for (const t of r.trials) {
      const units = t.values.units as number;
      expect(t.scores?.[1]).toBe(784 * units + units + 10 * units + 10);
      expect(t.scores?.[2]).toBeGreaterThan(0);
      expect(t.violation).toBe(Math.max(0, 0.5 - (t.scores?.[0] as number)));
    }
    const feasible = r.trials.filter((t) => t.violation === 0).map((t) => t.number);
    expect(r.report.front.length).toBeGreaterThan(0);
    for (const row of r.report.front) expect(feasible).toContain(row.trial);
    expect(r.report.best.map((b) => b.objective)).toEqual(['val_accuracy', 'params', 'latency_ms']);
  });

  it('lists, shows, exports and deletes studies', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const tuned = (await cli(['tune', spec, ...LIMITS, '--max-trials', '3', '--export-csv', 'trials.csv', '--json'], cwd)).json<TuneJson>();
    const csv = await readFile(join(cwd, 'trials.csv'), 'utf8');
    expect(csv.split('\n')[0]).toMatch(/^number,state,params_units,params_lr,values_val_accuracy/);
    expect(csv.trim().split('\n')).toHaveLength(4);

    const list = (await cli(['studies', 'list', '--json'], cwd)).json<{ studies: { id: number; name: string; trials: number; sampler: string }[] }>();
    expect(list.studies).toEqual([expect.objectContaining({ id: tuned.study_id, name: 'mlp-tune', trials: 3, sampler: 'tpe' })]);
    const show = await cli(['studies', 'show', String(tuned.study_id), '--export-json', 'study.json', '--json'], cwd);
    expect(show.code, show.stderr).toBe(0);
    const exported = JSON.parse(await readFile(join(cwd, 'study.json'), 'utf8')) as { trials: TrialJson[]; report: TuneJson['report'] };
    expect(exported.trials.map((t) => t.number)).toEqual([0, 1, 2]);
    expect(exported.report.energy.trials).toBe(3);
    expect((await cli(['studies', 'show', String(tuned.study_id)], cwd)).stdout).toMatch(/saved by early stopping/);

    expect((await cli(['studies', 'delete', String(tuned.study_id), '--json'], cwd)).json()).toEqual({ deleted: tuned.study_id, name: 'mlp-tune', trials: 3 });
    const missing = await cli(['studies', 'show', String(tuned.study_id), '--json'], cwd);
    expect([missing.code, missing.json<{ error: { code: string } }>().error.code]).toEqual([4, 'E_RUN_NOT_FOUND']);
  });

  it('resumes a study killed with SIGKILL: finished trials kept, the interrupted one re-run under its number, none duplicated', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const args = ['tune', spec, '--train-limit', '6000', '--test-limit', '200', '--sampler', 'random', '--pruner', 'none', '--max-trials', '6', '--epochs', '2'];
    // The uninterrupted study, for its values and scores.
    const whole = (await cli([...args, '--store', 'whole', '--json'], cwd)).json<TuneJson>();

    // Its own process (in the repository, where tsx resolves), with everything it writes under cwd.
    const child = spawn(process.execPath, cliProcessArgs([...args, '--out', join(cwd, 'killed-best')]), {
      cwd: REPO_ROOT,
      env: { ...process.env, ECOML_STORE: join(cwd, 'killed') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        // Two trials done and the third started: kill it mid-trial.
        if ((stderr.match(/score /g) ?? []).length >= 2 && /trial 2: units=/.test(stderr)) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`tune exited before it could be killed:\n${stderr}`)));
    });
    await new Promise((resolve) => child.once('close', resolve));

    const store = openRunStore(join(cwd, 'killed'));
    const before = new SqliteStudyStorage(store).getTrials(1);
    store.close();
    expect(before.filter((t) => t.state === 'completed').length).toBeGreaterThanOrEqual(2);
    expect(before.at(-1)?.state).toBe('running');

    const resumed = await cli(['tune', spec, '--resume', '--store', 'killed', '--json'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = resumed.json<TuneJson & { resumed: boolean }>();
    expect(r.resumed).toBe(true);
    expect(r.study_id).toBe(1);
    expect(r.trials.map((t) => t.number)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.trials.every((t) => t.state === 'completed')).toBe(true);
    expect(r.trials.map((t) => t.values)).toEqual(whole.trials.map((t) => t.values));
    // Finished trials are not run again; the resumed process starts at the interrupted one.
    const finished = before.filter((t) => t.state === 'completed');
    for (const t of finished) expect(r.trials[t.number]?.score).toBe(t.score);
    expect(resumed.stderr).not.toMatch(new RegExp(`^trial ${finished[0]?.number}: `, 'm'));
    expect(resumed.stderr).toMatch(new RegExp(`^trial ${before.at(-1)?.number}: `, 'm'));

    const again = await cli(['tune', spec, '--resume', '--store', 'killed', '--json'], cwd);
    expect([again.code, again.json<{ error: { code: string } }>().error.code]).toEqual([4, 'E_RUN_NOT_FOUND']);
  });

  it('refuses bad strategies, objectives and flag combinations with one coded line', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const cases: [string[], string, RegExp][] = [
      [['--sampler', 'cmaes'], 'E_UNKNOWN_NAME', /unknown sampler "cmaes"; valid: grid, nsga2, random, tpe, tpe-multivariate/],
      [['--pruner', 'patient'], 'E_UNKNOWN_NAME', /unknown pruner "patient"; valid: .*asha.*hyperband.*median.*none/],
      [['--constraint', 'val_accuracy > 0.9'], 'E_CONFIG_INVALID', /constraint "val_accuracy > 0.9" is not/],
      [['--objective', 'val accuracy'], 'E_CONFIG_INVALID', /objective "val accuracy" is not/],
      [['--study', '3'], 'E_CONFIG_INVALID', /--study goes with --resume/],
    ];
    for (const [flags, code, message] of cases) {
      const run = await cli(['tune', spec, ...flags, '--json'], cwd);
      const { error } = run.json<{ error: { code: string; message: string } }>();
      expect(error.code, flags.join(' ')).toBe(code);
      expect(error.message).toMatch(message);
    }
  });

  it('waits once for a greener grid before the study, and records the wait', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const grid = join(cwd, 'grid.csv');
    const now = Date.now();
    await writeFile(grid, ['timestamp,g_co2e_per_kwh', `${new Date(now - 7_200_000).toISOString()},40`, `${new Date(now + 3_600_000).toISOString()},500`, ''].join('\n'));
    const run = await cli(['tune', spec, ...LIMITS, '--max-trials', '1', '--start-in-greenest-window', '6', '--expected-hours', '0.5', '--json'], cwd, {
      ECOML_INTENSITY: 'file',
      ECOML_INTENSITY_FILE: grid,
    });
    expect(run.code, run.stderr).toBe(0);
    const r = run.json<{ carbon_start: Record<string, unknown>; metrics: Record<string, number> }>();
    expect(r.carbon_start).toMatchObject({ waited_s: 0, intensity_at_start_g_per_kwh: 40, reason: 'greenest_window' });
    expect(r.metrics).toMatchObject({ wait_s: 0, start_intensity_g_per_kwh: 40 });
  });

  it('takes batch size and threads from `ecoml advise --out`', async () => {
    const cwd = await tempDir();
    const spec = await tuneSpec(cwd);
    const advise = await cli(['advise', spec, '--batch-sizes', '16,128', '--threads-list', '1', '--samples', '256', '--train-limit', '512', '--test-limit', '64', '--out', 'advice.json', '--json'], cwd);
    expect(advise.code, advise.stderr).toBe(0);
    const advice = JSON.parse(await readFile(join(cwd, 'advice.json'), 'utf8')) as { batch_size: number };
    const advised = await cli(['tune', spec, ...LIMITS, '--max-trials', '1', '--advice', 'advice.json', '--json'], cwd);
    expect(advised.code, advised.stderr).toBe(0);
    const studyId = advised.json<TuneJson>().study_id;
    const shown = (await cli(['studies', 'show', String(studyId), '--json'], cwd)).json<{ config: { overrides: { batchSize: number } } }>();
    expect(shown.config.overrides.batchSize).toBe(advice.batch_size);
  });
});

