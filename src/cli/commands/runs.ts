/** `ecoml runs [list|show ID]`: the run store's runs, epochs and trials. @module */
import { EcomlError, lookup } from '../../errors.js';
import {
  RUN_KINDS,
  RUN_STATUSES,
  openRunStore,
  resolveStoreDir,
  serveRequestCount,
  serveRequests,
  serveUsage,
  type EpochRecord,
  type RunPart,
  type RunRecord,
  type ServeRequest,
  type ServeUsage,
} from '../../store/index.js';
import { numberOption, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatCo2, formatJoulesShort, formatMetrics } from '../format.js';

/** `reaped`: the ids of runs found running with their process gone, marked crashed by this call. */
type RunsResult =
  | { readonly action: 'list'; readonly store: string; readonly reaped: readonly string[]; readonly runs: readonly RunRecord[] }
  | {
      readonly action: 'show';
      readonly store: string;
      readonly reaped: readonly string[];
      readonly run: RunRecord;
      readonly epochs: readonly EpochRecord[];
      readonly children: readonly RunRecord[];
      /** A serving session's energy per model version and its latest requests. */
      readonly serving?: { readonly models: readonly ServeUsage[]; readonly requests: number; readonly latest: readonly ServeRequest[] };
    };

interface MeasurementLike {
  readonly energy?: { readonly joules?: number };
  readonly emissions?: { readonly kgCo2e?: number };
}

function oneOf<T extends string>(valid: readonly T[], value: string | undefined, what: string): T | undefined {
  if (value === undefined) return undefined;
  const table = Object.fromEntries(valid.map((v) => [v, v])) as Record<string, T>;
  return lookup(table, value, what);
}

function energyCell(measurement: unknown): string {
  const m = measurement as MeasurementLike | null;
  const joules = m?.energy?.joules;
  const kg = m?.emissions?.kgCo2e;
  return joules === undefined ? '-' : `${formatJoulesShort(joules)} ${kg !== undefined ? formatCo2(kg) : ''}`;
}

/** One line per process that worked on the run: what it spent and how it ended. */
function partLine(part: RunPart): string {
  const who = part.pid === null ? 'an earlier ecoml' : `pid ${part.pid} on ${part.host ?? '?'}`;
  return `    part ${part.part}: ${energyCell(part.measurement).trim()}  ${part.status}, ${who}, ${part.startedAt.slice(0, 19)}–${(part.endedAt ?? part.heartbeatAt).slice(11, 19)}`;
}

function runLine(run: RunRecord): string {
  const metrics = run.metrics as Record<string, number> | null;
  const key = metrics ? (['test_accuracy', 'score', 'val_accuracy', 'accuracy'].find((k) => typeof metrics[k] === 'number') ?? undefined) : undefined;
  const metric = key && metrics ? `${key} ${(metrics[key] as number).toFixed(4)}` : '';
  return `${run.id.padEnd(30)} ${run.kind.padEnd(10)} ${run.status.padEnd(9)} ${run.name.padEnd(16)} ${run.startedAt.slice(0, 19)}  ${energyCell(run.measurement).padEnd(22)} ${metric}`;
}

