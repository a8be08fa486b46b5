/**
 * Options and helpers shared by the commands that open a workspace (store, meter, engine).
 * @module
 */
import type { Measurement } from '../../meter/index.js';
import type { HpValue } from '../../models/spec.js';
import { EcomlError } from '../../errors.js';
import { openWorkspace, type Workspace } from '../../workflows/workspace.js';
import { openModel, type LoadedModel } from '../../workflows/saved.js';
import { CARBON_START_DEFAULTS, checkCarbonStartRequest, type CarbonStart, type CarbonStartRequest } from '../../workflows/carbon-start.js';
import { sumMeasurements } from '../../meter/index.js';
import { emissionsJson, energyJson, stepJson, type EmissionsJson, type EnergyJson, type StepJson } from '../../workflows/report.js';
import { numberOption, stringOption } from '../args.js';
import type { CliContext, OptionDef, OptionValues } from '../command.js';
import { formatComponents, formatSteps } from '../format.js';

export const WORKSPACE_OPTIONS = {
  store: { type: 'string', valueName: 'DIR', description: 'run store directory (default .ecoml, or $ECOML_STORE)' },
  country: { type: 'string', valueName: 'CODE', description: 'grid country for CO2e, ISO 3166 alpha-2/3 (default $ECOML_COUNTRY, else world average)' },
  pue: { type: 'string', valueName: 'X', description: 'data-centre power usage effectiveness (default $ECOML_PUE, else 1.0)' },
  engine: { type: 'string', valueName: 'NAME', description: 'engine: onnx (default: ONNX Runtime; specs it cannot compile fall back to tfjs, said on stderr) or tfjs' },
  threads: { type: 'string', valueName: 'N', description: 'threads for the onnx engine (default 1)' },
  device: { type: 'string', valueName: 'NAME', description: "cpu (default); cuda: onnxruntime's CUDA provider (installed separately); webgpu: any GPU with a Vulkan, Metal or D3D12 driver. GPUs run the onnx engine only; fails naming what is missing" },
} as const satisfies Record<string, OptionDef>;

export const DATA_LIMIT_OPTIONS = {
  'train-limit': { type: 'string', valueName: 'N', description: 'use only the first N training samples' },
  'test-limit': { type: 'string', valueName: 'N', description: 'use only the first N test samples' },
} as const satisfies Record<string, OptionDef>;

export const FIT_OPTIONS = {
  epochs: { type: 'string', valueName: 'N', description: 'epochs (default: the spec’s train.epochs)' },
  'batch-size': { type: 'string', valueName: 'N', description: 'mini-batch size (default: the spec’s train.batchSize)' },
  seed: { type: 'string', valueName: 'N', description: 'seed for initial weights, shuffling and dropout' },
  'validation-split': { type: 'string', valueName: 'F', description: 'hold out fraction F of train for validation (default: validate on the test split)' },
  patience: { type: 'string', valueName: 'N', description: 'early stopping: epochs without improvement before stopping' },
  'min-delta': { type: 'string', valueName: 'X', description: 'early stopping: smallest change that counts as improvement' },
  'budget-kwh': { type: 'string', valueName: 'KWH', description: 'stop (checkpoint kept) before an epoch would take the run past this energy' },
  'budget-kg': { type: 'string', valueName: 'KG', description: 'stop (checkpoint kept) before an epoch would take the run past these kg CO2e' },
  ...DATA_LIMIT_OPTIONS,
} as const satisfies Record<string, OptionDef>;

/** Carbon-aware start, shared by the commands that run long jobs (train; tune can spread these too). */
export const CARBON_START_OPTIONS = {
  'start-when-intensity-below': { type: 'string', valueName: 'G', description: `wait until the grid's intensity is below G gCO2e/kWh, re-read every ${CARBON_START_DEFAULTS.pollMinutes} min (providers: $ECOML_INTENSITY, else the country table)` },
  'start-in-greenest-window': { type: 'string', valueName: 'HOURS', description: 'start at the moment in the next HOURS whose run has the lowest mean forecast intensity (flat, with a warning, when nobody forecasts)' },
  'expected-hours': { type: 'string', valueName: 'H', description: `how long the job runs, for the greenest window (default ${CARBON_START_DEFAULTS.expectedHours})` },
  'max-wait': { type: 'string', valueName: 'HOURS', description: `start anyway after this long (default ${CARBON_START_DEFAULTS.maxWaitHours})` },
} as const satisfies Record<string, OptionDef>;

/** The carbon-aware start asked for, or undefined; the flags checked together (one mode, its bounds only with a mode). */
export function parseCarbonStart(values: OptionValues): CarbonStartRequest | undefined {
  const below = numberOption(values, 'start-when-intensity-below', { min: 0 });
  const horizonHours = numberOption(values, 'start-in-greenest-window', { min: 0 });
  const expectedHours = numberOption(values, 'expected-hours', { min: 0 });
  const maxWaitHours = numberOption(values, 'max-wait', { min: 0 });
  if (below !== undefined && horizonHours !== undefined) throw new EcomlError('E_CONFIG_INVALID', '--start-when-intensity-below and --start-in-greenest-window are two ways to wait: give one');
  if (below === undefined && horizonHours === undefined) {
    const stray = expectedHours !== undefined ? '--expected-hours' : maxWaitHours !== undefined ? '--max-wait' : undefined;
    if (stray !== undefined) throw new EcomlError('E_CONFIG_INVALID', `${stray} bounds a carbon-aware start: add --start-when-intensity-below G or --start-in-greenest-window HOURS`);
    return undefined;
  }
  if (below !== undefined && expectedHours !== undefined) throw new EcomlError('E_CONFIG_INVALID', '--expected-hours sizes the greenest window; --start-when-intensity-below does not use it');
  const request: CarbonStartRequest = {
    mode: below !== undefined ? { belowGPerKwh: below } : { greenestWindowHours: horizonHours as number, durationHours: expectedHours ?? CARBON_START_DEFAULTS.expectedHours },
    ...(maxWaitHours !== undefined ? { maxWaitHours } : {}),
  };
  checkCarbonStartRequest(request);
  return request;
}

