/**
 * A powercap sysfs tree in a temp dir, laid out like the real /sys/class/powercap: zones nested under
 * their package, and every zone also listed flat at the top through a symlink.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeZone {
  /** e.g. 'intel-rapl:0' or, for a subzone, 'intel-rapl:0:1'. */
  readonly id: string;
  readonly name: string;
  readonly energyUj: number;
  readonly maxUj: number;
  readonly subzones?: readonly FakeZone[];
}

export interface FakeRaplTree {
  readonly root: string;
  setEnergy(id: string, energyUj: number): Promise<void>;
  cleanup(): Promise<void>;
}

export const REAL_MAX_RANGE_UJ = 262_143_328_850;

export async function makeRaplTree(zones: readonly FakeZone[], extraTopLevel: readonly FakeZone[] = []): Promise<FakeRaplTree> {
  const base = await mkdtemp(join(tmpdir(), 'ecoml-rapl-'));
  const root = join(base, 'powercap');
  const devices = join(base, 'devices', 'intel-rapl');
  await mkdir(root, { recursive: true });
  await mkdir(devices, { recursive: true });
  await symlink(devices, join(root, 'intel-rapl'));
  const dirs = new Map<string, string>();

  const writeZone = async (parent: string, zone: FakeZone): Promise<void> => {
    const dir = join(parent, zone.id);
    dirs.set(zone.id, dir);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'name'), `${zone.name}\n`);
    await writeFile(join(dir, 'energy_uj'), `${zone.energyUj}\n`);
    await writeFile(join(dir, 'max_energy_range_uj'), `${zone.maxUj}\n`);
    await symlink(dir, join(root, zone.id));
    for (const sub of zone.subzones ?? []) await writeZone(dir, sub);
  };
  for (const zone of [...zones, ...extraTopLevel]) await writeZone(devices, zone);

  return {
    root,
    async setEnergy(id, energyUj) {
      const dir = dirs.get(id);
      if (dir === undefined) throw new Error(`no fake zone ${id}`);
      await writeFile(join(dir, 'energy_uj'), `${energyUj}\n`);
    },
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** A package zone with the usual core, uncore and dram subzones. */
export function packageZone(index: number, energyUj: number, maxUj = REAL_MAX_RANGE_UJ): FakeZone {
  const id = `intel-rapl:${index}`;
  return {
    id,
    name: `package-${index}`,
    energyUj,
    maxUj,
    subzones: [
      { id: `${id}:0`, name: 'core', energyUj: 11, maxUj },
      { id: `${id}:1`, name: 'uncore', energyUj: 22, maxUj },
      { id: `${id}:2`, name: 'dram', energyUj: 33, maxUj },
    ],
  };
}
