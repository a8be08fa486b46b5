import { describe, expect, it } from 'vitest';
import { argmaxRows, confusionMatrix, perClassReport } from '../../src/workflows/evaluate.js';

describe('evaluation math', () => {
  it('argmax picks each row’s largest probability', () => {
    const p = Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.3, 0.2]);
    expect(Array.from(argmaxRows(p, 2, 3))).toEqual([1, 0]);
  });

  it('builds the confusion matrix (rows = truth) and per-class precision/recall/f1', () => {
    const truth = Int32Array.from([0, 0, 1, 1, 1, 2]);
    const predicted = Int32Array.from([0, 1, 1, 1, 0, 2]);
    const m = confusionMatrix(truth, predicted, 3);
    expect(m).toEqual([
      [1, 1, 0],
      [1, 2, 0],
      [0, 0, 1],
    ]);
    const report = perClassReport(m, ['a', 'b', 'c']);
    expect(report[0]).toMatchObject({ name: 'a', precision: 0.5, recall: 0.5, support: 2 });
    expect(report[1]?.precision).toBeCloseTo(2 / 3);
    expect(report[1]?.recall).toBeCloseTo(2 / 3);
    expect(report[2]).toMatchObject({ precision: 1, recall: 1, f1: 1, support: 1 });
  });

  it('a class never predicted has precision 0, not NaN', () => {
    const report = perClassReport(confusionMatrix(Int32Array.from([0, 1]), Int32Array.from([0, 0]), 2));
    expect(report[1]).toMatchObject({ precision: 0, recall: 0, f1: 0 });
  });
});
