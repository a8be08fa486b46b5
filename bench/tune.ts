/**
 * Tuning strategies side by side on MNIST with the seed's search space (conv filters and dense
 * units, 32…256 in steps of 32): Keras Tuner's random search (every trial to the end), Keras
 * Tuner's Hyperband (brackets with checkpoint reuse), and candidate defaults, at equal budgets:
 * the same maximum trials and epochs, training subset and validation split, over several seeds.
 * Each (strategy, seed) is one child process running the real `tune` workflow; two run at once
 * (one ONNX Runtime thread each on this 2-core machine). Energy is what the tune step's meter
 * measured (here `estimated`: no RAPL on this VM). Prints a table and writes bench/results/tune.json.
 * Usage: npx tsx bench/tune.ts [--epochs 6] [--trials 10] [--train 1000] [--val 1000] [--seeds 1000,2000,3000] [--strategies …] [--parallel 2] [--name tune]
 *        npx tsx bench/tune.ts --merge tune-a,tune-b [--name tune]   (one summary over the cells of earlier runs)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openWorkspace } from '../src/workflows/workspace.js';
import { tuneFromSpec } from '../src/workflows/tune.js';
import { writeResult } from './harness.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '6' },
    trials: { type: 'string', default: '10' },
    train: { type: 'string', default: '1000' },
    val: { type: 'string', default: '1000' },
    seeds: { type: 'string', default: '1000,2000,3000' },
    strategies: { type: 'string', default: 'random+none,random+hyperband,tpe+asha,tpe+median' },
    parallel: { type: 'string', default: '2' },
    one: { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string', default: 'tune' },
    merge: { type: 'string' },
  },
});
const SPEC = new URL('../examples/mnist-cnn-tune.yaml', import.meta.url).pathname;
const GOAL = { withinPp: 0.2, energyRatio: 0.5 };
const settings = { epochs: Number(values.epochs), trials: Number(values.trials), train: Number(values.train), val: Number(values.val) };

interface Cell {
  readonly strategy: string;
  readonly seed: number;
  readonly bestValAccuracy: number;
  readonly bestTrial: Readonly<Record<string, unknown>>;
  readonly tuneJoules: number;
  readonly tuneJoulesLow: number;
  readonly tuneJoulesHigh: number;
  readonly method: string;
  readonly trialJoules: number;
  readonly seconds: number;
  readonly trials: number;
  readonly configurations: number;
  readonly epochsRun: number;
  readonly pruned: number;
  readonly savedJoules: number;
}

/** One (strategy, seed): the real workflow in this process; the result goes to `--out`. */
async function runOne(strategy: string, seed: number, out: string): Promise<void> {
  const [sampler, pruner] = strategy.split('+') as [string, string];
  const work = await mkdtemp(join(tmpdir(), 'ecoml-bench-tune-'));
  const ws = await openWorkspace({ storeDir: join(work, 'store'), cwd: work, log: () => undefined });
  try {
    const report = await tuneFromSpec(ws, {
      specPath: SPEC,
      sampler,
      pruner,
      seed,
      epochs: settings.epochs,
      trainLimit: settings.train,
      testLimit: settings.val,
      executionsPerTrial: 1,
      ...(pruner === 'hyperband' ? {} : { maxTrials: settings.trials }),
      outDir: join(work, 'best'),
    });
    const trials = report.result.trials;
    const { studyReport } = await import('../src/tune/index.js');
    const saved = studyReport({ trials, objectives: report.config.objectives, maxEpochs: settings.epochs, executionsPerTrial: 1 }).saved;
    const best = report.bestTrial;
    const cell: Cell = {
      strategy,
      seed,
      bestValAccuracy: best?.score ?? Number.NaN,
      bestTrial: { number: best?.number, values: best?.values, epochs: best?.summary?.epochs },
      tuneJoules: report.measurements.tune.energy.joules,
      tuneJoulesLow: report.measurements.tune.energy.low,
      tuneJoulesHigh: report.measurements.tune.energy.high,
      method: [...new Set(report.measurements.tune.energy.components.map((c) => `${c.method}: ${c.model}`))].join('; '),
      trialJoules: trials.reduce((sum, t) => sum + (t.summary?.joules ?? 0), 0),
      seconds: report.measurements.tune.durationS,
      trials: trials.length,
      configurations: trials.filter((t) => t.attrs?.parent === undefined).length,
      epochsRun: trials.reduce((sum, t) => sum + (t.summary?.epochs ?? 0), 0),
      pruned: trials.filter((t) => t.state === 'pruned').length,
      savedJoules: saved.savedJoules,
    };
    await import('node:fs/promises').then((fs) => fs.writeFile(out, JSON.stringify(cell)));
  } finally {
    await ws.close();
    await rm(work, { recursive: true, force: true });
  }
}

