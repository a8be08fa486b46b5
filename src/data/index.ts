/**
 * The data layer: loading datasets (MNIST, IDX, CSV), preprocessing, splits and batches, and
 * prediction inputs.
 * @module
 */
export type { Dataset, Preprocessing } from './types.js';
export { encodeIdx, decodeIdx, idxFeatureShape, idxImages, idxPair, loadIdxPair, parseIdx, readIdxFile } from './idx.js';
export type { IdxFile, IdxImages, IdxPairOptions, IdxType } from './idx.js';
export { loadMnist, mnistDataDir } from './mnist.js';
export type { MnistSplit } from './mnist.js';
export { csvFeatures, csvLabels, labelColumnIndex, loadCsvDataset, parseCsv, readCsvFile } from './csv.js';
export type { CsvDatasetOptions, CsvFeatures, CsvLabelOptions, CsvLabels, CsvRecord, CsvTable } from './csv.js';
export { applyPreprocessing, fitPreprocessing, PreprocessingSchema } from './preprocess.js';
export type { NormalizeKind } from './preprocess.js';
export { limitDataset, selectRows, splitValidation } from './split.js';
export { BatchIterator, batches, epochSeed } from './batches.js';
export type { Batch, BatchOptions } from './batches.js';
export { loadTrainTest } from './load.js';
export type { DataSpec, LoadOptions, TrainTest } from './load.js';
export { loadPredictInput } from './predict-input.js';
export type { PredictInput, PredictInputOptions } from './predict-input.js';
export { downloadFile } from './download.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export { featureSize } from './shape.js';
