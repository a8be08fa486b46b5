/**
 * What this CPU offers for int8 inference, from the flags Linux lists in /proc/cpuinfo (the kernel's
 * names: avx2, avx512bw, avx512_vnni, avx_vnni, amx_int8, amx_bf16; on arm64 asimddp, i8mm).
 *
 * It decides `reduceRange`: ONNX Runtime's x86 u8s8 kernels without VNNI or AMX multiply with
 * vpmaddubsw, which adds pairs of u8·s8 products into a saturating int16; with 7-bit weights
 * (reduce_range) two products cannot overflow. VNNI and AMX accumulate in int32, and Arm's kernels
 * widen before they add, so there full 8-bit weights are safe.
 * @module
 */

import { readFile } from 'node:fs/promises';
import { DEFAULT_CPUINFO_PATH } from '../meter/index.js';

export type CpuArchitecture = 'x86' | 'arm' | 'unknown';

export interface Int8Capability {
  readonly arch: CpuArchitecture;
  readonly avx2: boolean;
  readonly avx512bw: boolean;
  readonly avx512Vnni: boolean;
  readonly avxVnni: boolean;
  readonly amxInt8: boolean;
  readonly amxBf16: boolean;
  /** Arm's SDOT/UDOT int8 dot product (hwcap asimddp). */
  readonly sdot: boolean;
  /** Arm's SMMLA int8 matrix multiply (hwcap i8mm). */
  readonly i8mm: boolean;
  /** Quantize weights to 7 bits, as ORT's reduce_range, because u8s8 products can saturate here. */
  readonly reduceRange: boolean;
  /** One line for people, e.g. "AVX2 without VNNI: int8 weights use 7 bits (reduce_range) to avoid u8s8 saturation". */
  readonly summary: string;
}

type Features = Omit<Int8Capability, 'reduceRange' | 'summary'>;

/** Each feature's flag as the Linux kernel names it in /proc/cpuinfo. */
const FLAG_NAMES: { readonly [K in Exclude<keyof Features, 'arch'>]: string } = {
  avx2: 'avx2',
  avx512bw: 'avx512bw',
  avx512Vnni: 'avx512_vnni',
  avxVnni: 'avx_vnni',
  amxInt8: 'amx_int8',
  amxBf16: 'amx_bf16',
  sdot: 'asimddp',
  i8mm: 'i8mm',
};

/** The flag line of each architecture: x86 says `flags`, arm64 (and 32-bit Arm) `Features`. */
const FLAG_LINES: { readonly [A in KnownArchitecture]: string } = { x86: 'flags', arm: 'Features' };

type KnownArchitecture = Exclude<CpuArchitecture, 'unknown'>;

interface Tier {
  readonly reduceRange: boolean;
  readonly summary: string;
}

const SATURATION = 'int8 weights use 7 bits (reduce_range) to avoid u8s8 saturation';
const FULL = 'full 8-bit weights';

/** Per architecture, best first: the first rung whose test passes describes the CPU, else `otherwise`. */
const TIERS: {
  readonly [A in KnownArchitecture]: { readonly ladder: readonly (Tier & { readonly test: (f: Features) => boolean })[]; readonly otherwise: Tier };
} = {
  x86: {
    ladder: [
      { test: (f) => f.amxInt8, reduceRange: false, summary: `AMX-INT8: int8 matrix multiplies on AMX tiles, ${FULL}` },
      { test: (f) => f.avx512Vnni, reduceRange: false, summary: `AVX-512 VNNI: int8 dot products accumulate in int32, ${FULL}` },
      { test: (f) => f.avxVnni, reduceRange: false, summary: `AVX-VNNI: int8 dot products accumulate in int32, ${FULL}` },
      { test: (f) => f.avx512bw, reduceRange: true, summary: `AVX-512BW without VNNI: ${SATURATION}` },
      { test: (f) => f.avx2, reduceRange: true, summary: `AVX2 without VNNI: ${SATURATION}` },
    ],
    otherwise: { reduceRange: true, summary: `x86 without AVX2: int8 runs on SSE kernels; ${SATURATION}` },
  },
  arm: {
    ladder: [
      { test: (f) => f.i8mm, reduceRange: false, summary: `Arm i8mm (SMMLA): int8 matrix multiplies accumulate in int32, ${FULL}` },
      { test: (f) => f.sdot, reduceRange: false, summary: `Arm dot product (SDOT/UDOT): int8 dot products accumulate in int32, ${FULL}` },
    ],
    otherwise: { reduceRange: false, summary: `Arm without dot product: NEON widens int8 before adding, ${FULL}` },
  },
};

export interface Int8CapabilityOptions {
  /** Seam for tests; default /proc/cpuinfo. */
  readonly cpuInfoPath?: string;
}

/** Reads the CPU's flags; a missing or unreadable file gives an 'unknown' report, never a throw. */
export async function detectInt8Capability(options: Int8CapabilityOptions = {}): Promise<Int8Capability> {
  const path = options.cpuInfoPath ?? DEFAULT_CPUINFO_PATH;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return unknownCapability(`${path} could not be read (${reason})`);
  }
  return int8CapabilityFromCpuInfo(text);
}

/** The capability a /proc/cpuinfo text describes. A flag counts only when every processor lists it. */
export function int8CapabilityFromCpuInfo(text: string): Int8Capability {
  let arch: KnownArchitecture | undefined;
  let common: Set<string> | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const lineArch = (Object.keys(FLAG_LINES) as KnownArchitecture[]).find((a) => FLAG_LINES[a] === key);
    if (lineArch === undefined) continue;
    arch = lineArch;
    const flags = line.slice(colon + 1).trim().split(/\s+/);
    // Threads move between cores, so a feature one core lacks (hybrid or big.LITTLE) cannot be relied on.
    common = common === undefined ? new Set(flags) : new Set(flags.filter((flag) => common?.has(flag)));
  }
  if (arch === undefined || common === undefined) return unknownCapability('no flags or Features line in the cpuinfo');
  const flags = common;
  const features: Features = { arch, ...mapFlags((name) => flags.has(name)) };
  const { ladder, otherwise } = TIERS[arch];
  const { reduceRange, summary } = ladder.find(({ test }) => test(features)) ?? otherwise;
  return { ...features, reduceRange, summary };
}

function mapFlags(has: (name: string) => boolean): Omit<Features, 'arch'> {
  return Object.fromEntries(Object.entries(FLAG_NAMES).map(([feature, name]) => [feature, has(name)])) as Omit<Features, 'arch'>;
}

/** Reduce range is the safe choice when we cannot tell: 7-bit weights never saturate. */
function unknownCapability(why: string): Int8Capability {
  return {
    arch: 'unknown',
    ...mapFlags(() => false),
    reduceRange: true,
    summary: `CPU int8 features unknown: ${why}; ${SATURATION}, the safe choice`,
  };
}