function child(strategy: string, seed: number, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, '--one', `${strategy}@${seed}`, '--out', out, ...passThrough()], { stdio: ['ignore', 'inherit', 'inherit'] });
    proc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${strategy} seed ${seed} exited with ${code}`))));
  });
}

function passThrough(): string[] {
  return ['--epochs', String(settings.epochs), '--trials', String(settings.trials), '--train', String(settings.train), '--val', String(settings.val)];
}

async function main(): Promise<void> {
  const seeds = values.seeds.split(',').map(Number);
  const strategies = values.strategies.split(',');
  const work = await mkdtemp(join(tmpdir(), 'ecoml-bench-tune-cells-'));
  // Seed-major order, so strategies of one seed run close together in time.
  const queue = seeds.flatMap((seed) => strategies.map((strategy) => ({ strategy, seed })));
  const cells: Cell[] = [];
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      const out = join(work, `${job.strategy}-${job.seed}.json`);
      process.stderr.write(`running ${job.strategy} seed ${job.seed}\n`);
      await child(job.strategy, job.seed, out);
      const cell = JSON.parse(await readFile(out, 'utf8')) as Cell;
      cells.push(cell);
      process.stderr.write(`  ${cell.strategy} seed ${cell.seed}: best val_accuracy ${cell.bestValAccuracy.toFixed(4)}, ${cell.tuneJoules.toFixed(0)} J, ${cell.epochsRun} epochs, ${cell.seconds.toFixed(0)} s\n`);
    }
  };
  await Promise.all(Array.from({ length: Number(values.parallel) }, worker));
  await rm(work, { recursive: true, force: true });
  await summarise(cells, seeds, strategies, `wall time: ${((performance.now() - started) / 60000).toFixed(1)} min`);
}

/** The table and results JSON over `cells`: per strategy, means over seeds of its paired ratios to the first strategy. */
async function summarise(cells: readonly Cell[], seeds: readonly number[], strategies: readonly string[], footer: string): Promise<void> {
  const baseline = strategies[0] as string;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = strategies.map((strategy) => {
    const mine = cells.filter((c) => c.strategy === strategy);
    const perSeed = seeds.map((seed) => {
      const cell = mine.find((c) => c.seed === seed) as Cell;
      const base = cells.find((c) => c.strategy === baseline && c.seed === seed) as Cell;
      return { seed, deltaPp: (cell.bestValAccuracy - base.bestValAccuracy) * 100, energyRatio: cell.tuneJoules / base.tuneJoules };
    });
    const deltaPp = mean(perSeed.map((s) => s.deltaPp));
    const energyRatio = mean(perSeed.map((s) => s.energyRatio));
    return {
      strategy,
      meanBestValAccuracy: mean(mine.map((c) => c.bestValAccuracy)),
      meanTuneJoules: mean(mine.map((c) => c.tuneJoules)),
      meanEpochs: mean(mine.map((c) => c.epochsRun)),
      meanSeconds: mean(mine.map((c) => c.seconds)),
      deltaPpVsRandom: deltaPp,
      energyRatioVsRandom: energyRatio,
      perSeed,
      meetsGoal: strategy !== baseline && deltaPp >= -GOAL.withinPp && energyRatio <= GOAL.energyRatio,
    };
  });
  // The default is the cheapest strategy that keeps quality within the goal's margin.
  const qualifying = summary.filter((s) => s.strategy !== baseline && s.deltaPpVsRandom >= -GOAL.withinPp).sort((a, b) => a.energyRatioVsRandom - b.energyRatioVsRandom);
  const cheapest = qualifying[0]?.strategy;

  const header = `${'strategy'.padEnd(18)} ${'best val_acc'.padStart(12)} ${'Δ vs random'.padStart(12)} ${'tune J'.padStart(9)} ${'J ratio'.padStart(8)} ${'epochs'.padStart(7)} ${'time s'.padStart(7)}`;
  const lines = summary.map(
    (s) =>
      `${s.strategy.padEnd(18)} ${(s.meanBestValAccuracy * 100).toFixed(2).padStart(11)}% ${`${s.deltaPpVsRandom >= 0 ? '+' : ''}${s.deltaPpVsRandom.toFixed(2)} pp`.padStart(12)} ${s.meanTuneJoules.toFixed(0).padStart(9)} ${s.energyRatioVsRandom.toFixed(2).padStart(8)} ${s.meanEpochs.toFixed(1).padStart(7)} ${s.meanSeconds.toFixed(0).padStart(7)}`,
  );
  process.stdout.write(
    [
      `MNIST, seed space (filters, units 32…256 step 32), ${settings.trials} trials max, ${settings.epochs} epochs max, ${settings.train} training / ${settings.val} validation samples, seeds ${seeds.join(', ')}; means over seeds`,
      header,
      ...lines,
      `goal: within ${GOAL.withinPp} pp of ${baseline}'s best at ≤ ${GOAL.energyRatio * 100}% of its energy; cheapest within the quality margin: ${cheapest ?? 'none'}`,
      `energy method: ${cells[0]?.method ?? '?'}`,
      footer,
    ].join('\n') + '\n',
  );
  const file = await writeResult(values.name, { settings: { ...settings, seeds, strategies, spec: 'examples/mnist-cnn-tune.yaml', executionsPerTrial: 1, parallel: Number(values.parallel) }, goal: GOAL, cheapest: cheapest ?? null, summary, cells });
  process.stdout.write(`wrote ${file}\n`);
}

/** Re-summarises the cells of earlier result files (same settings) as one run. */
async function merge(names: readonly string[]): Promise<void> {
  const runs = await Promise.all(names.map(async (name) => JSON.parse(await readFile(new URL(`./results/${name}.json`, import.meta.url), 'utf8')) as { settings: { seeds: number[]; strategies: string[] }; cells: Cell[] }));
  const strategies = runs[0]?.settings.strategies ?? [];
  const cells = runs.flatMap((run) => run.cells.filter((cell) => strategies.includes(cell.strategy)));
  const seeds = [...new Set(runs.flatMap((run) => run.settings.seeds))];
  await summarise(cells, seeds, strategies, `merged from ${names.join(', ')}`);
}

if (values.merge !== undefined) {
  await merge(values.merge.split(','));
} else if (values.one !== undefined) {
  const [strategy, seed] = values.one.split('@') as [string, string];
  await runOne(strategy, Number(seed), values.out as string);
} else {
  await main();
}
