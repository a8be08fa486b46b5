/** `ecoml compress MODEL_DIR --out DIR`: quantize, prune and/or distil, guarded, measured before and after. @module */
import { numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatJoulesShort } from '../format.js';
import { createProgress } from '../progress.js';
import { EcomlError, lookup } from '../../errors.js';
import { CALIBRATORS, type CalibrationMethod } from '../../compress/index.js';
import { COMPRESS_DEFAULTS, PRUNE_METHODS, QUANTIZATIONS, compressModel, type CompressReport, type ModelFigures, type Quantization } from '../../workflows/compress.js';
import { energyJson, emissionsJson, type EmissionsJson, type EnergyJson } from '../../workflows/report.js';
import { WORKSPACE_OPTIONS, workspaceFrom } from './shared.js';

interface FiguresJson {
  readonly bytes: number;
  readonly parameters: number;
  readonly flops_per_sample: number;
  readonly accuracy: number;
  readonly samples_per_second_batch1: number;
  readonly samples_per_second_batch256: number;
  readonly joules_per_1000: number;
  readonly joules_per_1000_low: number;
  readonly joules_per_1000_high: number;
  readonly method: string;
  readonly energy_model: string;
}

export interface CompressResult {
  readonly model_dir: string;
  readonly out: string;
  readonly run_id: string;
  readonly before: FiguresJson;
  readonly after: FiguresJson;
  readonly size_ratio: number;
  readonly joules_ratio: number;
  readonly accuracy_drop_pp: number;
  readonly compression: CompressReport['record'];
  readonly energy: EnergyJson;
  readonly emissions: EmissionsJson;
}

function figuresJson(f: ModelFigures): FiguresJson {
  return {
    bytes: f.bytes,
    parameters: f.parameters,
    flops_per_sample: f.flopsPerSample,
    accuracy: f.accuracy,
    samples_per_second_batch1: f.samplesPerSecondBatch1,
    samples_per_second_batch256: f.samplesPerSecondBatch256,
    joules_per_1000: f.joulesPer1000,
    joules_per_1000_low: f.joulesPer1000Low,
    joules_per_1000_high: f.joulesPer1000High,
    method: f.method,
    energy_model: f.energyModel,
  };
}

