import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { createOnnxEngine, type CompiledModel } from '../../src/engine/index.js';
import { defineSpec, resolveModelSpec } from '../../src/models/index.js';
import { fit, INITIAL_EARLY_STOPPING } from '../../src/train/index.js';
import { signedValues } from '../engine/values.js';

const spec = resolveModelSpec(defineSpec({ name: 'fit-steps', numClasses: 2, model: { input: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] } }), {});
const train: Dataset = { name: 'synthetic', x: signedValues(4, 10 * 3), y: Int32Array.from({ length: 10 }, (_, i) => i % 2), n: 10, featureShape: [3], numClasses: 2 };

describe('fit: afterStep', () => {
  const open: CompiledModel[] = [];
  afterAll(() => open.forEach((m) => m.dispose()));

  it('is awaited after every optimizer step with the steps taken across epochs, a resumed run counting the epochs before it', async () => {
    const model = await createOnnxEngine().compile(spec, { seed: 1 });
    open.push(model);
    const options = { model, train, batchSize: 4, seed: 1, shuffle: false };
    const seen: number[] = [];
    let pending = 0;
    const afterStep = async (steps: number): Promise<void> => {
      pending++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      seen.push(steps);
      pending--;
    };
    // 10 samples in batches of 4: 3 steps an epoch; onBatch runs only once the awaited hook is done.
    await fit({ ...options, epochs: 2, afterStep, onBatch: () => expect(pending).toBe(0) });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    seen.length = 0;
    await fit({ ...options, epochs: 3, afterStep, resume: { epoch: 2, history: [], earlyStopping: INITIAL_EARLY_STOPPING } });
    expect(seen).toEqual([7, 8, 9]);
  });
});
