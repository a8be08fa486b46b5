/**
 * ecoml's library surface: workflows (train, tune, evaluate, predict, quickstart) over a Workspace,
 * and the concern modules for those who compose their own.
 * @module
 */
export { ERROR_CATALOGUE, EcomlError, isEcomlError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { openWorkspace } from './workflows/workspace.js';
export type { Workspace, WorkspaceSettings } from './workflows/workspace.js';
export { loadSpec, prepareData, trainFromSpec, trainModel } from './workflows/train.js';
export type { PreparedData, TrainCallbacks, TrainedModel, TrainOverrides, TrainReport, TrainRequest } from './workflows/train.js';
export { tuneFromSpec } from './workflows/tune.js';
export type { TrialJson, TuneReport, TuneRequest } from './workflows/tune.js';
export { evaluateModel } from './workflows/evaluate.js';
export type { ClassReport, EvaluationReport, InferenceProfile } from './workflows/evaluate.js';
export { evaluateSaved, evaluationData, openModel, predictWithModel } from './workflows/saved.js';
export type { LoadedModel, Prediction, PredictReport } from './workflows/saved.js';
export { FULL_SIZES, QUICK_SIZES, quickstart } from './workflows/quickstart.js';
export type { QuickstartReport, QuickstartRequest, QuickstartSizes } from './workflows/quickstart.js';
export { emissionsJson, energyJson, stepJson } from './workflows/report.js';
export { ADVISE_DEFAULTS, adviceFile, adviseFromSpec, defaultThreadsList, readAdvice, writeAdvice } from './workflows/advise.js';
export type { AccuracyRun, AccuracyTarget, Advice, AdviceFile, AdviseCallbacks, AdviseReport, AdviseRequest, SettingFigures } from './workflows/advise.js';
export { selectSetting, zeusCost } from './workflows/advise-select.js';
export type { AdviceObjective, CostFigures, Selection, SelectionPolicy } from './workflows/advise-select.js';
export { CARBON_START_DEFAULTS, carbonStartMetrics, waitForCarbon, waitForCarbonIn } from './workflows/carbon-start.js';
export type { CarbonStart, CarbonStartCallbacks, CarbonStartMode, CarbonStartOptions, CarbonStartRequest, CarbonWait } from './workflows/carbon-start.js';
export { startServing } from './workflows/serve.js';
export type { ServeSettings, ServingSession } from './workflows/serve.js';
export { predictRemote } from './workflows/predict-remote.js';
export type { RemotePredictOptions, RemotePredictReport } from './workflows/predict-remote.js';
export * as meter from './meter/index.js';
export * as data from './data/index.js';
export * as models from './models/index.js';
export * as engine from './engine/index.js';
export * as train from './train/index.js';
export * as tune from './tune/index.js';
export * as store from './store/index.js';
export * as serve from './serve/index.js';
