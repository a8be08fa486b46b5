/**
 * Which CPU this is: model name, logical CPU count and sockets, from /proc/cpuinfo or os.cpus().
 * @module
 */

import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

export const DEFAULT_CPUINFO_PATH = '/proc/cpuinfo';

export interface CpuInfo {
  /** The vendor's model string, or undefined when the platform does not say. */
  readonly model: string | undefined;
  /** Logical CPUs on the host (not a container's quota): process CPU time is spread over these. */
  readonly logicalCpus: number;
  readonly sockets: number;
}

export interface CpuInfoOptions {
  readonly cpuInfoPath?: string;
  /** Seam for os.cpus(), the fallback where /proc/cpuinfo is absent (macOS, Windows). */
  readonly osCpus?: () => readonly { readonly model: string }[];
}

export async function detectCpu(options: CpuInfoOptions = {}): Promise<CpuInfo> {
  const fromOs = (options.osCpus ?? cpus)();
  const osModel = usableModel(fromOs[0]?.model);
  let parsed: ReturnType<typeof parseCpuInfo> | undefined;
  try {
    parsed = parseCpuInfo(await readFile(options.cpuInfoPath ?? DEFAULT_CPUINFO_PATH, 'utf8'));
  } catch {
    // No procfs here: os.cpus() is the only source, which is what this fallback is for.
    parsed = undefined;
  }
  return {
    model: parsed?.model ?? osModel,
    logicalCpus: Math.max(1, parsed?.processors || fromOs.length),
    sockets: Math.max(1, parsed?.sockets ?? 1),
  };
}

/** Reads the fields we need from /proc/cpuinfo text (x86 has `model name`; many ARM kernels do not). */
export function parseCpuInfo(text: string): { readonly model: string | undefined; readonly processors: number; readonly sockets: number } {
  let model: string | undefined;
  let processors = 0;
  const physicalIds = new Set<string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'processor') processors++;
    else if (key === 'model name') model ??= usableModel(value);
    else if (key === 'physical id') physicalIds.add(value);
  }
  return { model, processors, sockets: physicalIds.size };
}

function usableModel(model: string | undefined): string | undefined {
  const trimmed = model?.trim();
  return trimmed && trimmed.toLowerCase() !== 'unknown' ? trimmed : undefined;
}
