import { describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';

const COMMANDS = ['quickstart', 'train', 'tune', 'worker', 'evaluate', 'predict', 'runs', 'measure', 'export'];

describe('ecoml CLI surface', () => {
  it('prints the command list with --help and exits 2 with no command', async () => {
    const cwd = await tempDir();
    const help = await cli(['--help'], cwd);
    expect(help.code).toBe(0);
    for (const c of COMMANDS) expect(help.stdout).toContain(c);
    expect((await cli([], cwd)).code).toBe(2);
  });

  it.each(COMMANDS)('%s --help documents --json and its own options', async (name) => {
    const r = await cli([name, '--help'], await tempDir());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: ecoml ${name}`));
    expect(r.stdout).toContain('--json');
  });

  it('an unknown command lists the valid ones (E_UNKNOWN_NAME, exit 2)', async () => {
    const r = await cli(['trian'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_UNKNOWN_NAME: unknown command "trian"; valid: advise, compress, evaluate, export, measure, meter, predict, quickstart, runs, serve, studies, train, tune, worker/);
  });

  it('an unknown flag with --json prints one error object on stdout', async () => {
    const r = await cli(['train', 'x.yaml', '--epochz', '3', '--json'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.json<{ error: { code: string; message: string } }>().error.code).toBe('E_CONFIG_INVALID');
    expect(r.stderr).toContain('unknown option --epochz');
  });

  it('a mistyped flag is one line suggesting the nearest one', async () => {
    const r = await cli(['train', 'x.yaml', '--epoch', '3'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error E_CONFIG_INVALID: unknown option --epoch; did you mean --epochs? (see 'ecoml train --help')\n");
    const far = await cli(['runs', '--colour'], await tempDir());
    expect(far.stderr).toBe("error E_CONFIG_INVALID: unknown option --colour (see 'ecoml runs --help')\n");
  });

  it.each([
    [['train', 'x.yaml', '--epochs', '-1'], 'error E_CONFIG_INVALID: --epochs must be ≥ 1, got "-1"\n'],
    [['train', 'x.yaml', '--threads', '-1'], 'error E_CONFIG_INVALID: --threads must be ≥ 1, got "-1"\n'],
    [['measure', '--interval', '-5', '--', 'true'], 'error E_CONFIG_INVALID: --interval must be ≥ 10, got "-5"\n'],
  ])('takes a negative number after a space as the value, and validates it: %j', async (argv, line) => {
    const r = await cli(argv, await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(line);
  });

  it('an option where a value should be is a missing value, not the value', async () => {
    const r = await cli(['train', 'x.yaml', '--out', '--json'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error E_CONFIG_INVALID: --out needs a value, and --json is an option (write --out=--json if it is the value) (see 'ecoml train --help')\n");
  });

  it('rejects bad numbers at the boundary, naming the flag', async () => {
    const r = await cli(['train', 'x.yaml', '--epochs', 'many'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error E_CONFIG_INVALID: --epochs must be a number, got "many"\n');
  });

  it('a missing spec file is one clear line, exit 4, and writes no model', async () => {
    const cwd = await tempDir();
    const r = await cli(['train', 'missing.yaml', '--json'], cwd);
    expect(r.code).toBe(4);
    expect(r.json<{ error: { code: string } }>().error.code).toBe('E_FILE_NOT_FOUND');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('runs --json on an empty store lists nothing', async () => {
    const r = await cli(['runs', '--json'], await tempDir());
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ action: 'list', runs: [] });
  });

  it('runs --kind validates against the run kinds', async () => {
    const r = await cli(['runs', '--kind', 'trainn'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown run kind "trainn"; valid: advise, compress, evaluate, predict, quickstart, serve, train, trial, tune/);
  });
});
