/** `ecoml predict MODEL_DIR INPUT`: classes and probabilities for IDX, CSV, PNG or JSON input. @module */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EcomlError } from '../../errors.js';
import { checkOutputFile, fsError } from '../../util/fs.js';
import { predictWithModel, type Prediction } from '../../workflows/saved.js';
import { numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { WORKSPACE_OPTIONS, loadedStepJson, renderMetered, withSavedModel, type MeteredJson } from './shared.js';

export interface PredictResult extends MeteredJson {
  readonly model_dir: string;
  readonly input: string;
  readonly n: number;
  readonly accuracy?: number;
  readonly out?: string;
  /** How the human rendering prints predictions. */
  readonly format: Format;
  readonly predictions: readonly Prediction[];
}

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
  usage: 'ecoml predict MODEL_DIR INPUT [options]',
  description: 'INPUT: an IDX images file, a CSV (feature columns, label column optional), a PNG file or a directory of PNGs, or JSON ([[…]] or {"instances": […]}).',
  options: {
    labels: { type: 'string', valueName: 'FILE', description: 'IDX labels for an IDX input: also report accuracy' },
    format: { type: 'string', valueName: 'FMT', description: 'table (default), json or csv (for --out, or stdout without --json)' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'write all predictions to FILE (format from --format, else from the extension)' },
    'batch-size': { type: 'string', valueName: 'N', description: 'inference batch size (default 256)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(positionals, 0, 'MODEL_DIR');
    const input = requirePositional(positionals, 1, 'INPUT');
    const labelsPath = stringOption(values, 'labels');
    const out = stringOption(values, 'out');
    const requested = stringOption(values, 'format') ?? (out?.endsWith('.csv') ? 'csv' : out ? 'json' : 'table');
    if (!FORMATS.includes(requested as Format)) throw new EcomlError('E_CONFIG_INVALID', `--format must be one of ${FORMATS.join(', ')}, got "${requested}"`);
    const format = requested as Format;
    const batchSize = numberOption(values, 'batch-size', { integer: true, min: 1 });
    const target = out === undefined ? undefined : { path: resolve(ctx.cwd, out), what: `--out ${out}` };
    // Before the model loads: predictions that could never be written are not worth computing.
    if (target !== undefined) checkOutputFile(target.path, target.what);
    return withSavedModel(values, ctx, dir, async (ws, model) => {
      const report = await predictWithModel(ws, model, { path: input, ...(labelsPath ? { labelsPath } : {}) }, batchSize ? { batchSize } : {});
      if (target !== undefined) {
        await writeFile(target.path, format === 'csv' ? predictionsCsv(report.predictions) : `${JSON.stringify(report.predictions)}\n`).catch((error: unknown) => {
          throw fsError(error, target.what, target.path, 'write');
        });
      }
      const { total: _total, ...metered } = loadedStepJson(model, 'predict', report.measurement);
      return {
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
    return [
      `${r.n} predictions from ${r.model_dir}${r.accuracy !== undefined ? `, accuracy ${(r.accuracy * 100).toFixed(2)}%` : ''}`,
      ...shown,
      ...more,
      renderMetered(r),
    ].join('\n');
  },
});
