/** `ecoml export MODEL_DIR --format onnx|tfjs --out DIR`: a standalone artifact for another runtime. @module */
import { requirePositional, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { EcomlError } from '../../errors.js';
import { EXPORT_FORMATS, EXPORT_TOLERANCE, exportModel, type ExportReport } from '../../workflows/export.js';
import { WORKSPACE_OPTIONS, workspaceFrom } from './shared.js';

export default defineCommand<ExportReport>({
  name: 'export',
  summary: 'Export a saved model: an ONNX inference graph (dynamic batch) or TF.js layers files for browsers.',
  usage: 'ecoml export MODEL_DIR --format onnx|tfjs --out DIR [options]',
  description: `The export is read back through its runtime and compared with the source on seeded inputs; it is written only if every probability agrees within ${EXPORT_TOLERANCE}. ONNX export covers the layers the onnx engine compiles.`,
  options: {
    format: { type: 'string', valueName: 'FMT', description: `${Object.keys(EXPORT_FORMATS).join(' or ')}` },
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'directory to create (must not exist, or be empty)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(positionals, 0, 'MODEL_DIR');
    const format = stringOption(values, 'format');
    const out = stringOption(values, 'out');
    if (format === undefined || out === undefined) throw new EcomlError('E_CONFIG_INVALID', 'export needs --format and --out (see --help)');
    const ws = await workspaceFrom(values, ctx);
    try {
      return await exportModel(ws, dir, { format, out });
    } finally {
      await ws.close();
    }
  },
  render(r) {
    return `exported ${r.model_dir} as ${r.format} to ${r.out} (${r.files.join(', ')}); max |Δ| over ${r.checked_samples} seeded inputs: ${r.max_abs_diff.toExponential(2)}`;
  },
});
