import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { analyzeLayer, LAYER_TYPES, parseLayerConfig } from '../../src/models/index.js';
import type { LayerAnalysis } from '../../src/models/index.js';

function analyze(raw: { type: string } & Record<string, unknown>, input: number[]): LayerAnalysis {
  return analyzeLayer(parseLayerConfig(raw, 'layer'), input, 'layer');
}

function failure(run: () => unknown): EcomlError {
  try {
    run();
  } catch (error) {
    if (error instanceof EcomlError) return error;
    throw error;
  }
  throw new Error('expected an EcomlError');
}

describe('layer registry', () => {
  it('fills Keras defaults', () => {
    expect(parseLayerConfig({ type: 'conv2d', filters: 4, kernelSize: [3, 2] }, 'l')).toEqual({
      type: 'conv2d',
      filters: 4,
      kernelSize: [3, 2],
      strides: 1,
      padding: 'valid',
      dilationRate: 1,
      activation: 'linear',
      useBias: true,
    });
    expect(parseLayerConfig({ type: 'lstm', units: 8 }, 'l')).toMatchObject({ activation: 'tanh', recurrentActivation: 'sigmoid', returnSequences: false });
  });

  it('rejects activations tfjs-layers does not have', () => {
    expect(() => parseLayerConfig({ type: 'dense', units: 2, activation: 'sigmoidal' }, 'model.layers[0]')).toThrow(/model\.layers\[0\]\.activation: expected an activation/);
  });

  it('infers conv2d output sizes as Keras does', () => {
    expect(analyze({ type: 'conv2d', filters: 5, kernelSize: 3, strides: 2, padding: 'same' }, [7, 7, 3]).outputShape).toEqual([4, 4, 5]);
    expect(analyze({ type: 'conv2d', filters: 5, kernelSize: 3, strides: 2 }, [7, 8, 3]).outputShape).toEqual([3, 3, 5]);
    // A dilated 3×3 kernel spans 5×5.
    expect(analyze({ type: 'conv2d', filters: 1, kernelSize: 3, dilationRate: 2 }, [7, 7, 1]).outputShape).toEqual([3, 3, 1]);
    const conv = analyze({ type: 'conv2d', filters: 32, kernelSize: 3 }, [28, 28, 1]);
    expect(conv).toEqual({ outputShape: [26, 26, 32], params: 320, flops: 2 * 9 * 32 * 26 * 26 + 32 * 26 * 26 });
  });

  it('rejects a kernel larger than its input, and strides with dilation', () => {
    const big = failure(() => analyze({ type: 'conv2d', filters: 1, kernelSize: 5 }, [4, 4, 1]));
    expect(big.code).toBe('E_SHAPE_MISMATCH');
    expect(big.message).toContain('larger than the input');
    expect(failure(() => analyze({ type: 'conv1d', filters: 1, kernelSize: 2, strides: 2, dilationRate: 2 }, [9, 1])).code).toBe('E_SPEC_INVALID');
    expect(failure(() => analyze({ type: 'conv2d', filters: 1, kernelSize: 3 }, [28, 28])).message).toContain('expects a [height, width, channels] input, got [28, 28]');
  });

  it('infers pooling, global pooling, flatten and reshape', () => {
    expect(analyze({ type: 'maxPooling2d' }, [7, 7, 3])).toEqual({ outputShape: [3, 3, 3], params: 0, flops: 3 * 3 * 3 * 4 });
    expect(analyze({ type: 'averagePooling2d', poolSize: 3, strides: 1, padding: 'same' }, [5, 5, 2]).outputShape).toEqual([5, 5, 2]);
    expect(analyze({ type: 'maxPooling1d', poolSize: 3 }, [10, 4]).outputShape).toEqual([3, 4]);
    expect(analyze({ type: 'globalAveragePooling2d' }, [5, 5, 2])).toEqual({ outputShape: [2], params: 0, flops: 50 });
    expect(analyze({ type: 'flatten' }, [5, 5, 2]).outputShape).toEqual([50]);
    expect(analyze({ type: 'reshape', targetShape: [-1, 10] }, [5, 5, 2]).outputShape).toEqual([5, 10]);
    expect(failure(() => analyze({ type: 'reshape', targetShape: [7, 7] }, [28, 28])).code).toBe('E_SHAPE_MISMATCH');
    expect(failure(() => analyze({ type: 'flatten' }, [10])).code).toBe('E_SHAPE_MISMATCH');
  });

  it('counts dense parameters and FLOPs per position', () => {
    expect(analyze({ type: 'dense', units: 10 }, [21632])).toEqual({ outputShape: [10], params: 216_330, flops: 2 * 21632 * 10 + 10 });
    expect(analyze({ type: 'dense', units: 3, useBias: false }, [5, 4])).toEqual({ outputShape: [5, 3], params: 12, flops: 5 * 2 * 4 * 3 });
  });

  it('counts recurrent gates at every step', () => {
    // LSTM: 4 gates of (input + recurrent) weights plus biases.
    expect(analyze({ type: 'lstm', units: 64 }, [28, 28])).toEqual({
      outputShape: [64],
      params: 4 * (28 * 64 + 64 * 64 + 64),
      flops: 28 * (2 * 4 * 64 * (28 + 64) + 4 * 64),
    });
    expect(analyze({ type: 'gru', units: 8, returnSequences: true }, [5, 3])).toMatchObject({ outputShape: [5, 8], params: 3 * (3 * 8 + 8 * 8 + 8) });
    expect(analyze({ type: 'simpleRnn', units: 4 }, [5, 3]).params).toBe(3 * 4 + 4 * 4 + 4);
    const bi = analyze({ type: 'bidirectional', layer: { type: 'lstm', units: 4, returnSequences: true } }, [5, 3]);
    expect(bi.outputShape).toEqual([5, 8]);
    expect(bi.params).toBe(2 * 4 * (3 * 4 + 4 * 4 + 4));
    expect(analyze({ type: 'bidirectional', layer: { type: 'gru', units: 4 }, mergeMode: 'sum' }, [5, 3]).outputShape).toEqual([4]);
  });

  it('counts normalization and embedding parameters', () => {
    expect(analyze({ type: 'batchNormalization' }, [4, 4, 3]).params).toBe(12);
    expect(analyze({ type: 'layerNormalization' }, [6]).params).toBe(12);
    expect(analyze({ type: 'embedding', inputDim: 100, outputDim: 8 }, [12])).toEqual({ outputShape: [12, 8], params: 800, flops: 0 });
  });

  it('counts a transformer encoder as Keras does, with keras_hub defaults', () => {
    expect(parseLayerConfig({ type: 'transformerEncoder', numHeads: 4, intermediateDim: 128 }, 'l')).toEqual({
      type: 'transformerEncoder',
      numHeads: 4,
      intermediateDim: 128,
      dropout: 0,
      activation: 'relu',
      layerNormEpsilon: 1e-5,
      normalizeFirst: false,
    });
    // Query, key, value and output projections 64×64 + 64 each, two layer norms of 2·64, feed-forward 64→128→64.
    const projections = 4 * (2 * 64 * 64 + 64) + (2 * 64 * 128 + 128) + (2 * 128 * 64 + 64);
    expect(analyze({ type: 'transformerEncoder', numHeads: 4, intermediateDim: 128 }, [28, 64])).toEqual({
      outputShape: [28, 64],
      params: 4 * (64 * 64 + 64) + 2 * 128 + (64 * 128 + 128) + (128 * 64 + 64),
      // Projections at every step, scores and weighted values 2·28²·64 each, two residual adds, two layer norms.
      flops: 28 * projections + 2 * 2 * 28 * 28 * 64 + 2 * 28 * 64 + 2 * 5 * 28 * 64,
    });
  });

  it('rejects a transformer encoder whose heads do not divide its features, naming the field', () => {
    const error = failure(() => analyzeLayer(parseLayerConfig({ type: 'transformerEncoder', numHeads: 3, intermediateDim: 8 }, 'model.layers[1]'), [5, 64], 'model.layers[1]'));
    expect(error.code).toBe('E_SPEC_INVALID');
    expect(error.message).toBe("model.layers[1].numHeads: 3 heads do not divide the input's 64 features");
    expect(error.details.path).toBe('model.layers[1].numHeads');
    expect(failure(() => analyze({ type: 'transformerEncoder', numHeads: 2, intermediateDim: 8 }, [64])).code).toBe('E_SHAPE_MISMATCH');
    expect(() => parseLayerConfig({ type: 'transformerEncoder', numHeads: 2, intermediateDim: 8, dropout: 1 }, 'model.layers[1]')).toThrow(/model\.layers\[1\]\.dropout: expected a number in \[0, 1\)/);
  });

  it('counts position embeddings: a learned [steps, dim] table added, after token embeddings or on their own', () => {
    expect(analyze({ type: 'positionEmbedding' }, [28, 64])).toEqual({ outputShape: [28, 64], params: 28 * 64, flops: 28 * 64 });
    expect(analyze({ type: 'tokenAndPositionEmbedding', inputDim: 100, outputDim: 8 }, [12])).toEqual({ outputShape: [12, 8], params: 100 * 8 + 12 * 8, flops: 12 * 8 });
    expect(failure(() => analyze({ type: 'positionEmbedding' }, [28])).message).toContain('expects a [steps, features] input, got [28]');
    expect(failure(() => analyze({ type: 'tokenAndPositionEmbedding', inputDim: 10, outputDim: 2 }, [4, 3])).code).toBe('E_SHAPE_MISMATCH');
  });

  it('has a schema and an analysis for every type', () => {
    expect(Object.keys(LAYER_TYPES).sort()).toEqual(
      [
        'activation',
        'averagePooling1d',
        'averagePooling2d',
        'batchNormalization',
        'bidirectional',
        'conv1d',
        'conv2d',
        'dense',
        'dropout',
        'embedding',
        'flatten',
        'globalAveragePooling1d',
        'globalAveragePooling2d',
        'globalMaxPooling1d',
        'globalMaxPooling2d',
        'gru',
        'layerNormalization',
        'leakyRelu',
        'lstm',
        'maxPooling1d',
        'maxPooling2d',
        'positionEmbedding',
        'reshape',
        'simpleRnn',
        'tokenAndPositionEmbedding',
        'transformerEncoder',
      ].sort(),
    );
  });
});
