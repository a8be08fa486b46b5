import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  calibrateCpu,
  calibrationProfilePath,
  defaultCalibrationDir,
  findCalibrationProfile,
  loadCalibrationProfiles,
  saveCalibrationProfile,
  startBusyThreads,
} from '../../src/meter/calibration.js';
import { createCpuEstimateSource, createMeter, type CpuPower, type Meter } from '../../src/meter/index.js';
import { createFakeClock } from './fake-clock.js';
import { calibrationProfile, fakeCalibrationMachine, fakeCpuInfo, XEON_6338, type FakeCalibrationMachine } from './fake-calibration.js';

const cpu = { model: XEON_6338, logicalCpus: 8, sockets: 2 };
const NO_RAPL = join(tmpdir(), 'ecoml-no-such-powercap');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecoml-calibration-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
async function machine(idleWatts: number, wattsPerThread: number): Promise<FakeCalibrationMachine> {
  const m = await fakeCalibrationMachine(idleWatts, wattsPerThread);
  cleanups.push(() => m.tree.cleanup());
  return m;
}

describe('calibrateCpu on a fake RAPL tree', () => {
  it('measures idle and loaded package power, through counter wraps, and derives the per-thread power', async () => {
    const m = await machine(50, 3);
    const progress: string[] = [];
    const outcome = await calibrateCpu({
      cpu,
      raplRoot: m.tree.root,
      clock: m.time.clock,
      sleep: (ms) => m.sleep(ms),
      startBusy: (threads) => m.startBusy(threads),
      onProgress: (message) => progress.push(message),
    });
    if (!outcome.available) throw new Error(outcome.reason);
    const { profile: p } = outcome;
    expect(p).toMatchObject({
      version: 1,
      cpuModel: XEON_6338,
      normalisedCpuModel: 'intel xeon gold 6338',
      logicalCpus: 8,
      loadedThreads: 8,
      idleSeconds: 5,
      loadSeconds: 5,
      domains: ['cpu:package-0', 'cpu:package-1'],
    });
    // 50 W idle spends 250 J per phase on a 200 J range (two packages): several wraps, all counted.
    expect(p.idleWatts).toBeCloseTo(50, 4);
    expect(p.loadedWatts).toBeCloseTo(74, 4);
    expect(p.perThreadWatts).toBeCloseTo(3, 4);
    expect(Date.parse(p.createdAt)).toBeGreaterThan(Date.parse('2026-11-28T12:00:10Z'));
    expect(m.busy).toMatchObject({ starts: [8], stops: 1, threads: 0 });
    expect(progress).toEqual([
      'measuring idle package power for 5 s (cpu:package-0, cpu:package-1); leave the machine alone',
      'measuring package power with 8 busy threads for 5 s',
    ]);
  });

  it('takes the thread count and phase lengths from the options', async () => {
    const m = await machine(20, 5);
    const outcome = await calibrateCpu({ cpu, raplRoot: m.tree.root, clock: m.time.clock, sleep: (ms) => m.sleep(ms), startBusy: (t) => m.startBusy(t), threads: 2, idleSeconds: 0.5, loadSeconds: 2 });
    expect(outcome).toMatchObject({ available: true, profile: { loadedThreads: 2, idleSeconds: 0.5, loadSeconds: 2 } });
    if (outcome.available) expect(outcome.profile.loadedWatts).toBeCloseTo(30, 4);
  });

  it('is unavailable, with RAPL’s reason, where RAPL cannot be read', async () => {
    expect(await calibrateCpu({ cpu, raplRoot: NO_RAPL })).toEqual({ available: false, reason: expect.stringMatching(/no powercap sysfs/) });
  });

  it('fails, stopping the load, when load does not raise the power', async () => {
    const m = await machine(50, 0);
    await expect(calibrateCpu({ cpu, raplRoot: m.tree.root, clock: m.time.clock, sleep: (ms) => m.sleep(ms), startBusy: (t) => m.startBusy(t), idleSeconds: 1, loadSeconds: 1 })).rejects.toMatchObject({
      code: 'E_METER_UNAVAILABLE',
      message: expect.stringMatching(/was not above idle/),
    });
    expect(m.busy.stops).toBe(1);
  });

  it('stops when interrupted, releasing the busy threads', async () => {
    const m = await machine(50, 3);
    const controller = new AbortController();
    const sleep = async (ms: number) => {
      await m.sleep(ms);
      if (m.busy.threads > 0) controller.abort();
    };
    await expect(calibrateCpu({ cpu, raplRoot: m.tree.root, clock: m.time.clock, sleep, startBusy: (t) => m.startBusy(t), signal: controller.signal })).rejects.toMatchObject({
      code: 'E_INTERRUPTED',
    });
    expect(m.busy).toMatchObject({ threads: 0, stops: 1 });
  });

  it.each([
    [{ threads: 9 }, /threads must be an integer from 1 to 8/],
    [{ threads: 1.5 }, /threads must be an integer/],
    [{ idleSeconds: 0 }, /idleSeconds must be a positive number of seconds/],
    [{ loadSeconds: Number.NaN }, /loadSeconds must be a positive number of seconds/],
  ])('rejects %j with E_CONFIG_INVALID', async (options, message) => {
    await expect(calibrateCpu({ cpu, raplRoot: NO_RAPL, ...options })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) });
  });
});

