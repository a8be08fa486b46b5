import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './harness.js';

describe('harness smoke', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());
  it('answers v2 and v1', async () => {
    const r = await t.request('POST', '/v2/models/affine/infer', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [3, 5, 7] }] });
    const p = await t.request('POST', '/v1/models/affine:predict', { instances: [[1, 2, 3]] });
    expect(p.json()).toEqual({ predictions: [[3, 5, 7]] });
  });
});