export default defineCommand<CompressResult>({
  name: 'compress',
  summary: 'Compress a saved model for deployment: int8/fp16 quantization, pruning, distillation; accuracy guarded.',
  usage: 'ecoml compress MODEL_DIR --out DIR [--quantize int8|fp16|dynamic] [--prune F] [--distill-from TEACHER_DIR] [--max-accuracy-drop PP] [options]',
  description: [
    'Writes a model directory holding one ONNX graph (model.onnx) that ONNX Runtime loads as it is; evaluate, predict and serve take it like any model.',
    'Pruning and distillation fine-tune on the training engine first; quantization rewrites the ONNX graph (static int8 in QDQ form with per-channel weights and calibrated activations, dynamic int8 for MatMul-heavy graphs, or float16 for GPUs).',
    `The result is scored on the model's held-out test split against the source: if it loses more than --max-accuracy-drop (default ${COMPRESS_DEFAULTS.maxAccuracyDropPp} pp), the layers it hurts most stay in float until it holds, else nothing is written.`,
    'The source and the result are then measured side by side: size, parameters, FLOPs, accuracy, samples/s at batch 1 and 256, joules per 1,000 predictions.',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'model directory to write' },
    quantize: { type: 'string', valueName: 'MODE', description: `${Object.keys(QUANTIZATIONS).join(', ')}` },
    calibration: { type: 'string', valueName: 'METHOD', description: `int8 activation ranges: ${Object.keys(CALIBRATORS).join(', ')} (default ${COMPRESS_DEFAULTS.calibration})` },
    'calibration-samples': { type: 'string', valueName: 'N', description: `training samples to calibrate on (default ${COMPRESS_DEFAULTS.calibrationSamples})` },
    prune: { type: 'string', valueName: 'F', description: 'remove fraction F of each hidden layer’s filters and units (structured), or of its weights (magnitude)' },
    'prune-method': { type: 'string', valueName: 'M', description: `${Object.keys(PRUNE_METHODS).join(' or ')} (default ${COMPRESS_DEFAULTS.pruneMethod}: a smaller model; magnitude only zeroes weights, which ONNX Runtime runs dense)` },
    'distill-from': { type: 'string', valueName: 'DIR', description: 'fine-tune MODEL_DIR as a student of this saved teacher model' },
    temperature: { type: 'string', valueName: 'T', description: `distillation temperature (default ${COMPRESS_DEFAULTS.temperature})` },
    alpha: { type: 'string', valueName: 'A', description: `weight of the hard-label loss in distillation (default ${COMPRESS_DEFAULTS.alpha})` },
    'fine-tune-epochs': { type: 'string', valueName: 'N', description: `epochs of fine-tuning after pruning or for distillation (default ${COMPRESS_DEFAULTS.fineTuneEpochs})` },
    'batch-size': { type: 'string', valueName: 'N', description: 'fine-tuning batch size (default: the spec’s)' },
    'max-accuracy-drop': { type: 'string', valueName: 'PP', description: `most accuracy the result may lose, in percentage points (default ${COMPRESS_DEFAULTS.maxAccuracyDropPp})` },
    'train-limit': { type: 'string', valueName: 'N', description: 'use only the first N training samples (fine-tune, calibration)' },
    'eval-limit': { type: 'string', valueName: 'N', description: 'score and measure on the first N held-out samples only' },
    seed: { type: 'string', valueName: 'N', description: `seed for calibration sampling and fine-tuning (default ${COMPRESS_DEFAULTS.seed})` },
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(positionals, 0, 'MODEL_DIR');
    const out = stringOption(values, 'out');
    if (out === undefined) throw new EcomlError('E_CONFIG_INVALID', 'compress needs --out DIR (see --help)');
    const quantize = stringOption(values, 'quantize');
    const calibration = stringOption(values, 'calibration');
    const pruneMethod = stringOption(values, 'prune-method');
    const options = {
      out,
      ...(quantize !== undefined ? { quantize: (lookup(QUANTIZATIONS, quantize, 'quantization'), quantize as Quantization) } : {}),
      ...(calibration !== undefined ? { calibration: (lookup(CALIBRATORS, calibration, 'calibration method'), calibration as CalibrationMethod) } : {}),
      ...(pruneMethod !== undefined ? { pruneMethod: lookup(PRUNE_METHODS, pruneMethod, 'prune method') } : {}),
      ...defined({
        calibrationSamples: numberOption(values, 'calibration-samples', { integer: true, min: 1 }),
        prune: numberOption(values, 'prune', { min: 0 }),
        distillFrom: stringOption(values, 'distill-from'),
        temperature: numberOption(values, 'temperature', { min: 0 }),
        alpha: numberOption(values, 'alpha', { min: 0 }),
        fineTuneEpochs: numberOption(values, 'fine-tune-epochs', { integer: true, min: 1 }),
        batchSize: numberOption(values, 'batch-size', { integer: true, min: 1 }),
        maxAccuracyDropPp: numberOption(values, 'max-accuracy-drop', { min: 0 }),
        trainLimit: numberOption(values, 'train-limit', { integer: true, min: 1 }),
        evalLimit: numberOption(values, 'eval-limit', { integer: true, min: 1 }),
        seed: numberOption(values, 'seed', { integer: true, min: 0 }),
      }),
    };
    const progress = createProgress(ctx.stderr, ctx.isTTY, 'fine-tune');
    const ws = await workspaceFrom(values, ctx);
    try {
      const report = await compressModel(ws, dir, options, {
        onPhase: (phase, detail) => ctx.stderr.write(`${phase}: ${detail}\n`),
        onBatch: progress.onBatch,
        onEpochEnd: progress.onEpochEnd,
        signal: ctx.signal,
      });
      return {
        model_dir: report.modelDir,
        out: report.out,
        run_id: report.runId,
        before: figuresJson(report.before),
        after: figuresJson(report.after),
        size_ratio: report.before.bytes / report.after.bytes,
        joules_ratio: report.before.joulesPer1000 / report.after.joulesPer1000,
        accuracy_drop_pp: report.record.guard.dropPp,
        compression: report.record,
        energy: energyJson(report.measurement),
        emissions: emissionsJson(report.measurement),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    const row = (name: string, f: (x: FiguresJson) => string): string => `${name.padEnd(26)}${f(r.before).padStart(20)}${f(r.after).padStart(20)}`;
    const q = r.compression.quantize;
    const floatNodes = q ? q.nodes.filter((n) => n.precision === 'float32') : [];
    return [
      `compressed ${r.model_dir} → ${r.out}`,
      `${''.padEnd(26)}${'before'.padStart(20)}${'after'.padStart(20)}`,
      row('size (bytes)', (x) => x.bytes.toLocaleString('en')),
      row('parameters', (x) => x.parameters.toLocaleString('en')),
      row('FLOPs per sample', (x) => x.flops_per_sample.toLocaleString('en')),
      row('accuracy (held-out)', (x) => `${(x.accuracy * 100).toFixed(2)}%`),
      row('samples/s, batch 1', (x) => x.samples_per_second_batch1.toFixed(0)),
      row('samples/s, batch 256', (x) => x.samples_per_second_batch256.toFixed(0)),
      row('J per 1,000 predictions', (x) => formatJoulesShort(x.joules_per_1000)),
      row('  bounds', (x) => `${formatJoulesShort(x.joules_per_1000_low)}–${formatJoulesShort(x.joules_per_1000_high)}`),
      `${r.size_ratio.toFixed(2)}× smaller, ${r.joules_ratio.toFixed(2)}× fewer joules per prediction, ${r.accuracy_drop_pp.toFixed(2)} pp accuracy drop (allowed ${r.compression.guard.maxAccuracyDropPp}); energy ${r.after.method} (${r.after.energy_model})`,
      ...(q ? [`quantization: ${q.mode}${q.calibration ? `, ${q.calibration.method} calibration on ${q.calibration.samples} samples` : ''}; ${q.cpu.summary}`] : []),
      ...(floatNodes.length > 0 ? [`left in float: ${floatNodes.map((n) => `${n.name} (${n.op}${n.reason ? `: ${n.reason}` : ''})`).join(', ')}`] : []),
      ...(r.compression.guard.keptFloat.length > 0 ? [`the guard kept in float: ${r.compression.guard.keptFloat.join(', ')}`] : []),
      `compress run ${r.run_id}: ${formatJoulesShort(r.energy.joules)} (${[...new Set(r.energy.components.map((c) => c.method))].join('+')})`,
    ].join('\n');
  },
});

/** The entries whose value is given. */
function defined<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
