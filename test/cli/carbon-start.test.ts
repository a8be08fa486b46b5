import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempDir, tinySpec } from './helpers.js';

const HOUR = 3_600_000;

describe('ecoml train with a carbon-aware start', () => {
  it('starts at once when the greenest window is now, and records the wait in the run', async () => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const grid = join(cwd, 'grid.csv');
    const now = Date.now();
    // Cheapest from two hours ago until an hour from now; dearer after.
    await writeFile(grid, ['timestamp,g_co2e_per_kwh', `${new Date(now - 2 * HOUR).toISOString()},50`, `${new Date(now + HOUR).toISOString()},600`, ''].join('\n'));
    const env = { ECOML_INTENSITY: 'file', ECOML_INTENSITY_FILE: grid };
    const run = await cli(['train', spec, '--train-limit', '64', '--test-limit', '32', '--start-in-greenest-window', '6', '--expected-hours', '0.5', '--json'], cwd, env);
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<{ run_id: string; carbon_start: Record<string, unknown>; metrics: Record<string, number> }>();
    expect(result.carbon_start).toMatchObject({ waited_s: 0, intensity_at_start_g_per_kwh: 50, reason: 'greenest_window', expected_mean_g_per_kwh: 50 });
    expect(result.metrics).toMatchObject({ wait_s: 0, start_intensity_g_per_kwh: 50 });
    expect(run.stderr).not.toMatch(/waiting for a cleaner grid/);

    const shown = (await cli(['runs', 'show', result.run_id, '--json'], cwd)).json<{ run: { metrics: Record<string, number>; params: { carbonStart: unknown; carbonStartRecord: { reason: string } } } }>().run;
    expect(shown.metrics).toMatchObject({ wait_s: 0, start_intensity_g_per_kwh: 50 });
    expect(shown.params.carbonStart).toEqual({ mode: { greenestWindowHours: 6, durationHours: 0.5 } });
    expect(shown.params.carbonStartRecord.reason).toBe('greenest_window');
  });

  it('says on stderr that nobody forecasts, and starts now', async () => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const run = await cli(['train', spec, '--train-limit', '64', '--test-limit', '32', '--start-in-greenest-window', '2', '--json'], cwd, { ECOML_COUNTRY: 'FR' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('carbon-aware start: no provider could forecast; the series is flat at the current figure');
    expect(run.json<{ carbon_start: { waited_s: number } }>().carbon_start.waited_s).toBe(0);
  });

  it.each([
    [['--start-in-greenest-window', '6', '--start-when-intensity-below', '100']],
    [['--max-wait', '2']],
    [['--start-when-intensity-below', '100', '--expected-hours', '2']],
    [['--start-in-greenest-window', '0']],
    [['--start-when-intensity-below', '-5']],
  ])('refuses %j with E_CONFIG_INVALID (exit 2) before any work', async (flags) => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const run = await cli(['train', spec, ...flags, '--json'], cwd);
    expect(run.code).toBe(2);
    expect(run.json<{ error: { code: string } }>().error.code).toBe('E_CONFIG_INVALID');
  });
});
