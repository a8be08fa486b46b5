import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORLD_AVERAGE_INTENSITY, type CarbonIntensityProvider } from '../../src/meter/index.js';
import type { GpuProcessUtilization } from '../../src/meter/process/gpu-share.js';
import { exitStatusOf, runMeasured, type RunMeasuredOptions, type SignalSource } from '../../src/meter/process/run-measured.js';
import { createFakeNvml } from './fake-nvml.js';
import { makeRaplTree, packageZone } from './fake-rapl-tree.js';

const NODE = process.execPath;
const NO_RAPL = join(tmpdir(), 'ecoml-no-such-powercap');
const world: CarbonIntensityProvider = { name: 'world', intensityFor: async () => WORLD_AVERAGE_INTENSITY };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecoml-measure-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Options that make a run independent of this host's RAPL, GPUs and grid settings. */
function hermetic(command: string, args: string[], extra: Partial<RunMeasuredOptions> = {}): RunMeasuredOptions {
  return { command, args, raplRoot: NO_RAPL, nvml: false, carbonIntensity: world, meterEnv: {}, stdio: ['ignore', 'ignore', 'inherit'], tdpWatts: 64, ...extra };
}

/** Node code that keeps one CPU busy for `ms`, then writes its own CPU seconds to `file`. */
const busyThenReport = (ms: number, file: string) =>
  `const t = Date.now(); let x = 0; while (Date.now() - t < ${ms}) x += Math.sqrt(x + 1);
   const u = process.cpuUsage(); require('fs').writeFileSync(${JSON.stringify(file)}, String((u.user + u.system) / 1e6));`;

const readSeconds = async (file: string) => Number(await readFile(file, 'utf8'));

