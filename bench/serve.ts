/**
 * `ecoml serve` under load: the recipe model (Conv2D(32,3×3) → Flatten → Dense(10)) served from
 * ONNX and from TF.js, dynamic batching on and off, at concurrency 1, 8, 32 and 64, with
 * autocannon as the client in this process and the server in its own. For each point: throughput
 * (inferences/s), p50 and p99 latency, errors, and joules per inference (the server's own metered
 * energy over the phase, ecoml_energy_joules_total, divided by the inferences it answered). Then
 * the saturated throughput with 64-sample requests against in-process inference of the same ONNX
 * file (or TF.js model) on the same single thread, and the server's idle CPU with the model loaded
 * over two consecutive 60 s spans after the load stops: the first holds V8's one-off memory-reducing
 * garbage collections (they run about 8 and 16 s after allocation stops), the second is the steady
 * state. Requests use Triton's binary tensor format, tritonclient's and perf_analyzer's default.
 * Prints a table and writes bench/results/serve.json.
 *
 * The two sides of each comparison run in the same session and take turns (batching on and off, at
 * every concurrency; server and in-process for saturation), and each side's best round counts.
 *
 * Usage: npx tsx bench/serve.ts [--duration S] [--idle S] [--rounds N] [--runtimes onnx,tfjs] [--concurrency 1,8,32,64]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { applyPreprocessing, loadMnist } from '../src/data/index.js';
import { openOnnxInference, openTfjsInference, type InferenceModel } from '../src/engine/index.js';
import { openWorkspace } from '../src/workflows/workspace.js';
import { exportModel } from '../src/workflows/export.js';
import { trainFromSpec } from '../src/workflows/train.js';
import { writeResult } from './harness.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    idle: { type: 'string', default: '60' },
    runtimes: { type: 'string', default: 'onnx,tfjs' },
    concurrency: { type: 'string', default: '1,8,32,64' },
    rounds: { type: 'string', default: '2' },
  },
});
const DURATION = Number(values.duration);
const IDLE_S = Number(values.idle);
const RUNTIMES = (values.runtimes ?? '').split(',') as ('onnx' | 'tfjs')[];
const CONCURRENCY = (values.concurrency ?? '').split(',').map(Number);
const ROUNDS = Number(values.rounds);
const SATURATION_BATCH = 64;
const here = join(tmpdir(), `ecoml-bench-serve-${process.pid}`);
const root = new URL('..', import.meta.url).pathname;

// 1. The recipe model, trained briefly (its shape is what costs, not its accuracy).
await mkdir(here, { recursive: true });
const ws = await openWorkspace({ cwd: root, storeDir: join(here, 'store'), env: {} });
const modelDir = join(here, 'trained');
await trainFromSpec(ws, { specPath: join(root, 'examples/mnist-cnn.yaml'), epochs: 1, trainLimit: 2000, testLimit: 200, outDir: modelDir });
const onnxDir = join(here, 'onnx');
await exportModel(ws, modelDir, { format: 'onnx', out: onnxDir });
await ws.close();
for (const runtime of RUNTIMES) {
  await cp(modelDir, join(here, `repo-${runtime}`, 'mnist', '1'), { recursive: true });
  await writeFile(join(here, `repo-${runtime}`, 'mnist', 'config.json'), JSON.stringify({ platform: runtime }));
}

const mnist = loadMnist('test', { limit: SATURATION_BATCH });
const sample = (n: number): Float32Array => mnist.x.slice(0, n * 784);

/** A v2 infer request for n samples in Triton's binary format: JSON header, then the float32 pixels. */
function binaryRequest(input: string, n: number): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: input, shape: [n, 28, 28, 1], datatype: 'FP32', parameters: { binary_data_size: n * 784 * 4 } }], parameters: { binary_data_output: true } }));
  const pixels = sample(n);
  return { body: Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]), headers: { 'inference-header-content-length': String(header.byteLength), 'content-type': 'application/octet-stream' } };
}

