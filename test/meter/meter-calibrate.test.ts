import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import meterCalibrate, { meterCalibrateCommand, type MeterCalibrateDeps, type MeterCalibrateResult } from '../../src/cli/commands/meter-calibrate.js';
import type { CliContext, OptionValues } from '../../src/cli/command.js';
import { saveCalibrationProfile } from '../../src/meter/calibration.js';
import { calibrationProfile, fakeCalibrationMachine, fakeCpuInfo, XEON_6338 } from './fake-calibration.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecoml-meter-calibrate-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function run(values: OptionValues, deps: MeterCalibrateDeps, env: Record<string, string> = {}) {
  const stderr = new PassThrough();
  let logged = '';
  stderr.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const ctx: CliContext = { stdout: new PassThrough(), stderr, isTTY: false, json: true, env, cwd: await tempDir(), signal: new AbortController().signal };
  const command = meterCalibrateCommand(deps);
  const result: MeterCalibrateResult = await command.run({ positionals: [], values }, ctx);
  return { result, text: command.render(result), logged };
}

describe('ecoml meter calibrate', () => {
  it('is a command named for `ecoml meter calibrate`', () => {
    expect(meterCalibrate.name).toBe('meter calibrate');
    expect(meterCalibrate.usage).toMatch(/^ecoml meter calibrate/);
    expect(Object.keys(meterCalibrate.options)).toEqual(['idle-seconds', 'load-seconds', 'threads', 'dir', 'powercap']);
  });

  it('without RAPL, says why and what the estimate rests on: the TDP table row', async () => {
    const cpuInfoPath = await fakeCpuInfo(XEON_6338, 8);
    cleanups.push(() => rm(join(cpuInfoPath, '..'), { recursive: true, force: true }));
    const dir = await tempDir();
    const { result, text } = await run({ powercap: join(tmpdir(), 'ecoml-no-such-powercap'), dir }, { cpuInfoPath });
    expect(result).toEqual({
      status: 'no-rapl',
      reason: expect.stringMatching(/^no powercap sysfs at .*: RAPL is not exposed here/),
      cpu_model: XEON_6338,
      logical_cpus: 8,
      estimate: {
        basis: 'tdp-table',
        tdp_watts: 205,
        tdp_source: 'table:Intel Xeon Gold 6338',
        description: 'Intel Xeon Gold 6338, 205 W TDP / 8 threads: each CPU-second of this process is charged TDP / logical CPUs (25.6 W), and idle power is not counted',
      },
    });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(text).toMatch(/^RAPL cannot be read here, so nothing was calibrated: no powercap sysfs/);
    expect(text).toContain('is estimated from Intel Xeon Gold 6338, 205 W TDP / 8 threads');
  });

  it('without RAPL, names the default rule for an unlisted CPU, or the matching profile', async () => {
    const unlisted = await fakeCpuInfo('Imaginary CPU 9000', 4);
    cleanups.push(() => rm(join(unlisted, '..'), { recursive: true, force: true }));
    const dir = await tempDir();
    const { result } = await run({ powercap: join(tmpdir(), 'ecoml-no-such-powercap'), dir }, { cpuInfoPath: unlisted });
    expect(result).toMatchObject({ status: 'no-rapl', estimate: { basis: 'tdp-default', tdp_watts: 16, tdp_source: 'default:model not in table' } });

    const listed = await fakeCpuInfo(XEON_6338, 8);
    cleanups.push(() => rm(join(listed, '..'), { recursive: true, force: true }));
    const path = await saveCalibrationProfile(calibrationProfile({ domains: ['cpu:package-0'] }), dir);
    const { result: withProfile, text } = await run({ powercap: join(tmpdir(), 'ecoml-no-such-powercap') }, { cpuInfoPath: listed }, { ECOML_CALIBRATION_DIR: dir });
    expect(withProfile).toMatchObject({ status: 'no-rapl', estimate: { basis: 'calibration-profile', profile_path: path } });
    expect(text).toContain(`the calibration profile ${path}, taken on this CPU model on 2026-11-28: 50 W idle (scaled to the threads here) + 3 W per busy thread`);
  });

  it('with RAPL, calibrates and saves the profile', async () => {
    const m = await fakeCalibrationMachine(40, 2.5);
    cleanups.push(() => m.tree.cleanup());
    const cpuInfoPath = await fakeCpuInfo(XEON_6338, 8, 2);
    cleanups.push(() => rm(join(cpuInfoPath, '..'), { recursive: true, force: true }));
    const dir = await tempDir();
    const deps: MeterCalibrateDeps = { cpuInfoPath, clock: m.time.clock, sleep: (ms) => m.sleep(ms), startBusy: (threads) => m.startBusy(threads) };
    const { result, text, logged } = await run({ powercap: m.tree.root, dir, 'idle-seconds': '2', 'load-seconds': '3', threads: '4' }, deps);
    expect(result).toMatchObject({
      status: 'calibrated',
      profile_path: join(dir, 'intel-xeon-gold-6338.json'),
      cpu_model: XEON_6338,
      logical_cpus: 8,
      threads: 4,
      idle_seconds: 2,
      load_seconds: 3,
      domains: ['cpu:package-0', 'cpu:package-1'],
    });
    if (result.status !== 'calibrated') throw new Error('not calibrated');
    expect(result.idle_watts).toBeCloseTo(40, 4);
    expect(result.loaded_watts).toBeCloseTo(50, 4);
    expect(result.per_thread_watts).toBeCloseTo(2.5, 4);
    expect(JSON.parse(await readFile(result.profile_path, 'utf8'))).toMatchObject({ cpuModel: XEON_6338, loadedThreads: 4, perThreadWatts: result.per_thread_watts });
    expect(text).toMatch(/^calibrated Intel\(R\) Xeon\(R\) Gold 6338 CPU @ 2\.00GHz \(8 logical CPUs\) from RAPL cpu:package-0 \+ cpu:package-1:/);
    expect(text).toContain('per busy thread   2.5 W');
    expect(logged).toContain('measuring package power with 4 busy threads for 3 s');
  });

  it.each([
    [{ 'idle-seconds': '0' }, /--idle-seconds must be ≥ 0.1/],
    [{ threads: '0' }, /--threads must be ≥ 1/],
    [{ threads: 'all' }, /--threads must be a number/],
  ])('rejects %j with E_CONFIG_INVALID', async (values, message) => {
    await expect(run(values, {})).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) });
  });
});