/** The wire form of a carbon-aware start (run JSON). */
export interface CarbonStartJson {
  readonly waited_s: number;
  readonly started_at: string;
  readonly intensity_at_start_g_per_kwh: number;
  readonly expected_mean_g_per_kwh?: number;
  readonly source: string;
  readonly reason: string;
  readonly warnings: readonly string[];
}

export function carbonStartJson(start: CarbonStart): CarbonStartJson {
  return {
    waited_s: start.waitedS,
    started_at: start.startedAt,
    intensity_at_start_g_per_kwh: start.intensityAtStartGPerKwh,
    ...(start.expectedMeanGPerKwh !== undefined ? { expected_mean_g_per_kwh: start.expectedMeanGPerKwh } : {}),
    source: start.source,
    reason: start.reason,
    warnings: start.warnings,
  };
}

export async function workspaceFrom(values: OptionValues, ctx: CliContext): Promise<Workspace> {
  const country = stringOption(values, 'country');
  const pue = numberOption(values, 'pue', { min: 1 });
  const storeDir = stringOption(values, 'store');
  const engine = stringOption(values, 'engine');
  const threads = numberOption(values, 'threads', { integer: true, min: 1 });
  const device = stringOption(values, 'device');
  return openWorkspace({
    cwd: ctx.cwd,
    env: ctx.env,
    log: (line) => ctx.stderr.write(`${line}\n`),
    ...(country !== undefined ? { country } : {}),
    ...(pue !== undefined ? { pue } : {}),
    ...(storeDir !== undefined ? { storeDir } : {}),
    ...(engine !== undefined ? { engine } : {}),
    ...(threads !== undefined ? { threads } : {}),
    ...(device !== undefined ? { device } : {}),
  });
}

/** Opens a workspace and a saved model for `work`, and releases both whatever happens. */
export async function withSavedModel<T>(values: OptionValues, ctx: CliContext, dir: string, work: (ws: Workspace, model: LoadedModel) => Promise<T>): Promise<T> {
  const ws = await workspaceFrom(values, ctx);
  try {
    const model = await openModel(ws, dir);
    try {
      return await work(ws, model);
    } finally {
      model.compiled.dispose();
    }
  } finally {
    await ws.close();
  }
}

/** The energy report of a command that loads a saved model and then runs one step with it. */
export function loadedStepJson(model: LoadedModel, step: string, measurement: Measurement): MeteredJson & { readonly total: Measurement } {
  const total = sumMeasurements(step, [model.measurement, measurement]);
  return { total, ...meteredJson(total, [['load', model.measurement], [step, measurement]]) };
}

export function fitOverrides(values: OptionValues): Record<string, number> {
  const entries: [string, number | undefined][] = [
    ['epochs', numberOption(values, 'epochs', { integer: true, min: 1 })],
    ['batchSize', numberOption(values, 'batch-size', { integer: true, min: 1 })],
    ['seed', numberOption(values, 'seed', { integer: true, min: 0 })],
    ['validationSplit', numberOption(values, 'validation-split', { min: 0, max: 1, exclusiveMax: true })],
    ['patience', numberOption(values, 'patience', { integer: true, min: 0 })],
    ['minDelta', numberOption(values, 'min-delta', { min: 0 })],
    ['budgetKwh', numberOption(values, 'budget-kwh', { min: 0 })],
    ['budgetKg', numberOption(values, 'budget-kg', { min: 0 })],
    ...limitEntries(values),
  ];
  return Object.fromEntries(entries.filter((e): e is [string, number] => e[1] !== undefined));
}

function limitEntries(values: OptionValues): [string, number | undefined][] {
  return [
    ['trainLimit', numberOption(values, 'train-limit', { integer: true, min: 1 })],
    ['testLimit', numberOption(values, 'test-limit', { integer: true, min: 1 })],
  ];
}

/** `--hp filters=64 --hp units=128`: explicit hyperparameter values, numbers and booleans parsed. */
export function parseHpAssignments(raw: string | boolean | string[] | undefined): Record<string, HpValue> | undefined {
  if (raw === undefined || typeof raw === 'boolean') return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  const out: Record<string, HpValue> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new EcomlError('E_CONFIG_INVALID', `--hp expects name=value, got "${item}"`);
    const name = item.slice(0, eq);
    const text = item.slice(eq + 1);
    out[name] = text === 'true' ? true : text === 'false' ? false : text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
  }
  return out;
}

/** The energy/emissions fields every metered command reports in --json. */
export interface MeteredJson {
  readonly energy: EnergyJson;
  readonly emissions: EmissionsJson;
  readonly steps: readonly StepJson[];
}

export function meteredJson(total: Measurement, steps: readonly (readonly [string, Measurement])[]): MeteredJson {
  return { energy: energyJson(total), emissions: emissionsJson(total), steps: steps.map(([name, m]) => stepJson(name, m)) };
}

export function renderMetered(result: MeteredJson): string {
  return [
    'energy and emissions per step:',
    formatSteps(result.steps, { step: 'total', energy: result.energy, emissions: result.emissions }),
    'components (total):',
    formatComponents(result.energy),
    `grid: ${result.emissions.country_name} (${result.emissions.intensity_source}), PUE ${result.emissions.pue}`,
  ].join('\n');
}