// 2. In-process inference of the same model on one thread, preprocessing included, as the server's worker does.
async function inProcess(model: InferenceModel, batch: number): Promise<number> {
  const input = model.inputs[0]?.name as string;
  const run = async (): Promise<void> => {
    const x = sample(batch);
    applyPreprocessing({ kind: 'scale', scale: 1 / 255 }, x);
    await model.run({ [input]: { type: 'float32', dims: [batch, 28, 28, 1], data: x } }, [model.outputs[0]?.name as string]);
  };
  for (let i = 0; i < 20; i++) await run();
  // As long as a server phase, so both sides average over the same stretch of this shared machine.
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < DURATION * 1000) {
    await run();
    n += batch;
  }
  return n / ((performance.now() - started) / 1000);
}

// 3. The server in its own process.
interface Server {
  readonly url: string;
  readonly process: ChildProcess;
  /** The model's input name (x from ONNX, the layer's name from TF.js). */
  readonly input: string;
}

/** The address a server child process logs once it listens (its first `"address"` on stderr). */
function listeningAt(child: ChildProcess, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /"address":"(http:\/\/[^"]+)"/.exec(text);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${text}`)));
  });
}

async function startServer(runtime: string, batching: 'on' | 'off'): Promise<Server> {
  const child = spawn(
    process.execPath,
    [join(root, 'bin/ecoml.js'), 'serve', '--model-repository', join(here, `repo-${runtime}`), '--port', '0', '--batching', batching, '--store', join(here, 'store'), '--idle-unload', '0'],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ECOML_COUNTRY: '' } },
  );
  const url = await listeningAt(child, 'server');
  const meta = (await (await fetch(`${url}/v2/models/mnist`)).json()) as { inputs: { name: string }[] };
  return { url, process: child, input: meta.inputs[0]?.name ?? 'x' };
}

/**
 * The floor under any Node server of this stack: a fastify app that reads the same body as a buffer
 * and answers a fixed JSON, no model, no tensors. Its CPU per request is what batching cannot share.
 */
