/** `ecoml predict MODEL_DIR INPUT`: classes and probabilities for IDX, CSV, PNG or JSON input. @module */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EcomlError } from '../../errors.js';
import { CLIENT_PROTOCOLS, type ClientProtocol } from '../../serve/client.js';
import { predictRemote, type RemotePredictReport } from '../../workflows/predict-remote.js';
import { checkOutputFile, fsError } from '../../util/fs.js';
import { predictWithModel, type Prediction } from '../../workflows/saved.js';
import { booleanOption, numberOption, requirePositional, stringOption } from '../args.js';
import { formatCo2, formatJoulesShort } from '../format.js';
import { defineCommand } from '../command.js';
import { WORKSPACE_OPTIONS, loadedStepJson, renderMetered, withSavedModel, type MeteredJson } from './shared.js';

export interface LocalPredictResult extends MeteredJson {
  readonly source: 'local';
  readonly model_dir: string;
  readonly input: string;
  readonly n: number;
  readonly accuracy?: number;
  readonly out?: string;
  /** How the human rendering prints predictions. */
  readonly format: Format;
  readonly predictions: readonly Prediction[];
}

/** Predictions from a model server; the energy is what the server reported for the requests. */
export interface ServerPredictResult {
  readonly source: 'server';
  readonly server: string;
  readonly protocol: ClientProtocol;
  readonly model: string;
  readonly version?: string;
  readonly input: string;
  readonly n: number;
  readonly accuracy?: number;
  readonly out?: string;
  readonly format: Format;
  readonly predictions: readonly Prediction[];
  readonly server_energy?: {
    readonly joules: number;
    readonly joules_low: number;
    readonly joules_high: number;
    readonly method: string;
    readonly kg_co2e: number;
    readonly requests: number;
  };
}

export type PredictResult = LocalPredictResult | ServerPredictResult;

const FORMATS = ['table', 'json', 'csv'] as const;
type Format = (typeof FORMATS)[number];

