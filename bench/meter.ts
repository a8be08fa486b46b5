/**
 * The meter's own cost: CPU time its background sampler spends per second of wall time (goal < 1%
 * at the default 1 s interval), against the same idle wait with no meter, and the cost of one
 * window (begin + end). Prints a table and writes bench/results/meter.json.
 * Usage: npx tsx bench/meter.ts [--seconds 20]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createMeter } from '../src/meter/index.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const seconds = Number(values.seconds);

function cpuSecondsOf(work: () => Promise<void>): Promise<{ cpuS: number; wallS: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return work().then(() => {
    const cpu = process.cpuUsage(cpu0);
    return { cpuS: (cpu.user + cpu.system) / 1e6, wallS: (performance.now() - t0) / 1000 };
  });
}

// Let start-up work (module loading, JIT) finish before the baseline is taken.
await sleep(2000);
const before = await cpuSecondsOf(() => sleep(seconds * 1000));

const rows: { intervalMs: number; cpuS: number; overheadPercent: number; cpuMsPerS: number }[] = [];
for (const intervalMs of [1000, 100]) {
  const meter = await createMeter({ samplingIntervalMs: intervalMs });
  const window = await meter.begin('idle');
  const r = await cpuSecondsOf(() => sleep(seconds * 1000));
  await window.end();
  await meter.close();
  rows.push({ intervalMs, cpuS: r.cpuS, overheadPercent: Number.NaN, cpuMsPerS: Number.NaN });
}

// Baseline = the quieter of two no-meter waits around the metered ones, so drift in the process's own idle work cancels.
const after = await cpuSecondsOf(() => sleep(seconds * 1000));
const baseline = before.cpuS <= after.cpuS ? before : after;
for (const r of rows) {
  const extra = r.cpuS - baseline.cpuS;
  r.overheadPercent = (extra / seconds) * 100;
  r.cpuMsPerS = (extra / seconds) * 1000;
}

const meter = await createMeter({});
const edges = 200;
const edge = await cpuSecondsOf(async () => {
  for (let i = 0; i < edges; i++) await (await meter.begin(`w${i}`)).end();
});
await meter.close();
const windowMs = (edge.wallS / edges) * 1000;

console.log(`meter overhead over ${seconds} s idle, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`);
console.log(`no meter: ${(before.cpuS * 1000).toFixed(1)} and ${(after.cpuS * 1000).toFixed(1)} ms CPU in ${seconds} s (overhead can read slightly negative: below the noise)`);
console.log('sampling interval  CPU ms total  CPU overhead  CPU ms per s');
for (const r of rows) console.log(`${String(r.intervalMs).padStart(14)} ms  ${(r.cpuS * 1000).toFixed(1).padStart(12)}  ${r.overheadPercent.toFixed(3).padStart(10)} %  ${r.cpuMsPerS.toFixed(3).padStart(11)}`);
console.log(`one window (begin + end): ${windowMs.toFixed(3)} ms wall`);
console.log(`goal: < 1% at 1000 ms — ${rows[0] && rows[0].overheadPercent < 1 ? 'met' : 'NOT met'}`);

const out = new URL('./results/', import.meta.url);
await mkdir(out, { recursive: true });
await writeFile(
  new URL('meter.json', out),
  `${JSON.stringify({ bench: 'meter', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, seconds, baselineCpuS: baseline.cpuS, rows, windowMs }, null, 2)}\n`,
);
console.log(`wrote ${new URL('meter.json', out).pathname}`);