describe('busy threads', () => {
  it('keep worker threads busy until stopped', async () => {
    const before = process.cpuUsage();
    const load = await startBusyThreads(1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await load.stop();
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1000).toBeGreaterThan(100);
  });
});

describe('calibration profiles on disk', () => {
  it('live in ECOML_CALIBRATION_DIR, else under XDG_CONFIG_HOME or ~/.config', () => {
    expect(defaultCalibrationDir({ ECOML_CALIBRATION_DIR: '/profiles', XDG_CONFIG_HOME: '/xdg' })).toBe('/profiles');
    expect(defaultCalibrationDir({ XDG_CONFIG_HOME: '/xdg' })).toBe(join('/xdg', 'ecoml', 'calibration'));
    expect(defaultCalibrationDir({})).toMatch(/\.config[/\\]ecoml[/\\]calibration$/);
  });

  it('are saved one per CPU model and found again under any spelling of that model', async () => {
    const dir = join(await tempDir(), 'nested', 'calibration');
    const path = await saveCalibrationProfile(calibrationProfile(), dir);
    expect(path).toBe(join(dir, 'intel-xeon-gold-6338.json'));
    expect(calibrationProfilePath(dir, calibrationProfile())).toBe(path);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(calibrationProfile());
    expect((await findCalibrationProfile('Intel Xeon Gold 6338', dir)).match).toEqual({ path, profile: calibrationProfile() });
    expect((await findCalibrationProfile('Intel Xeon Gold 6338N', dir)).match).toBeUndefined();
    expect((await findCalibrationProfile(undefined, dir)).match).toBeUndefined();
  });

  it('prefer the newest of several for one model, and say which files they could not use', async () => {
    const dir = await tempDir();
    await saveCalibrationProfile(calibrationProfile(), dir);
    await writeFile(join(dir, 'newer.json'), JSON.stringify(calibrationProfile({ idleWatts: 60, createdAt: '2026-12-01T00:00:00.000Z' })));
    await writeFile(join(dir, 'broken.json'), '{ not json');
    await writeFile(join(dir, 'other.json'), JSON.stringify({ version: 2 }));
    await writeFile(join(dir, 'notes.txt'), 'ignored: not a profile name');
    const { match, problems } = await findCalibrationProfile(XEON_6338, dir);
    expect(match?.profile.idleWatts).toBe(60);
    expect(problems).toEqual([
      expect.stringMatching(/broken\.json ignored: .*JSON/),
      expect.stringMatching(/other\.json ignored: not a calibration profile: version 2, expected 1/),
    ]);
  });

  it('are simply absent when the directory does not exist', async () => {
    expect(await loadCalibrationProfiles(join(tmpdir(), 'ecoml-no-such-calibration'))).toEqual({ profiles: [], problems: [] });
  });

  it('cannot be saved where the directory cannot be made: a file in the way is E_PATH_INVALID naming it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), '');
    await expect(saveCalibrationProfile(calibrationProfile(), join(dir, 'file', 'calibration'))).rejects.toMatchObject({
      code: 'E_PATH_INVALID',
      message: expect.stringContaining(`${join(dir, 'file')} is a file, not a directory`),
    });
  });
});