export function predictionsCsv(predictions: readonly Prediction[]): string {
  const classes = predictions[0]?.probabilities.length ?? 0;
  const hasLabel = predictions.some((p) => p.label !== undefined);
  const header = ['index', 'class', ...(hasLabel ? ['label'] : []), ...Array.from({ length: classes }, (_, c) => `p${c}`)];
  const rows = predictions.map((p) =>
    [p.index, p.class, ...(hasLabel ? [JSON.stringify(p.label ?? '')] : []), ...p.probabilities.map((v) => v.toPrecision(6))].join(','),
  );
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

export default defineCommand<PredictResult>({
  name: 'predict',
  summary: 'Predict classes and probabilities with a saved model.',
  usage: 'ecoml predict MODEL_DIR INPUT [options] | ecoml predict --server URL --model NAME INPUT [options]',
  description:
    'INPUT: an IDX images file, a CSV (feature columns, label column optional), a PNG file or a directory of PNGs, or JSON ([[…]] or {"instances": […]}). With --server, the inputs go to a model server (ecoml serve, Triton, KServe, TF Serving) and the energy shown is what the server reports per request.',
  options: {
    labels: { type: 'string', valueName: 'FILE', description: 'IDX labels for an IDX input: also report accuracy' },
    format: { type: 'string', valueName: 'FMT', description: 'table (default), json or csv (for --out, or stdout without --json)' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'write all predictions to FILE (format from --format, else from the extension)' },
    'batch-size': { type: 'string', valueName: 'N', description: 'inference batch size (default 256; with --server, samples per request, default 64)' },
    server: { type: 'string', valueName: 'URL', description: 'predict on a model server at URL instead of a local MODEL_DIR' },
    model: { type: 'string', valueName: 'NAME', description: 'with --server: the model name' },
    'model-version': { type: 'string', valueName: 'N', description: 'with --server: a model version (default: the server picks)' },
    protocol: { type: 'string', valueName: 'P', description: `with --server: ${CLIENT_PROTOCOLS.join(' (Open Inference Protocol, default) or ')} (TF Serving REST)` },
    binary: { type: 'boolean', description: "with --server --protocol v2: Triton's binary tensor format" },
    'auth-token': { type: 'string', valueName: 'TOKEN', description: 'with --server: bearer token (default $ECOML_SERVE_TOKEN)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx): Promise<PredictResult> {
    const labelsPath = stringOption(values, 'labels');
    const out = stringOption(values, 'out');
    const requested = stringOption(values, 'format') ?? (out?.endsWith('.csv') ? 'csv' : out ? 'json' : 'table');
    if (!FORMATS.includes(requested as Format)) throw new EcomlError('E_CONFIG_INVALID', `--format must be one of ${FORMATS.join(', ')}, got "${requested}"`);
    const format = requested as Format;
    const batchSize = numberOption(values, 'batch-size', { integer: true, min: 1 });
    const target = out === undefined ? undefined : { path: resolve(ctx.cwd, out), what: `--out ${out}` };
    // Before anything runs: predictions that could never be written are not worth computing.
    if (target !== undefined) checkOutputFile(target.path, target.what);
    const write = async (predictions: readonly Prediction[]): Promise<void> => {
      if (target === undefined) return;
      await writeFile(target.path, format === 'csv' ? predictionsCsv(predictions) : `${JSON.stringify(predictions)}\n`).catch((error: unknown) => {
        throw fsError(error, target.what, target.path, 'write');
      });
    };
    const server = stringOption(values, 'server');
    if (server !== undefined) {
      const model = stringOption(values, 'model');
      if (model === undefined) throw new EcomlError('E_CONFIG_INVALID', 'predict --server needs --model NAME (see --help)');
      const protocol = (stringOption(values, 'protocol') ?? 'v2') as ClientProtocol;
      if (!CLIENT_PROTOCOLS.includes(protocol)) throw new EcomlError('E_CONFIG_INVALID', `--protocol must be ${CLIENT_PROTOCOLS.join(' or ')}, got "${protocol}"`);
      const binary = booleanOption(values, 'binary');
      if (binary && protocol !== 'v2') throw new EcomlError('E_CONFIG_INVALID', '--binary is part of the Open Inference Protocol (--protocol v2)');
      const version = stringOption(values, 'model-version');
      const token = stringOption(values, 'auth-token') ?? (ctx.env.ECOML_SERVE_TOKEN || undefined);
      const report = await predictRemote({
        url: server,
        protocol,
        binary,
        model,
        input: requirePositional(positionals, 0, 'INPUT'),
        batchSize: batchSize ?? 64,
        cwd: ctx.cwd,
        ...(version !== undefined ? { version } : {}),
        ...(token !== undefined ? { token } : {}),
        ...(labelsPath !== undefined ? { labelsPath } : {}),
      });
      await write(report.predictions);
      return { source: 'server', ...serverJson(report), ...(target ? { out: target.path } : {}), format };
    }
    const dir = requirePositional(positionals, 0, 'MODEL_DIR');
    const input = requirePositional(positionals, 1, 'INPUT');
    return withSavedModel(values, ctx, dir, async (ws, model) => {
      const report = await predictWithModel(ws, model, { path: input, ...(labelsPath ? { labelsPath } : {}) }, batchSize ? { batchSize } : {});
      await write(report.predictions);
      const { total: _total, ...metered } = loadedStepJson(model, 'predict', report.measurement);
      return {
        source: 'local' as const,
        model_dir: report.model_dir,
        input: report.input,
        n: report.n,
        ...(report.accuracy !== undefined ? { accuracy: report.accuracy } : {}),
        ...(target ? { out: target.path } : {}),
        format,
        predictions: report.predictions,
        ...metered,
      };
    });
  },
  render(r) {
    if (r.format === 'csv' && !r.out) return predictionsCsv(r.predictions).trimEnd();
    if (r.format === 'json' && !r.out) return JSON.stringify(r.predictions);
    const shown = r.predictions.slice(0, 20).map((p) => {
      const best = p.probabilities[p.class] ?? 0;
      return `  #${p.index}: class ${p.label ?? p.class} (p=${best.toFixed(4)})`;
    });
    const more = r.n > shown.length ? [`  … ${r.n - shown.length} more${r.out ? ` in ${r.out}` : ' (use --out FILE or --format csv)'}`] : [];
    const accuracy = r.accuracy !== undefined ? `, accuracy ${(r.accuracy * 100).toFixed(2)}%` : '';
    if (r.source === 'local') return [`${r.n} predictions from ${r.model_dir}${accuracy}`, ...shown, ...more, renderMetered(r)].join('\n');
    const e = r.server_energy;
    const energy = e
      ? `server energy: ${formatJoulesShort(e.joules)} (${formatJoulesShort(e.joules_low)}–${formatJoulesShort(e.joules_high)}, ${e.method}) → ${formatCo2(e.kg_co2e)} over ${e.requests} request(s)`
      : 'server energy: not reported by this server';
    return [`${r.n} predictions from ${r.model}${r.version ? ` version ${r.version}` : ''} at ${r.server} (${r.protocol})${accuracy}`, ...shown, ...more, energy].join('\n');
  },
});

function serverJson(report: RemotePredictReport): Omit<ServerPredictResult, 'source' | 'format' | 'out'> {
  const e = report.serverEnergy;
  return {
    server: report.server,
    protocol: report.protocol,
    model: report.model,
    ...(report.version !== undefined ? { version: report.version } : {}),
    input: report.input,
    n: report.n,
    ...(report.accuracy !== undefined ? { accuracy: report.accuracy } : {}),
    predictions: report.predictions,
    ...(e ? { server_energy: { joules: e.joules, joules_low: e.low, joules_high: e.high, method: e.method, kg_co2e: e.kgCo2e, requests: e.requests } } : {}),
  };
}
