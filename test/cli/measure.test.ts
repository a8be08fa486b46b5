import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import measure, { type MeasureResult } from '../../src/cli/commands/measure.js';
import { cli, tempDir } from './helpers.js';

const NODE = process.execPath;

describe('ecoml measure', () => {
  it('passes on the command’s exit code and prints one JSON object with --json', async () => {
    const r = await cli(['measure', '--json', '--interval', '100', '--', NODE, '-e', 'process.exit(3)'], await tempDir());
    expect(r.code).toBe(3);
    const result = r.json<MeasureResult>();
    expect(result).toMatchObject({ exit_code: 3, child_exit_code: 3, signal: null, command: [NODE, '-e', 'process.exit(3)'] });
    expect(result.energy.components.length).toBeGreaterThan(0);
    for (const c of result.energy.components) expect(['measured', 'estimated']).toContain(c.method);
    expect(result.emissions.country).toBe('WORLD');
    expect(result.heat_kwh).toBeCloseTo(result.energy.kwh, 15);
    expect(result.cpu_share).toBeGreaterThanOrEqual(0);
    expect(result.cpu_share).toBeLessThanOrEqual(1);
  });

  it('leaves flags after -- to the command, --json and --country included', async () => {
    const cwd = await tempDir();
    const out = join(cwd, 'argv.json');
    await writeFile(join(cwd, 'argv.js'), `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(2)))`);
    const r = await cli(['measure', '--json', '--country', 'FR', '--', NODE, 'argv.js', '--json', '--country', 'XX'], cwd);
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(['--json', '--country', 'XX']);
    expect(r.json<MeasureResult>().emissions.country).toBe('FRA');
  });

  it('without --json, exits with the command’s code and renders a summary naming each component’s method', async () => {
    const r = await cli(['measure', '--', NODE, '-e', 'process.exit(7)'], await tempDir());
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    const text = r.stderr;
    expect(text).toMatch(/^ecoml measure: `.+` \(pid \d+\) exited 7 after [\d.]+ s$/m);
    expect(text).toMatch(/^ {2}cpu\S* +\S+ \S*J \(\S+–\S+, (measured|estimated)\) /m);
    expect(text).toMatch(/kWh → .+CO2e @ \d+ g\/kWh WORLD \(PUE 1\)/);
    expect(text).toMatch(/^ {2}heat .+ kWh/m);
  });

  it('renders on stderr (the command owns stdout) and reports the child’s status as its exit code', () => {
    expect(measure.renderTo).toBe('stderr');
    const result = { exit_code: 143, child_exit_code: null, signal: 'SIGTERM' } as unknown as MeasureResult;
    expect(measure.exitCode?.(result)).toBe(143);
  });

  it('appends a CodeCarbon row to --output, with the project name', async () => {
    const cwd = await tempDir();
    for (let i = 0; i < 2; i++) {
      const r = await cli(['measure', '--json', '--output', 'emissions.csv', '--project', 'demo', '--', NODE, '-e', ''], cwd);
      expect(r.code).toBe(0);
      expect(r.json<MeasureResult>().output).toBe(join(cwd, 'emissions.csv'));
    }
    const lines = (await readFile(join(cwd, 'emissions.csv'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^timestamp,project_name,run_id,/);
    expect(lines[1]).toMatch(/^[^,]+,demo,/);
    expect(lines[2]).toContain(',process,');
  });

  it('refuses an --output in a missing directory before running the command', async () => {
    const cwd = await tempDir();
    const marker = join(cwd, 'ran');
    const r = await cli(['measure', '--output', 'no/such/dir/emissions.csv', '--', NODE, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], cwd);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^error E_FILE_NOT_FOUND: --output no\/such\/dir\/emissions.csv: directory .* does not exist/);
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.runIf(process.platform === 'linux')('refuses an --output that is a device, a directory or on /proc or /sys before running the command', async () => {
    const cwd = await tempDir();
    const marker = join(cwd, 'ran');
    const command = ['--', NODE, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`];
    const cases: [string, string, string][] = [
      ['/dev/full', 'E_PATH_INVALID', '--output /dev/full: /dev/full is a character device, not a regular file'],
      ['.', 'E_PATH_INVALID', `--output .: ${cwd} is a directory, not a file`],
      ['/sys/ecoml.csv', 'E_PATH_INVALID', '--output /sys/ecoml.csv: /sys is on sysfs, a kernel file system: no output can go there'],
      ['/proc/ecoml.csv', 'E_PATH_INVALID', '--output /proc/ecoml.csv: /proc is on procfs, a kernel file system: no output can go there'],
    ];
    for (const [output, code, text] of cases) {
      const r = await cli(['measure', '--output', output, ...command], cwd);
      expect(r.stderr).toBe(`error ${code}: ${text}\n`);
      expect(r.code).toBe(12);
    }
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a row that cannot be appended after a successful command makes the exit status that error’s, not 0', async () => {
    const cwd = await tempDir();
    // The command turns the output into a directory: the row can no longer be written.
    const swap = (out: string): string => `const fs = require('fs'); fs.rmSync(${JSON.stringify(out)}); fs.mkdirSync(${JSON.stringify(out)});`;
    const out = join(cwd, 'emissions.csv');
    await writeFile(out, '');
    const r = await cli(['measure', '--json', '--output', out, '--', NODE, '-e', swap(out)], cwd);
    const result = r.json<MeasureResult>();
    expect(result.exit_code).toBe(0);
    expect(result.output_error).toEqual({ code: 'E_PATH_INVALID', message: `cannot write ${out}: ${out} is a directory, not a file` });
    expect(r.code).toBe(12);
    // A failed command's own status still comes first.
    const other = join(cwd, 'other.csv');
    await writeFile(other, '');
    const failed = await cli(['measure', '--output', other, '--', NODE, '-e', `${swap(other)} process.exit(3)`], cwd);
    expect(failed.code).toBe(3);
    expect(failed.stderr).toMatch(/^ {2}error E_PATH_INVALID: could not append to the emissions file: /m);
  });

  it('a missing command is a usage error; a missing executable is E_FILE_NOT_FOUND naming it', async () => {
    const cwd = await tempDir();
    const none = await cli(['measure', '--json'], cwd);
    expect(none.code).toBe(2);
    expect(none.json<{ error: { code: string; message: string } }>().error.message).toMatch(/missing COMMAND/);
    const missing = await cli(['measure', '--', 'ecoml-no-such-command-xyz', '--flag'], cwd);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^error E_FILE_NOT_FOUND: command not found: ecoml-no-such-command-xyz/);
  });

  it('validates --interval and --pue at the boundary', async () => {
    const cwd = await tempDir();
    expect((await cli(['measure', '--interval', '5', '--', NODE, '-e', ''], cwd)).stderr).toBe('error E_CONFIG_INVALID: --interval must be ≥ 10, got "5"\n');
    expect((await cli(['measure', '--pue', '0.9', '--', NODE, '-e', ''], cwd)).code).toBe(2);
  });

  it('--help documents the -- convention', async () => {
    const r = await cli(['measure', '--help'], await tempDir());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ecoml measure \[options\] -- COMMAND \[ARGS\.\.\.\]/);
    for (const flag of ['--country', '--pue', '--output', '--project', '--interval', '--json']) expect(r.stdout).toContain(flag);
  });
});