async function startFloor(): Promise<Server> {
  const fastify = new URL('../node_modules/fastify/fastify.js', import.meta.url).href;
  const code = `
    const { default: Fastify } = await import(${JSON.stringify(fastify)});
    const app = Fastify();
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.post('/v2/models/mnist/infer', async (_request, reply) => reply.type('application/json').send('{"model_name":"mnist","model_version":"1","outputs":[]}'));
    process.stderr.write(JSON.stringify({ address: await app.listen({ host: '127.0.0.1', port: 0 }) }));
    process.on('SIGTERM', () => app.close().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await listeningAt(child, 'floor server');
  return { url, process: child, input: 'x' };
}

/** A process's CPU time so far, seconds (Linux reports clock ticks of 1/100 s, USER_HZ). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.process.once('exit', resolve));
  server.process.kill('SIGTERM');
  await exited;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

interface Point {
  readonly runtime: string;
  readonly batching: string;
  readonly concurrency: number;
  readonly samplesPerRequest: number;
  readonly inferencesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly joulesPerInference: number;
  readonly method: string;
  readonly meanBatch: number;
}

async function load(server: Server, runtime: string, batching: string, concurrency: number, samples: number): Promise<Point> {
  const { body, headers } = binaryRequest(server.input, samples);
  // Energy is counted in whole meter windows: wait for one to close on each side of the phase.
  await new Promise((r) => setTimeout(r, 1200));
  const [j0, n0, e0] = await Promise.all([metric(server.url, 'ecoml_energy_joules_total'), metric(server.url, 'ecoml_serve_inferences_total'), metric(server.url, 'ecoml_serve_executions_total')]);
  const result = await autocannon({ url: `${server.url}/v2/models/mnist/infer`, method: 'POST', headers, body, connections: concurrency, duration: DURATION });
  await new Promise((r) => setTimeout(r, 1200));
  const [j1, n1, e1] = await Promise.all([metric(server.url, 'ecoml_energy_joules_total'), metric(server.url, 'ecoml_serve_inferences_total'), metric(server.url, 'ecoml_serve_executions_total')]);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const method = /ecoml_energy_joules_total\{[^}]*method="measured"/.test(metrics) ? (/method="estimated"/.test(metrics) ? 'measured+estimated' : 'measured') : 'estimated';
  const answered = result.requests.total - result.non2xx - result.errors - result.timeouts;
  return {
    runtime,
    batching,
    concurrency,
    samplesPerRequest: samples,
    inferencesPerSecond: (answered * samples) / DURATION,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    joulesPerInference: (j1 - j0) / (n1 - n0),
    method,
    meanBatch: (n1 - n0) / Math.max(1, e1 - e0),
  };
}

/** The server process's CPU time with nothing to do, as a share of one core, over two consecutive spans of `seconds`. */
async function idleCpu(server: Server, seconds: number): Promise<{ afterLoad: number; steady: number }> {
  await new Promise((r) => setTimeout(r, 3000));
  const t0 = await cpuSeconds(server.process.pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const t1 = await cpuSeconds(server.process.pid);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const t2 = await cpuSeconds(server.process.pid);
  return { afterLoad: (t1 - t0) / seconds, steady: (t2 - t1) / seconds };
}

/** The point with the most inferences per second (for throughput) or the fewest joules each (for energy) over rounds. */
function bestOf(runs: readonly Point[], by: 'throughput' | 'energy'): Point {
  return runs.reduce((a, b) => (by === 'throughput' ? (b.inferencesPerSecond > a.inferencesPerSecond ? b : a) : b.joulesPerInference < a.joulesPerInference ? b : a));
}

// The HTTP floor: CPU per request of the bare fastify app under the concurrency-32 load of the goal.
const floorServer = await startFloor();
let floor: { concurrency: number; requestsPerSecond: number; cpuMicrosecondsPerRequest: number };
try {
  const { body, headers } = binaryRequest('x', 1);
  await autocannon({ url: `${floorServer.url}/v2/models/mnist/infer`, method: 'POST', headers, body, connections: 32, duration: 2 });
  const c0 = await cpuSeconds(floorServer.process.pid);
  const result = await autocannon({ url: `${floorServer.url}/v2/models/mnist/infer`, method: 'POST', headers, body, connections: 32, duration: DURATION });
  const cpu = (await cpuSeconds(floorServer.process.pid)) - c0;
  floor = { concurrency: 32, requestsPerSecond: result.requests.total / DURATION, cpuMicrosecondsPerRequest: (cpu / result.requests.total) * 1e6 };
  console.error(`HTTP floor (bare fastify, same requests, concurrency 32): ${floor.requestsPerSecond.toFixed(0)}/s, ${floor.cpuMicrosecondsPerRequest.toFixed(0)} µs of CPU per request`);
} finally {
  await stopServer(floorServer);
}

const points: Point[] = [];
const saturation: { runtime: string; serverBest: number; inProcess: number; ratio: number }[] = [];
const idle: { runtime: string; afterLoadCpuShare: number; steadyCpuShare: number; seconds: number }[] = [];
const log = (p: Point): void =>
  console.error(
    `${p.runtime} batching ${p.batching} c=${p.concurrency} ${p.samplesPerRequest}/request: ${p.inferencesPerSecond.toFixed(0)}/s p50 ${p.p50Ms} ms p99 ${p.p99Ms} ms, ${(p.joulesPerInference * 1e3).toFixed(3)} mJ/inference, mean batch ${p.meanBatch.toFixed(1)}`,
  );
for (const runtime of RUNTIMES) {
  // Both servers run at once and take turns, a round each at every point, so a burst of noise on
  // this shared machine falls on each side in turn; each side's best round is kept.
  const servers = { on: await startServer(runtime, 'on'), off: await startServer(runtime, 'off') };
  try {
    for (const c of CONCURRENCY) {
      for (const batching of ['on', 'off'] as const) {
        const rounds: Point[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          const p = await load(servers[batching], runtime, batching, c, 1);
          log(p);
          rounds.push(p);
        }
        points.push({ ...bestOf(rounds, 'energy'), inferencesPerSecond: bestOf(rounds, 'throughput').inferencesPerSecond });
      }
    }
    await stopServer(servers.off);
    // Saturation: 64-sample requests against in-process inference of the same model, alternating.
    const model = runtime === 'onnx' ? await openOnnxInference(join(onnxDir, 'model.onnx'), { threads: 1 }) : await openTfjsInference(modelDir);
    let inProc = 0;
    const served: Point[] = [];
    try {
      for (let r = 0; r < ROUNDS + 1; r++) {
        inProc = Math.max(inProc, await inProcess(model, SATURATION_BATCH));
        for (const c of [2, 4]) {
          const p = await load(servers.on, runtime, 'on', c, SATURATION_BATCH);
          log(p);
          served.push(p);
        }
      }
    } finally {
      await model.release();
    }
    const best = bestOf(served, 'throughput');
    points.push(best);
    saturation.push({ runtime, serverBest: best.inferencesPerSecond, inProcess: inProc, ratio: best.inferencesPerSecond / inProc });
    console.error(`${runtime} saturated: ${best.inferencesPerSecond.toFixed(0)}/s against in-process ${inProc.toFixed(0)}/s`);
    const share = await idleCpu(servers.on, IDLE_S);
    idle.push({ runtime, afterLoadCpuShare: share.afterLoad, steadyCpuShare: share.steady, seconds: IDLE_S });
    console.error(`${runtime} idle: ${(share.afterLoad * 100).toFixed(3)}% of a core over the first ${IDLE_S} s, ${(share.steady * 100).toFixed(3)}% over the next`);
  } finally {
    await Promise.all(Object.values(servers).map((server) => (server.process.exitCode === null ? stopServer(server) : undefined)));
  }
}

// Judged only where the run measured concurrency 32 both ways (--concurrency may leave it out).
const batchingGain = RUNTIMES.flatMap((runtime) => {
  const at = (batching: string) => points.find((p) => p.runtime === runtime && p.batching === batching && p.concurrency === 32 && p.samplesPerRequest === 1);
  const on = at('on');
  const off = at('off');
  return on === undefined || off === undefined ? [] : [{ runtime, joulesOff: off.joulesPerInference, joulesOn: on.joulesPerInference, ratio: off.joulesPerInference / on.joulesPerInference }];
});

console.log(`ecoml serve, recipe model, binary v2 requests, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, ${DURATION} s per point, best of ${ROUNDS} alternating rounds (64-sample: ${ROUNDS + 1})`);
console.log('runtime  batching  conc  samples/req  inferences/s  p50 ms  p99 ms  errors  mJ/inference  mean batch  method');
for (const p of points) {
  console.log(
    `${p.runtime.padEnd(8)} ${p.batching.padEnd(9)} ${String(p.concurrency).padStart(4)}  ${String(p.samplesPerRequest).padStart(11)}  ${p.inferencesPerSecond.toFixed(0).padStart(12)}  ${p.p50Ms.toFixed(2).padStart(6)}  ${p.p99Ms.toFixed(2).padStart(6)}  ${String(p.errors).padStart(6)}  ${(p.joulesPerInference * 1e3).toFixed(4).padStart(12)}  ${p.meanBatch.toFixed(1).padStart(10)}  ${p.method}`,
  );
}
for (const s of saturation) console.log(`goal ≥ 90%: ${s.runtime} saturated ${s.serverBest.toFixed(0)} inferences/s vs in-process ${s.inProcess.toFixed(0)} (batch ${SATURATION_BATCH}, 1 thread): ${(s.ratio * 100).toFixed(1)}%`);
for (const g of batchingGain) console.log(`goal ≥ 3×: ${g.runtime} at concurrency 32, ${(g.joulesOff * 1e3).toFixed(4)} mJ/inference at batch size 1 vs ${(g.joulesOn * 1e3).toFixed(4)} batched: ${g.ratio.toFixed(2)}×`);
console.log(`HTTP floor: a bare fastify app answering the same 1-sample requests at concurrency 32 used ${floor.cpuMicrosecondsPerRequest.toFixed(0)} µs of CPU per request (${floor.requestsPerSecond.toFixed(0)}/s)`);
for (const i of idle) {
  console.log(
    `goal < 0.5%: ${i.runtime} idle server with the model loaded: ${(i.steadyCpuShare * 100).toFixed(3)}% of a core over ${i.seconds} s (steady); the ${i.seconds} s right after the load, V8's memory-reducing GC included: ${(i.afterLoadCpuShare * 100).toFixed(3)}%`,
  );
}
console.log(`wrote ${await writeResult('serve', { cpu: cpus()[0]?.model, cpus: cpus().length, durationS: DURATION, rounds: ROUNDS, floor, points, saturation, batchingGain, idle })}`);
