import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js';
import { REPO_ROOT, cli, cliProcessArgs, tempDir, type CliRun } from './helpers.js';

const RECIPE = fileURLToPath(new URL('../../examples/mnist-cnn.yaml', import.meta.url));
const TINY = ['--train-limit', '200', '--test-limit', '100', '--epochs', '1', '--batch-size', '64'];
const LINUX = process.platform === 'linux' && existsSync('/proc/self') && existsSync('/sys/kernel');

/** One coded line on stderr, no stack trace, and the code's exit status. */
function expectOneLine(r: CliRun, code: ErrorCode, text: string): void {
  expect(r.stderr).toBe(`error ${code}: ${text}\n`);
  expect(r.code).toBe(ERROR_CATALOGUE[code].exitCode);
}

async function runCount(cwd: string): Promise<number> {
  return (await cli(['runs', '--json'], cwd)).json<{ runs: unknown[] }>().runs.length;
}

let cwd: string;
let model: string;

beforeAll(async () => {
  cwd = await tempDir();
  const r = await cli(['train', RECIPE, ...TINY, '--json'], cwd);
  expect(r.code, r.stderr).toBe(0);
  model = r.json<{ model_dir: string }>().model_dir;
  writeFileSync(join(cwd, 'a-file'), 'not a directory');
  symlinkSync(join(cwd, 'nowhere'), join(cwd, 'dangling'));
  symlinkSync(join(cwd, 'loop'), join(cwd, 'loop'));
});

describe('output paths are checked before any work, each failure one coded line', () => {
  it('train refuses an --out that is a file, below a file or below a dangling link, before training and before recording a run', async () => {
    const runs = await runCount(cwd);
    const cases: [string, string][] = [
      ['a-file', `--out a-file: ${join(cwd, 'a-file')} is a file, not a directory`],
      ['a-file/model', `--out a-file/model: ${join(cwd, 'a-file')} is a file, not a directory`],
      ['dangling/model', `--out dangling/model: ${join(cwd, 'dangling')} is a dangling symbolic link (its target does not exist)`],
    ];
    for (const [out, text] of cases) {
      const r = await cli(['train', RECIPE, ...TINY, '--out', out], cwd);
      expectOneLine(r, 'E_PATH_INVALID', text);
    }
    expect(await runCount(cwd)).toBe(runs);
  });

  it.runIf(LINUX)('train --out under /proc or /sys returns at once (under /proc it used to hang after training)', { timeout: 60_000 }, async () => {
    expectOneLine(await cli(['train', RECIPE, ...TINY, '--out', '/proc/ecoml-x/model'], cwd), 'E_PATH_INVALID', '--out /proc/ecoml-x/model: /proc is on procfs, a kernel file system: no output can go there');
    expectOneLine(await cli(['train', RECIPE, ...TINY, '--out', '/sys/ecoml-x/model'], cwd), 'E_PATH_INVALID', '--out /sys/ecoml-x/model: /sys is on sysfs, a kernel file system: no output can go there');
  });

  it.runIf(LINUX)('export --out under /proc returns (it used to hang), and onto a file is E_PATH_INVALID', { timeout: 60_000 }, async () => {
    expectOneLine(await cli(['export', model, '--format', 'onnx', '--out', '/proc/ecoml-x'], cwd), 'E_PATH_INVALID', '--out /proc/ecoml-x: /proc is on procfs, a kernel file system: no output can go there');
    expectOneLine(await cli(['export', model, '--format', 'onnx', '--out', 'a-file'], cwd), 'E_PATH_INVALID', `--out a-file: ${join(cwd, 'a-file')} is a file, not a directory`);
  });

  it.runIf(LINUX)('--store under /proc returns (its synchronous mkdir used to spin forever, deaf to signals)', { timeout: 90_000 }, () => {
    // A child process, so that a hang is killed by the timeout instead of blocking this worker.
    const child = spawnSync(process.execPath, cliProcessArgs(['runs', '--store', '/proc/ecoml-x/store']), { cwd: REPO_ROOT, timeout: 60_000, killSignal: 'SIGKILL', encoding: 'utf8' });
    expect(child.signal).toBeNull();
    expect(child.stderr).toBe('error E_PATH_INVALID: run store /proc/ecoml-x/store: /proc is on procfs, a kernel file system: no output can go there\n');
    expect(child.status).toBe(ERROR_CATALOGUE.E_PATH_INVALID.exitCode);
  });

  it('predict --out into a missing directory or onto a directory is refused', async () => {
    const input = join(cwd, 'one.json');
    writeFileSync(input, JSON.stringify([new Array(784).fill(0)]));
    expectOneLine(await cli(['predict', model, input, '--out', 'no/such/p.csv'], cwd), 'E_FILE_NOT_FOUND', `--out no/such/p.csv: directory ${join(cwd, 'no', 'such')} does not exist`);
    mkdirSync(join(cwd, 'a-dir'));
    expectOneLine(await cli(['predict', model, input, '--out', 'a-dir'], cwd), 'E_PATH_INVALID', `--out a-dir: ${join(cwd, 'a-dir')} is a directory, not a file`);
  });
});

describe('a symbolic link loop as an input is one coded line', () => {
  it('as a spec, a model directory or a predict input', async () => {
    const loop = join(cwd, 'loop');
    const text = `${loop} is a symbolic link loop (too many levels of symbolic links)`;
    expectOneLine(await cli(['train', loop], cwd), 'E_PATH_INVALID', `spec file: ${text}`);
    expectOneLine(await cli(['evaluate', loop], cwd), 'E_PATH_INVALID', `model directory ${loop}: ${join(loop, 'ecoml.json')} is a symbolic link loop (too many levels of symbolic links)`);
    expectOneLine(await cli(['predict', model, loop], cwd), 'E_PATH_INVALID', `input file: ${text}`);
  });
});
