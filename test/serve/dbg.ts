import { mkdir } from 'node:fs/promises';
import pino from 'pino';
import { createMeter } from '../../src/meter/index.js';
import { startServer, DEFAULT_SERVE, createFileResolver } from '../../src/serve/index.js';
import { affineOnnx, thirdPartyOnnx, writeOnnx } from './models.js';
const repo = '/tmp/dbg-repo';
await writeOnnx(`${repo}/affine/1`, affineOnnx(3, 2, 1));
await writeOnnx(`${repo}/third/1`, thirdPartyOnnx());
await mkdir(`${repo}/empty`, { recursive: true });
const meter = await createMeter({ nvml: false });
const server = await startServer({
  source: { repository: repo }, defaults: DEFAULT_SERVE, meter, resolveFiles: createFileResolver({ toOnnx: async () => ({ unsupported: 'x' }) }),
  log: pino({ level: 'info' }, pino.destination(2)), pollIntervalS: 1, meterIntervalMs: 1000, maxBodyBytes: 1 << 20, serverVersion: '0.1.0',
});
const show = async (method: string, url: string, payload?: unknown, headers?: Record<string,string>) => {
  const r = await server.app.inject({ method: method as 'GET', url, ...(payload !== undefined ? { payload: payload as string } : {}), ...(headers ? { headers } : {}) });
  console.log(method, url, r.statusCode, JSON.stringify(r.headers['ecoml-energy-joules'] ?? ''), r.body.slice(0, 400));
};
await show('GET', '/v2');
await show('GET', '/v2/models/affine');
await show('GET', '/v2/models/affine/config');
await show('POST', '/v2/models/affine/infer', { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
await show('POST', '/v2/models/third/infer', { inputs: [{ name: 'tokens', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] }, { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [0.5] }] });
await show('GET', '/v1/models/affine');
await show('GET', '/v1/models/affine/metadata');
await show('POST', '/v1/models/affine:predict', { instances: [[1, 2, 3], [4, 5, 6]] });
await show('POST', '/v1/models/affine:predict', { inputs: [[1, 2, 3]] });
await show('POST', '/v1/models/third:predict', { instances: [{ tokens: [1, 2], scale: [2] }] });
await show('POST', '/v2/repository/index', {});
await show('GET', '/v2/models/affine/stats');
await new Promise((r) => setTimeout(r, 1200));
await show('GET', '/metrics');
const r = await server.app.inject({ method: 'GET', url: '/metrics' });
console.log(r.body.split('\n').filter((l) => l.startsWith('ecoml_serve_energy') || l.startsWith('ecoml_serve_joules') || l.startsWith('ecoml_serve_inferences')).join('\n'));
console.log(await server.close());
await meter.close();
