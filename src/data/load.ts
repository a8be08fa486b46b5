/**
 * Loading the train (and test) data a spec's `data` section names, normalised with preprocessing
 * fitted on the training samples only.
 * @module
 */
import { resolve } from 'node:path';
import type { z } from 'zod';
import { EcomlError } from '../errors.js';
import type { DataSchema } from '../models/spec.js';
import { loadCsvDataset } from './csv.js';
import { loadIdxPair } from './idx.js';
import { loadMnist } from './mnist.js';
import { applyPreprocessing, fitPreprocessing, type NormalizeKind } from './preprocess.js';
import { formatShape } from './shape.js';
import { splitValidation } from './split.js';
import type { Dataset, Preprocessing } from './types.js';

export type DataSpec = z.infer<typeof DataSchema>;

export interface LoadOptions {
  /** Directory of the spec file: relative paths in the spec are resolved against it. */
  readonly baseDir: string;
  readonly normalize: NormalizeKind;
  readonly trainLimit?: number;
  readonly testLimit?: number;
  /** The model's class count; labels must be below it. By default the training labels decide. */
  readonly numClasses?: number;
  /** Hold out part of the training split for validation, before preprocessing is fitted. */
  readonly validation?: { readonly fraction: number; readonly seed: number };
}

export interface TrainTest {
  readonly train: Dataset;
  readonly validation?: Dataset;
  readonly test?: Dataset;
  readonly preprocessing: Preprocessing;
}

export function loadTrainTest(data: DataSpec, options: LoadOptions): TrainTest {
  const { train: loaded, test } = loadRaw(data, options);
  if (test !== undefined) checkSameFeatures(loaded, test);
  const { train, validation } =
    options.validation === undefined ? { train: loaded, validation: undefined } : splitValidation(loaded, options.validation.fraction, options.validation.seed);
  const preprocessing = fitPreprocessing(options.normalize, train);
  for (const ds of [train, validation, test]) if (ds !== undefined) applyPreprocessing(preprocessing, ds.x);
  return { train, preprocessing, ...(validation === undefined ? {} : { validation }), ...(test === undefined ? {} : { test }) };
}

function loadRaw(data: DataSpec, options: LoadOptions): { train: Dataset; test?: Dataset } {
  const path = (p: string): string => resolve(options.baseDir, p);
  switch (data.source) {
    case 'mnist': {
      const train = loadMnist('train', { limit: options.trainLimit, numClasses: options.numClasses });
      return { train, test: loadMnist('test', { limit: options.testLimit, numClasses: train.numClasses }) };
    }
    case 'idx': {
      const train = loadIdxPair(path(data.trainImages), path(data.trainLabels), { limit: options.trainLimit, numClasses: options.numClasses });
      if ((data.testImages === undefined) !== (data.testLabels === undefined)) {
        throw new EcomlError('E_SPEC_INVALID', 'data.testImages and data.testLabels must be given together', {
          details: { testImages: data.testImages, testLabels: data.testLabels },
        });
      }
      if (data.testImages === undefined || data.testLabels === undefined) return { train };
      return { train, test: loadIdxPair(path(data.testImages), path(data.testLabels), { limit: options.testLimit, numClasses: train.numClasses }) };
    }
    case 'csv': {
      const train = loadCsvDataset(path(data.train), { labelColumn: data.labelColumn, limit: options.trainLimit, numClasses: options.numClasses });
      if (data.test === undefined) return { train };
      const test = loadCsvDataset(path(data.test), {
        labelColumn: data.labelColumn,
        limit: options.testLimit,
        numClasses: train.numClasses,
        classNames: train.classNames,
      });
      return { train, test };
    }
  }
}

/** A test split must have the training split's sample shape and, for CSV, its columns in order. */
function checkSameFeatures(train: Dataset, test: Dataset): void {
  const shapes = [formatShape(train.featureShape), formatShape(test.featureShape)];
  const names = [train.featureNames?.join(', '), test.featureNames?.join(', ')];
  if (shapes[0] !== shapes[1] || names[0] !== names[1]) {
    const what = shapes[0] !== shapes[1] ? `sample shape ${shapes[1]}, training data has ${shapes[0]}` : `feature columns (${names[1]}), training data has (${names[0]})`;
    throw new EcomlError('E_SHAPE_MISMATCH', `test data "${test.name}" has ${what}`, {
      details: { file: test.name, train: train.featureNames ?? train.featureShape, test: test.featureNames ?? test.featureShape },
    });
  }
}