export default defineCommand<RunsResult>({
  name: 'runs',
  summary: 'List recorded runs, or show one with its epochs and trials.',
  usage: 'ecoml runs [list] [--kind K] [--status S] [--limit N] | ecoml runs show RUN',
  options: {
    kind: { type: 'string', valueName: 'K', description: `only runs of this kind (${RUN_KINDS.join(', ')})` },
    status: { type: 'string', valueName: 'S', description: 'only runs with this status (running, completed, failed, stopped, crashed)' },
    limit: { type: 'string', valueName: 'N', description: 'at most N runs, newest first (default 20)' },
    store: { type: 'string', valueName: 'DIR', description: 'run store directory (default .ecoml, or $ECOML_STORE)' },
  },
  async run({ positionals, values }, ctx) {
    const [action = 'list', id] = positionals;
    const storeDir = resolveStoreDir(ctx.cwd, stringOption(values, 'store'), ctx.env);
    const store = openRunStore(storeDir);
    try {
      // A run left `running` by a process that is gone would stay so forever: say what happened to it.
      const reaped = store.reapRuns().map((run) => run.id);
      if (action === 'list') {
        const kind = oneOf(RUN_KINDS, stringOption(values, 'kind'), 'run kind');
        const status = oneOf(RUN_STATUSES, stringOption(values, 'status'), 'run status');
        const runs = store.listRuns({
          limit: numberOption(values, 'limit', { integer: true, min: 1 }) ?? 20,
          ...(kind !== undefined ? { kind } : {}),
          ...(status !== undefined ? { status } : {}),
        });
        return { action, store: storeDir, reaped, runs };
      }
      if (action === 'show') {
        if (id === undefined) throw new EcomlError('E_CONFIG_INVALID', 'runs show needs a RUN id (or unique prefix)');
        const run = store.getRun(id);
        const serving = run.kind === 'serve' ? { models: serveUsage(store, run.id), requests: serveRequestCount(store, run.id), latest: serveRequests(store, run.id, { limit: 5 }) } : undefined;
        return { action, store: storeDir, reaped, run, epochs: store.epochs(run.id), children: store.listRuns({ parentId: run.id }), ...(serving ? { serving } : {}) };
      }
      throw new EcomlError('E_UNKNOWN_NAME', `unknown runs action "${action}"; valid: list, show`, { details: { valid: ['list', 'show'] } });
    } finally {
      store.close();
    }
  },
  render(r) {
    if (r.action === 'list') {
      if (r.runs.length === 0) return `no runs in ${r.store}`;
      return [`${'run'.padEnd(30)} ${'kind'.padEnd(10)} ${'status'.padEnd(9)} ${'name'.padEnd(16)} ${'started (UTC)'.padEnd(19)}  ${'energy, CO2e'.padEnd(22)} metric`, ...r.runs.map(runLine)].join('\n');
    }
    const { run } = r;
    const lines = [
      `${run.id}: ${run.kind} ${run.name}, ${run.status}${run.stopReason ? ` (${run.stopReason})` : ''}`,
      `  started ${run.startedAt}${run.endedAt ? `, ended ${run.endedAt}` : ''}`,
      `  energy ${energyCell(run.measurement)}${run.parts.length > 1 ? ` over ${run.parts.length} parts (each process that worked on it):` : ''}`,
    ];
    if (run.parts.length > 1) lines.push(...run.parts.map(partLine));
    if (run.metrics) lines.push(`  ${formatMetrics(run.metrics as Record<string, number>)}`);
    if (run.modelDir) lines.push(`  model ${run.modelDir}`);
    if (run.error) lines.push(`  error ${JSON.stringify(run.error)}`);
    for (const e of r.epochs) {
      const joules = (e.measurement as MeasurementLike | null)?.energy?.joules;
      lines.push(`  epoch ${e.epoch}: ${formatMetrics(e.metrics as Record<string, number>)}${joules !== undefined ? `  ${formatJoulesShort(joules)}` : ''}`);
    }
    if (r.children.length) lines.push('  trials / children:', ...r.children.map((c) => `    ${runLine(c)}`));
    if (r.serving) {
      lines.push(`  served ${r.serving.requests} logged request(s); energy by model (shared out by compute time):`);
      for (const u of r.serving.models) {
        const perInference = u.inferences > 0 ? `, ${formatJoulesShort(u.joules / u.inferences)} per inference` : '';
        lines.push(
          `    ${u.model} v${u.version}: ${u.requests} requests (${u.failures} failed), ${u.inferences} inferences, ${formatJoulesShort(u.joules)} (${formatJoulesShort(u.joulesLow)}–${formatJoulesShort(u.joulesHigh)}, ${u.method})${perInference}, ${formatCo2(u.kgCo2e)}`,
        );
      }
      if (r.serving.latest.length) {
        lines.push('  latest requests:');
        for (const q of r.serving.latest) lines.push(`    ${q.at.slice(0, 23)} ${q.model} v${q.version} ${q.protocol} ${q.status}  ${q.inferences} inference(s)  ${formatJoulesShort(q.joules)} ${q.method}`);
      }
    }
    return lines.join('\n');
  },
});
