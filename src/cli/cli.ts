/**
 * Dispatches argv to a command and turns its result or error into output and an exit code.
 * Returns the code; only main.ts ends the process.
 * @module
 */
import { EcomlError, lookup, toEcomlError } from '../errors.js';
import { parseCommandArgs } from './args.js';
import { GLOBAL_OPTIONS, formatHelp, type CliContext, type CliIO, type Command } from './command.js';
import { packageVersion } from './version.js';

type Loader = () => Promise<Command>;

/** `ecoml meter <sub>`: the meter's own commands. */
const METER_COMMANDS = {
  serve: async () => (await import('./commands/meter-serve.js')).default,
  calibrate: async () => (await import('./commands/meter-calibrate.js')).default,
} satisfies Record<string, Loader>;

/** Loaded lazily so that, e.g., `ecoml runs` never loads tfjs. A nested table holds subcommands. */
const COMMANDS = {
  quickstart: async () => (await import('./commands/quickstart.js')).default,
  train: async () => (await import('./commands/train.js')).default,
  tune: async () => (await import('./commands/tune.js')).default,
  worker: async () => (await import('./commands/worker.js')).default,
  studies: {
    list: async () => (await import('./commands/studies.js')).listCommand,
    show: async () => (await import('./commands/studies.js')).showCommand,
    delete: async () => (await import('./commands/studies.js')).deleteCommand,
  },
  evaluate: async () => (await import('./commands/evaluate.js')).default,
  predict: async () => (await import('./commands/predict.js')).default,
  runs: async () => (await import('./commands/runs.js')).default,
  export: async () => (await import('./commands/export.js')).default,
  compress: async () => (await import('./commands/compress.js')).default,
  advise: async () => (await import('./commands/advise.js')).default,
  serve: async () => (await import('./commands/serve.js')).default,
  measure: async () => (await import('./commands/measure.js')).default,
  meter: METER_COMMANDS,
} satisfies Record<string, Loader | Record<string, Loader>>;

const SUMMARIES: Readonly<Record<keyof typeof COMMANDS, string>> = {
  quickstart: 'train the reference MNIST model, tune it, save, reload, predict — with energy and CO2e per step',
  train: 'train a model from a spec file',
  tune: 'search hyperparameters for a spec with a tune section: samplers, early stopping, Pareto fronts, resume, queues',
  worker: 'run tuning trials from a queue that `ecoml tune --queue` fills',
  studies: 'list, show (report, front, importances, energy saved) or delete tuning studies',
  evaluate: 'loss, accuracy, per-class precision/recall, confusion matrix and resource profile of a saved model',
  predict: 'predict classes and probabilities for IDX, CSV, PNG or JSON input',
  runs: 'list or inspect recorded runs, epochs and trials',
  export: 'export a saved model as an ONNX graph (dynamic batch) or TF.js files, checked against the source',
  compress: 'quantize (int8, fp16), prune and distil a saved model, accuracy guarded, with joules per prediction before and after',
  advise: 'energy per sample over batch sizes × threads (Zeus): the lowest-energy setting within a slowdown or time-to-accuracy budget',
  serve: 'serve models over TF Serving REST and the Open Inference Protocol (KServe/Triton), with joules per request',
  measure: 'run any command and meter its process tree: energy, CO2e, heat (like codecarbon monitor)',
  meter: 'meter serve (Prometheus exporter) | meter calibrate (this machine’s power profile)',
};

function topHelp(): string {
  const width = Math.max(...Object.keys(SUMMARIES).map((n) => n.length)) + 2;
  return [
    'Usage: ecoml <command> [options]',
    '',
    'Train, tune, save, load and run models in TypeScript, metering the energy and CO2e of every step.',
    '',
    'Commands:',
    ...Object.entries(SUMMARIES).map(([name, text]) => `  ${name.padEnd(width)}${text}`),
    '',
    "Run 'ecoml <command> --help' for a command's options.",
    '',
  ].join('\n');
}

export async function runCli(argv: readonly string[], io: CliIO, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const [name, ...rest] = argv;
  // Flags after `--` belong to a wrapped command (`ecoml measure -- cmd --json`), not to us.
  const dashes = rest.indexOf('--');
  const json = (dashes === -1 ? rest : rest.slice(0, dashes)).includes('--json');
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      io.stdout.write(topHelp());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version') {
      io.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    const entry = lookup<Loader | Record<string, Loader>>(COMMANDS, name, 'command');
    let args = rest;
    let loader: Loader;
    if (typeof entry === 'function') {
      loader = entry;
    } else {
      const [sub, ...subRest] = rest;
      if (sub === undefined || sub === '--help' || sub === '-h') {
        io.stdout.write(`Usage: ecoml ${name} <${Object.keys(entry).join('|')}> [options]\n`);
        return sub === undefined ? 2 : 0;
      }
      loader = lookup(entry, sub, `${name} command`);
      args = subRest;
    }
    const command = await loader();
    const parsed = parseCommandArgs(args, { ...command.options, ...GLOBAL_OPTIONS }, `ecoml ${command.name} --help`);
    if (parsed.values.help === true) {
      io.stdout.write(formatHelp(command));
      return 0;
    }
    const ctx: CliContext = { ...io, json, signal };
    const result = await command.run(parsed, ctx);
    if (json) io.stdout.write(`${JSON.stringify(result)}\n`);
    else (command.renderTo === 'stderr' ? io.stderr : io.stdout).write(`${command.render(result)}\n`);
    return command.exitCode?.(result) ?? 0;
  } catch (caught) {
    const error = signal.aborted ? new EcomlError('E_INTERRUPTED', 'interrupted') : toEcomlError(caught);
    if (json) io.stdout.write(`${JSON.stringify({ error: error.toJSON() })}\n`);
    io.stderr.write(`error ${error.code}: ${error.message}\n`);
    // A bug's stack is where it was thrown, not where it was wrapped.
    const origin = error.cause instanceof Error ? error.cause : caught;
    if (error.code === 'E_INTERNAL' && origin instanceof Error && origin.stack) io.stderr.write(`${origin.stack}\n`);
    return error.exitCode;
  }
}
