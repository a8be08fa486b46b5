import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import meterServe from '../../src/cli/commands/meter-serve.js';
import type { CliContext } from '../../src/cli/command.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

function context(signal: AbortSignal) {
  const stdout = new Capture();
  const stderr = new Capture();
  // No NVML, RAPL or grid settings from the environment: the meter falls back to estimates and the world average.
  const ctx: CliContext = { stdout, stderr, isTTY: false, json: true, env: {}, cwd: process.cwd(), signal };
  return { ctx, stderr };
}

describe('ecoml meter serve', () => {
  it('serves /metrics on an ephemeral 127.0.0.1 port until aborted, then returns the totals', async () => {
    const controller = new AbortController();
    const { ctx, stderr } = context(controller.signal);
    const running = meterServe.run({ positionals: [], values: { port: '0', host: '127.0.0.1', interval: '100' } }, ctx);

    const address = await vi.waitFor(
      () => {
        const match = /serving metrics on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr.text);
        if (!match?.[1]) throw new Error(`not listening yet: ${stderr.text}`);
        return match[1];
      },
      { timeout: 60_000, interval: 20 },
    );
    await vi.waitFor(async () => expect(await (await fetch(`${address}/metrics`)).text()).toMatch(/^ecoml_energy_joules_total\{component="cpu/m), {
      timeout: 10_000,
      interval: 50,
    });
    expect((await fetch(`${address}/healthz`)).status).toBe(200);

    controller.abort();
    const result = await running;
    expect(result.address).toBe(address);
    expect(result.intervalMs).toBe(100);
    expect(result.windows).toBeGreaterThanOrEqual(1);
    // 'cpu' (estimate) or 'cpu:package-N' (RAPL), whichever this machine allows.
    expect(result.total?.energy.components.some((c) => c.name.startsWith('cpu'))).toBe(true);
    expect(meterServe.render(result)).toMatch(new RegExp(`^served ${address}/metrics: \\d+ window\\(s\\) of 100 ms`));
    // The listener is closed.
    await expect(fetch(`${address}/metrics`)).rejects.toThrow();
  });

  it('validates its flags before starting anything', async () => {
    const { ctx } = context(new AbortController().signal);
    const run = (values: Record<string, string>) => meterServe.run({ positionals: [], values }, ctx);
    await expect(run({ port: '70000' })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('--port') });
    await expect(run({ interval: '5' })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('--interval') });
    await expect(run({ pue: '0.5' })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('--pue') });
  });
});
