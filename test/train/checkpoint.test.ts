import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INITIAL_EARLY_STOPPING, readCheckpoint, writeCheckpoint } from '../../src/train/index.js';

const weights = [
  { name: 'dense/kernel', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  { name: 'dense/bias', shape: [3], values: Float32Array.from([0.5, -0.5, 0]) },
];
const optimizer = [{ name: 'iter', shape: [], values: Float32Array.from([7]) }];
const state = {
  runId: 'run-1',
  epoch: 3,
  history: [{ epoch: 1, metrics: { loss: 1 }, durationS: 1, samplesPerSecond: 10 }],
  earlyStopping: INITIAL_EARLY_STOPPING,
};

describe('training checkpoints', () => {
  it('round-trips weights, optimizer state and loop state exactly, replacing older checkpoints', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'ecoml-ckpt-')), 'ckpt');
    await writeCheckpoint(dir, { ...state, epoch: 1 }, weights, optimizer);
    await writeCheckpoint(dir, state, weights, optimizer);
    const back = await readCheckpoint(dir);
    expect(back.state).toEqual(state);
    expect(back.weights).toEqual(weights);
    expect(back.optimizer).toEqual(optimizer);
  });

  it('reports a missing checkpoint and a truncated weights file with codes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ecoml-ckpt-'));
    await expect(readCheckpoint(join(root, 'none'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    const dir = join(root, 'ckpt');
    await writeCheckpoint(dir, state, weights, optimizer);
    const bytes = await readFile(join(dir, 'weights.bin'));
    await writeFile(join(dir, 'weights.bin'), bytes.subarray(0, 8));
    await expect(readCheckpoint(dir)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT' });
  });
});
