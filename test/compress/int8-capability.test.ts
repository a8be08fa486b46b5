import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectInt8Capability, int8CapabilityFromCpuInfo, type Int8Capability } from '../../src/compress/index.js';

const fixture = (name: string): string => join(import.meta.dirname, 'fixtures', `${name}.cpuinfo`);
const NONE = { avx2: false, avx512bw: false, avx512Vnni: false, avxVnni: false, amxInt8: false, amxBf16: false, sdot: false, i8mm: false };

describe('int8 capability from /proc/cpuinfo', () => {
  it.each<[string, Partial<Int8Capability>, string]>([
    ['amd-epyc-avx2', { arch: 'x86', avx2: true, reduceRange: true }, 'AVX2 without VNNI: int8 weights use 7 bits (reduce_range) to avoid u8s8 saturation'],
    ['skylake-avx512bw', { arch: 'x86', avx2: true, avx512bw: true, reduceRange: true }, 'AVX-512BW without VNNI: int8 weights use 7 bits (reduce_range) to avoid u8s8 saturation'],
    ['ice-lake-avx512-vnni', { arch: 'x86', avx2: true, avx512bw: true, avx512Vnni: true, reduceRange: false }, 'AVX-512 VNNI: int8 dot products accumulate in int32, full 8-bit weights'],
    [
      'sapphire-rapids-amx',
      { arch: 'x86', avx2: true, avx512bw: true, avx512Vnni: true, avxVnni: true, amxInt8: true, amxBf16: true, reduceRange: false },
      'AMX-INT8: int8 matrix multiplies on AMX tiles, full 8-bit weights',
    ],
    ['graviton3-aarch64', { arch: 'arm', sdot: true, i8mm: true, reduceRange: false }, 'Arm i8mm (SMMLA): int8 matrix multiplies accumulate in int32, full 8-bit weights'],
  ])('%s', async (name, expected, summary) => {
    expect(await detectInt8Capability({ cpuInfoPath: fixture(name) })).toEqual({ ...NONE, ...expected, summary });
  });

  it('counts a flag only when every processor lists it (hybrid cores, big.LITTLE)', () => {
    const text = 'processor\t: 0\nflags\t\t: sse2 avx2 avx_vnni\n\nprocessor\t: 1\nflags\t\t: sse2 avx2\n';
    expect(int8CapabilityFromCpuInfo(text)).toMatchObject({ avx2: true, avxVnni: false, reduceRange: true });
    expect(int8CapabilityFromCpuInfo(text.replace('avx2\n', 'avx2 avx_vnni\n'))).toMatchObject({ avxVnni: true, reduceRange: false });
  });

  it('reads AVX-VNNI alone (Alder Lake) as no saturation, and x86 without AVX2 as saturating', () => {
    expect(int8CapabilityFromCpuInfo('flags\t: sse4_2 avx avx2 avx_vnni\n')).toMatchObject({ avxVnni: true, avx512Vnni: false, reduceRange: false });
    expect(int8CapabilityFromCpuInfo('flags\t: sse2 sse4_1 avx\n')).toMatchObject({ arch: 'x86', avx2: false, reduceRange: true, summary: expect.stringMatching(/^x86 without AVX2/) });
  });

  it('reads Arm with and without the dot product', () => {
    expect(int8CapabilityFromCpuInfo('Features\t: fp asimd asimddp\nCPU architecture: 8\n')).toMatchObject({ arch: 'arm', sdot: true, i8mm: false, reduceRange: false, summary: expect.stringMatching(/^Arm dot product/) });
    expect(int8CapabilityFromCpuInfo('Features\t: fp asimd evtstrm crc32\n')).toMatchObject({ arch: 'arm', sdot: false, reduceRange: false, summary: expect.stringMatching(/^Arm without dot product/) });
  });

  it('does not take a flag name for a longer one (avx512_vnni is not avx_vnni, amx_tile is not amx_int8)', () => {
    expect(int8CapabilityFromCpuInfo('flags\t: avx2 avx512_vnni amx_tile avx_vnni_int8\n')).toMatchObject({ avx512Vnni: true, avxVnni: false, amxInt8: false });
  });

  it('reports a missing, unreadable or flagless file as unknown with reduce_range, never throwing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-int8-'));
    try {
      const missing = await detectInt8Capability({ cpuInfoPath: join(dir, 'absent') });
      expect(missing).toEqual({ ...NONE, arch: 'unknown', reduceRange: true, summary: expect.stringContaining('ENOENT') });
      expect(missing.summary).toContain('reduce_range');
      expect(await detectInt8Capability({ cpuInfoPath: dir })).toMatchObject({ arch: 'unknown', reduceRange: true, summary: expect.stringContaining('EISDIR') });
      const flagless = join(dir, 'cpuinfo');
      await writeFile(flagless, 'processor\t: 0\nmodel name\t: Mystery\n');
      expect(await detectInt8Capability({ cpuInfoPath: flagless })).toMatchObject({ arch: 'unknown', reduceRange: true, summary: expect.stringContaining('no flags') });
      if (process.getuid?.() !== 0) {
        await chmod(flagless, 0o000);
        expect(await detectInt8Capability({ cpuInfoPath: flagless })).toMatchObject({ arch: 'unknown', summary: expect.stringContaining('EACCES') });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the real /proc/cpuinfo by default without throwing', async () => {
    const capability = await detectInt8Capability();
    expect(capability.summary.length).toBeGreaterThan(0);
    expect(typeof capability.reduceRange).toBe('boolean');
  });
});
