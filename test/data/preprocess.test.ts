import { describe, expect, it } from 'vitest';
import { applyPreprocessing, fitPreprocessing, PreprocessingSchema, type Dataset } from '../../src/data/index.js';
import { expectError } from './helpers.js';

function dataset(x: number[], featureShape: number[], valueMax?: number): Dataset {
  const k = featureShape.reduce((a, b) => a * b, 1);
  const n = x.length / k;
  return { name: 't', x: Float32Array.from(x), y: new Int32Array(n), n, featureShape, numClasses: 1, ...(valueMax ? { valueMax } : {}) };
}

describe('preprocessing', () => {
  it('scales byte data by 1/255 and other data by 1/max|x|', () => {
    expect(fitPreprocessing('scale', dataset([0, 51, 102], [3], 255))).toEqual({ kind: 'scale', scale: 1 / 255 });
    const p = fitPreprocessing('scale', dataset([-8, 2, 4, 1], [2]));
    expect(p).toEqual({ kind: 'scale', scale: 1 / 8 });
    expect(Array.from(applyPreprocessing(p, Float32Array.from([-8, 2, 4, 1])))).toEqual([-1, 0.25, 0.5, 0.125]);
    expect(fitPreprocessing('scale', dataset([0, 0], [2]))).toEqual({ kind: 'scale', scale: 1 });
  });

  it('standardizes per column, with std 1 for a constant column', () => {
    const ds = dataset([1, 5, 10, 3, 5, 20], [3]);
    const p = fitPreprocessing('standardize', ds);
    expect(p).toEqual({ kind: 'standardize', mean: [2, 5, 15], std: [1, 1, 5] });
    expect(Array.from(applyPreprocessing(p, ds.x))).toEqual([-1, 0, -1, 1, 0, 1]);
  });

  it('standardizes images per channel, not per pixel', () => {
    const p = fitPreprocessing('standardize', dataset([0, 2, 4, 6, 2, 4], [1, 3, 2]));
    expect(p).toMatchObject({ mean: [2, 4] });
    if (p.kind !== 'standardize') throw new Error('unreachable');
    expect(p.std[0]).toBeCloseTo(Math.sqrt(8 / 3));
    expectError(() => applyPreprocessing(p, new Float32Array(3)), 'E_SHAPE_MISMATCH');
  });

  it('survives a JSON round trip and repeats exactly', () => {
    const ds = dataset([0.1, 7, 3.3, -2, 9.9, 4], [2]);
    for (const kind of ['scale', 'standardize', 'none'] as const) {
      const p = fitPreprocessing(kind, ds);
      const restored = PreprocessingSchema.parse(JSON.parse(JSON.stringify(p)));
      expect(restored).toEqual(p);
      expect(applyPreprocessing(restored, Float32Array.from(ds.x))).toEqual(applyPreprocessing(p, Float32Array.from(ds.x)));
    }
    expect(PreprocessingSchema.safeParse({ kind: 'scale', scale: 0 }).success).toBe(false);
    expect(PreprocessingSchema.safeParse({ kind: 'standardize', mean: [0], std: [0] }).success).toBe(false);
  });

  it('leaves data alone for none', () => {
    expect(Array.from(applyPreprocessing({ kind: 'none' }, Float32Array.from([3, -4])))).toEqual([3, -4]);
  });
});
