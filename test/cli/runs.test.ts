import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, cli, cliProcessArgs, tempDir } from './helpers.js';

const RECIPE = fileURLToPath(new URL('../../examples/mnist-cnn.yaml', import.meta.url));
const TINY = ['--train-limit', '200', '--test-limit', '100', '--batch-size', '64'];

interface PartJson {
  readonly part: number;
  readonly pid: number | null;
  readonly status: string;
  readonly measurement: { readonly energy: { readonly joules: number } } | null;
}
interface RunJson {
  readonly id: string;
  readonly status: string;
  readonly stopReason: string | null;
  readonly parts: readonly PartJson[];
}

/** Resolves once the child's stderr matches `pattern`; fails if it exits first. */
function stderrMatch(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before printing ${pattern}:\n${text}`)));
  });
}

describe('runs are locked while their process lives and reaped when it is gone', () => {
  it('refuses a second --resume of a live run; a SIGKILLed run shows as crashed with the energy it spent, and --resume continues it', { timeout: 300_000 }, async () => {
    const cwd = await tempDir();
    const store = ['--store', join(cwd, 'store')];
    const out = ['--out', join(cwd, 'model')];
    const first = await cli(['train', RECIPE, ...TINY, '--epochs', '1', ...store, ...out, '--json'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const id = first.json<{ run_id: string }>().run_id;

    // A resume in its own process, long enough to still be training while we look.
    const child = spawn(process.execPath, cliProcessArgs(['train', RECIPE, ...TINY, '--epochs', '1000', '--resume', id, ...store, ...out]), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await stderrMatch(child, /^epoch 2\/1000 /m);
      const second = await cli(['train', RECIPE, ...TINY, '--epochs', '3', '--resume', id, ...store, ...out], cwd);
      expect(second.code).toBe(15);
      expect(second.stderr).toMatch(new RegExp(`^error E_RUN_LOCKED: run ${id} is being worked on by pid ${child.pid} on \\S+ \\(last heartbeat \\d+ s ago\\); wait for it to end or stop it, then --resume\\n$`));
      const running = (await cli(['runs', 'show', id, ...store, '--json'], cwd)).json<{ reaped: string[]; run: RunJson }>();
      expect(running.reaped).toEqual([]);
      expect(running.run.status).toBe('running');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    const listed = (await cli(['runs', ...store, '--json'], cwd)).json<{ reaped: string[]; runs: RunJson[] }>();
    expect(listed.reaped).toEqual([id]);
    const crashed = listed.runs.find((r) => r.id === id);
    expect(crashed?.status).toBe('crashed');
    expect(crashed?.stopReason).toMatch(new RegExp(`^pid ${child.pid} on \\S+ is gone$`));
    expect(crashed?.parts.map((p) => [p.part, p.pid, p.status])).toEqual([
      [1, expect.any(Number), 'completed'],
      [2, child.pid, 'crashed'],
    ]);
    // The killed process's epochs were metered: its part counts them.
    expect(crashed?.parts[1]?.measurement?.energy.joules).toBeGreaterThan(0);
    expect((await cli(['runs', ...store], cwd)).stdout).toMatch(new RegExp(`^${id} +train +crashed `, 'm'));

    const resumed = await cli(['train', RECIPE, ...TINY, '--epochs', '3', '--resume', id, ...store, ...out, '--json'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = resumed.json<{ energy: { joules: number }; parts: { status: string; joules: number }[] }>();
    expect(r.parts.map((p) => p.status)).toEqual(['completed', 'crashed', 'completed']);
    expect(r.energy.joules).toBeCloseTo(r.parts.reduce((sum, p) => sum + p.joules, 0), 9);
  });
});
