import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { Measurement, MeterWindow } from '../../src/meter/index.js';
import { buildMeterServer, type MeterServer } from '../../src/meter/outputs/index.js';
import { hourMeasurement } from './outputs-fixtures.js';

/** A meter whose every window used 1 J of CPU per 10 ms elapsed, and which can be made to fail. */
function fakeMeter() {
  const state = { begun: 0, ended: 0, failing: undefined as string | undefined };
  const meter = {
    async begin(label: string): Promise<MeterWindow> {
      state.begun++;
      const start = performance.now();
      return {
        label,
        async end(): Promise<Measurement> {
          if (state.failing) throw new EcomlError('E_METER_UNAVAILABLE', state.failing);
          state.ended++;
          const durationS = (performance.now() - start) / 1000;
          const joules = durationS * 100;
          const base = hourMeasurement();
          const component = { name: 'cpu', joules, low: joules * 0.8, high: joules * 1.2, method: 'estimated' as const, model: 'tdp-per-core×process-cpu-time (Test)' };
          return {
            ...base,
            label,
            durationS,
            energy: { joules, low: component.low, high: component.high, kwh: joules / 3.6e6, components: [component] },
            emissions: { ...base.emissions, kgCo2e: ((joules / 3.6e6) * 56) / 1000 },
          };
        },
      };
    },
  };
  return { meter, state };
}

const servers: MeterServer[] = [];
const track = (server: MeterServer) => {
  servers.push(server);
  return server;
};
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function healthz(server: MeterServer) {
  const response = await server.app.inject({ method: 'GET', url: '/healthz' });
  return { status: response.statusCode, body: response.json<{ status: string; windows: number; failedWindows: number; error?: { code: string } }>() };
}

describe('buildMeterServer', () => {
  it('serves ecoml_energy_joules_total on /metrics once a window has closed', async () => {
    const { meter } = fakeMeter();
    const server = track(buildMeterServer({ meter, registry: new Registry(), interval: 20 }));
    const before = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(before.statusCode).toBe(200);
    expect(before.body).not.toMatch(/^ecoml_energy_joules_total\{/m);

    await server.start();
    await vi.waitFor(async () => expect((await healthz(server)).body.windows).toBeGreaterThanOrEqual(1), { timeout: 5000, interval: 10 });

    const response = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.body).toMatch(/^ecoml_energy_joules_total\{component="cpu",method="estimated",source="tdp-per-core×process-cpu-time"\} \d/m);
    expect(response.body).toMatch(/^ecoml_power_watts\{component="cpu",method="estimated"\} \d/m);
    expect(response.body).toMatch(/^ecoml_emissions_kg_total\{method="estimated"\} \d/m);
    expect(response.body).toContain('ecoml_carbon_intensity_g_per_kwh{country="FRA",source="table:OWID/Ember 2023"} 56');
  });

  it('healthz is ok while windows close, 503 with the error while they fail, and the loop carries on', async () => {
    const { meter, state } = fakeMeter();
    const errors: EcomlError[] = [];
    const server = track(buildMeterServer({ meter, registry: new Registry(), interval: 10, onError: (e) => errors.push(e) }));
    expect(await healthz(server)).toMatchObject({ status: 200, body: { status: 'ok', windows: 0 } });
    await server.start();
    await vi.waitFor(async () => expect((await healthz(server)).body.windows).toBeGreaterThanOrEqual(1), { timeout: 5000, interval: 10 });

    state.failing = 'no energy source could be read';
    await vi.waitFor(async () => expect((await healthz(server)).status).toBe(503), { timeout: 5000, interval: 10 });
    expect((await healthz(server)).body).toMatchObject({ status: 'failing', error: { code: 'E_METER_UNAVAILABLE' } });
    expect(errors[0]?.code).toBe('E_METER_UNAVAILABLE');

    state.failing = undefined;
    await vi.waitFor(async () => expect((await healthz(server)).status).toBe(200), { timeout: 5000, interval: 10 });
  });

  it('stop() observes the last partial window and returns totals matching the counters', async () => {
    const { meter, state } = fakeMeter();
    const registry = new Registry();
    const seen: Measurement[] = [];
    const server = track(buildMeterServer({ meter, registry, interval: 15, onWindow: (m) => void seen.push(m) }));
    await server.start();
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 5 });
    const summary = await server.stop();

    expect(summary.windows).toBe(seen.length);
    expect(summary.failedWindows).toBe(0);
    expect(state.begun).toBe(state.ended); // no window left open
    const joules = seen.reduce((s, m) => s + m.energy.joules, 0);
    expect(summary.total?.energy.joules).toBeCloseTo(joules, 9);
    const counter = (await registry.getMetricsAsJSON()).find((m) => m.name === 'ecoml_energy_joules_total');
    expect(counter?.values[0]?.value).toBeCloseTo(joules, 9);
    expect(await server.stop()).toBe(summary);
  });

  it('a rejected onWindow counts as a failed window without stopping the loop', async () => {
    const { meter } = fakeMeter();
    let calls = 0;
    const server = track(
      buildMeterServer({
        meter,
        registry: new Registry(),
        interval: 10,
        onWindow: async () => {
          calls++;
          throw new Error('sink full');
        },
      }),
    );
    await server.start();
    await vi.waitFor(() => expect(calls).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 5 });
    const summary = await server.stop();
    expect(summary.failedWindows).toBe(calls);
  });

  it('listens on 127.0.0.1 with an ephemeral port and serves real HTTP', async () => {
    const { meter } = fakeMeter();
    const server = track(buildMeterServer({ meter, registry: new Registry(), interval: 10 }));
    const address = await server.start({ port: 0, host: '127.0.0.1' });
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await vi.waitFor(async () => expect(await (await fetch(`${address}/metrics`)).text()).toMatch(/^ecoml_energy_joules_total\{/m), { timeout: 5000, interval: 10 });
    expect((await fetch(`${address}/healthz`)).status).toBe(200);
  });

  it('rejects a non-positive interval and a second start', async () => {
    const { meter } = fakeMeter();
    expect(() => buildMeterServer({ meter, registry: new Registry(), interval: 0 })).toThrow(/interval must be a positive number/);
    const server = track(buildMeterServer({ meter, registry: new Registry(), interval: 10 }));
    await server.start();
    await expect(server.start()).rejects.toBeInstanceOf(EcomlError);
  });

  it('a port in use is E_CONFIG_INVALID naming it', async () => {
    const { meter } = fakeMeter();
    const first = track(buildMeterServer({ meter, registry: new Registry(), interval: 10 }));
    const address = await first.start({ port: 0, host: '127.0.0.1' });
    const port = Number(new URL(address ?? '').port);
    const second = track(buildMeterServer({ meter, registry: new Registry(), interval: 10 }));
    await expect(second.start({ port, host: '127.0.0.1' })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: `cannot listen on 127.0.0.1:${port}: the port is in use` });
  });
});