describe('runMeasured on real processes', () => {
  it('tracks a CPU-bound child and its grandchild: ≥ 90% of the CPU time they report for themselves', async () => {
    const childFile = join(dir, 'child-cpu');
    const grandchildFile = join(dir, 'grandchild-cpu');
    // The child starts a grandchild that burns ~1.5 s, burns ~3 s itself, waits for the grandchild, reports.
    const child = `
      const { spawn } = require('child_process');
      const g = spawn(process.execPath, ['-e', ${JSON.stringify(busyThenReport(1500, grandchildFile))}], { stdio: 'inherit' });
      const exited = new Promise((resolve) => g.on('exit', resolve));
      ${busyThenReport(3000, childFile)}
      exited.then(() => undefined);`;
    const run = await runMeasured(hermetic(NODE, ['-e', child], { intervalMs: 200 }));
    const reported = (await readSeconds(childFile)) + (await readSeconds(grandchildFile));

    expect(run.exitCode).toBe(0);
    expect(run.signal).toBeNull();
    expect(run.processesSeen).toBeGreaterThanOrEqual(2);
    expect(run.cpuSecondsTree).toBeGreaterThanOrEqual(0.9 * reported);
    // Process start-up before the first line of JS is the only CPU the tree has and does not report.
    expect(run.cpuSecondsTree).toBeLessThanOrEqual(reported + 0.5);
    expect(run.share).toBeGreaterThan(0);
    expect(run.share).toBeLessThanOrEqual(1);
    expect(run.machineActiveCpuSeconds).toBeGreaterThanOrEqual(run.cpuSecondsTree * 0.9);

    const m = run.measurement;
    const cpu = m.energy.components.find((c) => c.name === 'cpu');
    expect(cpu).toMatchObject({ method: 'estimated' });
    expect(cpu?.model).toMatch(/^tdp-per-core×process-tree-cpu-time/);
    expect(cpu?.joules).toBeCloseTo(run.cpuSecondsTree * (64 / m.hardware.logicalCpus), 6);
    expect(m.energy.components.find((c) => c.name === 'ram')?.joules).toBeGreaterThan(0);
    expect(m.energy.low).toBeLessThanOrEqual(m.energy.joules);
    expect(m.energy.high).toBeGreaterThanOrEqual(m.energy.joules);
    expect(m.emissions.kgCo2e).toBeCloseTo((m.energy.kwh * 475) / 1000, 12);
    expect(m.heat?.kwh).toBeCloseTo(m.energy.kwh, 15);
    expect(m.durationS).toBeGreaterThan(2.5);
    expect(m.notes?.join('\n')).toMatch(/cpu: rapl unavailable .*estimated from the command's CPU time/);
  });

  it('keeps counting a grandchild orphaned when its parent exits', async () => {
    const grandchildFile = join(dir, 'orphan-cpu');
    const rootFile = join(dir, 'orphan-root-cpu');
    // root → middle → grandchild; middle leaves after 400 ms without waiting, so the grandchild is reparented.
    const middle = `
      const { spawn } = require('child_process');
      spawn(process.execPath, ['-e', ${JSON.stringify(busyThenReport(1500, grandchildFile))}], { stdio: 'inherit', detached: true }).unref();
      setTimeout(() => process.exit(0), 400);`;
    const root = `
      const { spawn } = require('child_process');
      spawn(process.execPath, ['-e', ${JSON.stringify(middle)}], { stdio: 'inherit' });
      ${busyThenReport(2500, rootFile)}`;
    const run = await runMeasured(hermetic(NODE, ['-e', root], { intervalMs: 100 }));
    const reported = (await readSeconds(rootFile)) + (await readSeconds(grandchildFile));
    expect(run.processesSeen).toBeGreaterThanOrEqual(3);
    expect(run.cpuSecondsTree).toBeGreaterThanOrEqual(0.9 * reported);
  });

  it('returns the command’s exit code', async () => {
    const run = await runMeasured(hermetic(NODE, ['-e', 'process.exit(3)']));
    expect(run.exitCode).toBe(3);
    expect(run.signal).toBeNull();
    expect(exitStatusOf(run)).toBe(3);
  });

  it('forwards SIGTERM to the command, which ends by it, and removes its handlers after', async () => {
    const signals = new EventEmitter();
    const run = await runMeasured(
      hermetic(NODE, ['-e', 'setInterval(() => {}, 1000)'], {
        signalSource: signals as unknown as SignalSource,
        onSpawn: () => setTimeout(() => signals.emit('SIGTERM'), 300),
      }),
    );
    expect(run.exitCode).toBeNull();
    expect(run.signal).toBe('SIGTERM');
    expect(exitStatusOf(run)).toBe(143);
    for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP']) expect(signals.listenerCount(name)).toBe(0);
  });

  it('does not send a SIGINT typed at the terminal a second time, but forwards one sent to us alone', async () => {
    const signals = new EventEmitter();
    // The child counts SIGINTs and leaves on SIGTERM with the count as its exit code.
    const counting = `let n = 0; process.on('SIGINT', () => n++); process.on('SIGTERM', () => process.exit(10 + n)); setInterval(() => {}, 1000);`;
    let fromTerminal = true;
    const run = await runMeasured(
      hermetic(NODE, ['-e', counting], {
        signalSource: signals as unknown as SignalSource,
        sigintFromTerminal: async () => fromTerminal,
        onSpawn: () =>
          setTimeout(() => {
            signals.emit('SIGINT'); // typed: not forwarded
            fromTerminal = false;
            signals.emit('SIGINT'); // kill -INT <ecoml>: forwarded
            setTimeout(() => signals.emit('SIGTERM'), 200);
          }, 400),
      }),
    );
    expect(run.exitCode).toBe(11);
  });

  it('outlives a real SIGTERM sent to it and passes it on', async () => {
    // A separate Node process runs runMeasured on a sleeping command; we signal that process.
    const script = `
      const { runMeasured, exitStatusOf } = await import(${JSON.stringify(new URL('../../src/meter/process/run-measured.ts', import.meta.url).pathname)});
      const run = await runMeasured({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], raplRoot: ${JSON.stringify(NO_RAPL)},
        nvml: false, meterEnv: {}, stdio: 'ignore', onSpawn: () => process.stdout.write('spawned\\n') });
      process.stdout.write(JSON.stringify({ signal: run.signal, status: exitStatusOf(run) }) + '\\n');`;
    const wrapper = spawn(NODE, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    wrapper.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('spawned\n') && !out.includes('sent')) {
        out += 'sent';
        wrapper.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => wrapper.on('exit', resolve));
    expect(code).toBe(0);
    expect(JSON.parse(out.slice(out.indexOf('{')))).toEqual({ signal: 'SIGTERM', status: 143 });
  });

  it('a missing executable is E_FILE_NOT_FOUND naming the command', async () => {
    await expect(runMeasured(hermetic('ecoml-no-such-command-xyz', []))).rejects.toMatchObject({
      code: 'E_FILE_NOT_FOUND',
      message: expect.stringContaining('ecoml-no-such-command-xyz'),
    });
  });

  it('a file that cannot be executed is E_CONFIG_INVALID', async () => {
    const file = join(dir, 'not-executable');
    await writeFile(file, 'echo hi\n');
    await chmod(file, 0o644);
    await expect(runMeasured(hermetic(file, []))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });

  it('rejects a bad PUE before starting the command', async () => {
    const marker = join(dir, 'should-not-exist');
    await expect(runMeasured(hermetic(NODE, ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { pue: 0.5 }))).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
    });
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('splits RAPL package energy by the tree’s CPU share', async () => {
    const rapl = await makeRaplTree([packageZone(0, 1_000_000)]);
    let energy = 1_000_000;
    // The package counter climbs 5 J every 50 ms while the command runs.
    const ticker = setInterval(() => {
      energy += 5_000_000;
      void rapl.setEnergy('intel-rapl:0', energy);
    }, 50);
    try {
      const run = await runMeasured(hermetic(NODE, ['-e', busyThenReport(1000, join(dir, 'rapl-cpu'))], { raplRoot: rapl.root, intervalMs: 100 }));
      const pkg = run.measurement.energy.components.find((c) => c.name === 'cpu:package-0');
      const machine = run.machineJoules['cpu:package-0'] as number;
      expect(pkg).toMatchObject({ method: 'measured' });
      expect(pkg?.model).toMatch(/^rapl:package-0 × process-tree CPU share/);
      expect(machine).toBeGreaterThan(0);
      expect(pkg?.joules).toBeGreaterThan(0);
      expect(pkg?.joules).toBeLessThanOrEqual(machine);
      expect(run.measurement.energy.components.some((c) => c.name === 'cpu')).toBe(false);
    } finally {
      clearInterval(ticker);
      await rapl.cleanup();
    }
  });

  it('splits a GPU by the tree’s SM samples, or counts it whole with a note when it cannot', async () => {
    const fake = createFakeNvml([{ name: 'H200', energyMj: 1_000_000 }]);
    const gpu = fake.gpus[0] as (typeof fake.gpus)[number];
    const ticker = setInterval(() => {
      gpu.energyMj = (gpu.energyMj ?? 0) + 10_000;
    }, 50);
    // The same adapter the CLI needs: GPU index → handle → nvmlDeviceGetProcessUtilization.
    const utilization: GpuProcessUtilization = {
      processUtilization(index, since) {
        const handle = fake.library.deviceHandle(index);
        return handle.ok ? fake.library.processUtilization(handle.value, since) : handle;
      },
    };
    const sample = (pid: number, timestampUs: number, smPercent: number) => ({ pid, timestampUs, smPercent, memoryPercent: 0, encoderPercent: 0, decoderPercent: 0 });
    try {
      gpu.utilization = [];
      const split = await runMeasured(
        hermetic(NODE, ['-e', 'setTimeout(() => {}, 600)'], {
          nvml: fake.library,
          gpuProcessUtilization: utilization,
          intervalMs: 100,
          // Our command and another process share the SMs 1:3 throughout.
          onSpawn: (pid) => {
            let t = 1;
            const feed = setInterval(() => {
              t++;
              gpu.utilization?.push(sample(pid, t, 20), sample(999_999_1, t, 60));
            }, 20);
            setTimeout(() => clearInterval(feed), 550);
          },
        }),
      );
      const splitGpu = split.measurement.energy.components.find((c) => c.name === 'gpu:0');
      expect(splitGpu?.model).toMatch(/× process-tree SM share/);
      expect(split.gpuShares['gpu:0']).toBeGreaterThan(0.1);
      expect(split.gpuShares['gpu:0']).toBeLessThan(0.5);
      expect(splitGpu?.joules).toBeLessThan(split.machineJoules['gpu:0'] as number);

      // The library's own utilisation reader is used by default; a driver without it counts the GPU whole.
      gpu.utilization = undefined;
      const whole = await runMeasured(hermetic(NODE, ['-e', 'setTimeout(() => {}, 300)'], { nvml: fake.library, intervalMs: 100 }));
      const wholeGpu = whole.measurement.energy.components.find((c) => c.name === 'gpu:0');
      expect(wholeGpu?.joules).toBeCloseTo(whole.machineJoules['gpu:0'] as number, 9);
      expect(whole.gpuShares['gpu:0']).toBeNull();
      expect(whole.notes.join('\n')).toMatch(/gpu:0: no per-process GPU utilisation/);
    } finally {
      clearInterval(ticker);
    }
  });
});