describe('the CPU estimate with a calibration profile', () => {
  const power: CpuPower = { cpuModel: XEON_6338, logicalCpus: 4, tdpWatts: 205, tdpSource: 'table:Intel Xeon Gold 6338', tdpSummary: 'Intel Xeon Gold 6338, 205 W TDP / 4 threads' };

  it('charges its idle share plus the per-thread power of each CPU-second, with narrower bounds than TDP', async () => {
    const time = createFakeClock();
    let usage = { user: 0, system: 0 };
    const path = '/profiles/intel-xeon-gold-6338.json';
    const source = createCpuEstimateSource({ power, calibration: { path, profile: calibrationProfile() }, clock: time.clock, cpuUsage: () => usage });
    await source.probe();
    time.advance(10_000);
    usage = { user: 3_000_000, system: 1_000_000 };
    const [c] = (await source.read()).components;
    // 4 of the profile's 8 threads here: half its 50 W idle, then 3 W per busy CPU-second.
    expect(c?.joules).toBeCloseTo(25 * 10 + 3 * 4, 9);
    expect(c?.low).toBeCloseTo(0.75 * 262, 9);
    expect(c?.high).toBeCloseTo(1.4 * 262, 9);
    expect(c?.model).toBe(
      'calibrated:intel-xeon-gold-6338.json (Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz: 25 W idle (4/8 threads) + 3 W per busy thread×process-cpu-time, RAPL-calibrated 2026-11-28)',
    );
    await source.close();
  });

  describe('chosen by createMeter', () => {
    const meters: Meter[] = [];
    afterEach(async () => {
      await Promise.all(meters.splice(0).map((m) => m.close()));
    });

    it('when a profile matches the CPU model, unless a TDP is given', async () => {
      const dir = await tempDir();
      await saveCalibrationProfile(calibrationProfile(), dir);
      const cpuInfoPath = await fakeCpuInfo(XEON_6338, 8, 2);
      cleanups.push(() => rm(join(cpuInfoPath, '..'), { recursive: true, force: true }));
      const calibrated = await createMeter({ raplRoot: NO_RAPL, nvml: false, cpuInfoPath, calibrationDir: dir, env: {} });
      meters.push(calibrated);
      const m = await (await calibrated.begin('w')).end();
      expect(m.energy.components[0]?.model).toMatch(/^calibrated:intel-xeon-gold-6338\.json \(.*50 W idle \+ 3 W per busy thread/);
      expect(m.hardware.cpuSockets).toBe(2);

      const fromEnv = await createMeter({ raplRoot: NO_RAPL, nvml: false, cpuInfoPath, env: { ECOML_CALIBRATION_DIR: dir } });
      meters.push(fromEnv);
      expect((await (await fromEnv.begin('w')).end()).energy.components[0]?.model).toMatch(/^calibrated:/);

      const overridden = await createMeter({ raplRoot: NO_RAPL, nvml: false, cpuInfoPath, calibrationDir: dir, tdpWatts: 205, env: {} });
      meters.push(overridden);
      expect((await (await overridden.begin('w')).end()).energy.components[0]?.model).toMatch(/^tdp-per-core×process-cpu-time \(/);
    });

    it('and notes profile files it could not read', async () => {
      const dir = await tempDir();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'broken.json'), '[]');
      const meter = await createMeter({ raplRoot: NO_RAPL, nvml: false, calibrationDir: dir, env: {} });
      meters.push(meter);
      const m = await (await meter.begin('w')).end();
      expect(m.notes).toContain(`cpu: calibration profile ${join(dir, 'broken.json')} ignored: not a calibration profile: version undefined, expected 1`);
    });
  });
});
