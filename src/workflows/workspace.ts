/**
 * The composition root for library workflows: one run store, one meter and the engine registry,
 * built once from validated settings and passed down (no module globals).
 * @module
 */
import { resolve } from 'node:path';
import { createEngines } from '../engine/index.js';
import type { Engine } from '../engine/types.js';
import { lookup } from '../errors.js';
import { createMeter, type Meter } from '../meter/index.js';
import { openRunStore, type RunStore } from '../store/index.js';

export interface WorkspaceSettings {
  /** Run store directory; default `.ecoml` in the working directory. */
  readonly storeDir?: string;
  readonly cwd?: string;
  readonly country?: string;
  readonly pue?: number;
  readonly engine?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Informational lines for people (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export interface Workspace {
  readonly store: RunStore;
  readonly meter: Meter;
  readonly engine: Engine;
  readonly storeDir: string;
  readonly cwd: string;
  log(line: string): void;
  close(): Promise<void>;
}

export async function openWorkspace(settings: WorkspaceSettings = {}): Promise<Workspace> {
  const cwd = settings.cwd ?? process.cwd();
  const env = settings.env ?? process.env;
  const storeDir = resolve(cwd, settings.storeDir ?? env.ECOML_STORE ?? '.ecoml');
  const engine = lookup(createEngines(), settings.engine ?? 'tfjs', 'engine');
  const store = openRunStore(storeDir);
  const meter = await createMeter({
    env,
    ...(settings.country !== undefined ? { country: settings.country } : {}),
    ...(settings.pue !== undefined ? { pue: settings.pue } : {}),
  }).catch((error: unknown) => {
    store.close();
    throw error;
  });
  await engine.ready();
  return {
    store,
    meter,
    engine,
    storeDir,
    cwd,
    log: settings.log ?? (() => undefined),
    async close() {
      await meter.close();
      store.close();
    },
  };
}
