/**
 * CPU thermal design power: the shipped table (CodeCarbon's cpu_power.csv), a fuzzy match against
 * the vendor's model string, and CodeCarbon's documented defaults when the match fails.
 *
 * Matching. Both the query and every table name are normalised: lower case; ®, ™, (R), (TM) and any
 * other parenthesised text removed; "@ 2.20GHz", "16-Core", "11th Gen", "with Radeon … Graphics", Intel's
 * "0" generation marker and the words "CPU"/"Processor" dropped. A row then matches when its tokens equal
 * the query's in any order, except that a vendor word (intel, amd, apple) present on one side only is
 * ignored (some rows omit it). Requiring every token keeps variants apart: "E5-2686 v3" never takes
 * the TDP of "E5-2686 v4", nor "Apple M1 Pro" that of "Apple M1". Of several matches the row with the
 * most tokens wins; if those disagree on TDP the model counts as unlisted rather than guessing. A
 * model string without a digit (e.g. "Intel Xeon Processor (Icelake)" on some VMs) never matches.
 * @module
 */

import { EcomlError } from '../../errors.js';
import { readCsvTable } from '../csv.js';
import { CPU_TDP_CSV } from '../data-files.js';
import type { CpuInfo } from './cpu-info.js';

/** CodeCarbon (core/cpu.py): a detected model missing from the table is charged 4 W per logical thread. */
export const UNLISTED_CPU_WATTS_PER_THREAD = 4;
/** CodeCarbon POWER_CONSTANT: the TDP assumed when the CPU model cannot be detected at all. */
export const UNDETECTED_CPU_TDP_WATTS = 85;

export interface TdpEntry {
  readonly name: string;
  readonly tdpWatts: number;
}

interface IndexedEntry {
  readonly entry: TdpEntry;
  readonly otherTokens: readonly string[];
  readonly tokenCount: number;
}

/** A table row whose TDP is not a positive number; such models are treated as unlisted. */
export interface SkippedTdpRow {
  readonly line: number;
  readonly name: string;
  readonly tdp: string;
}

export interface TdpTable {
  readonly size: number;
  readonly skipped: readonly SkippedTdpRow[];
  /** Rows keyed by their sorted digit-bearing tokens. */
  readonly byDigitTokens: ReadonlyMap<string, readonly IndexedEntry[]>;
}

export async function loadTdpTable(file: URL | string = CPU_TDP_CSV): Promise<TdpTable> {
  const rows = await readCsvTable(file, ['Name', 'TDP']);
  const entries: TdpEntry[] = [];
  const skipped: SkippedTdpRow[] = [];
  for (const { line, fields } of rows) {
    const name = fields.Name ?? '';
    const tdpWatts = Number(fields.TDP);
    // A few upstream rows hold two figures run together ("27.29.5") or 0 W, which would zero the
    // estimate: leave them out, so those models count as unlisted.
    if (tdpWatts > 0) entries.push({ name, tdpWatts });
    else skipped.push({ line, name, tdp: fields.TDP ?? '' });
  }
  return buildTdpTable(entries, skipped);
}

export function buildTdpTable(entries: readonly TdpEntry[], skipped: readonly SkippedTdpRow[] = []): TdpTable {
  const byDigitTokens = new Map<string, IndexedEntry[]>();
  for (const entry of entries) {
    const { digitKey, otherTokens, tokenCount } = tokenise(entry.name);
    if (digitKey === '') continue;
    const bucket = byDigitTokens.get(digitKey) ?? [];
    bucket.push({ entry, otherTokens, tokenCount });
    byDigitTokens.set(digitKey, bucket);
  }
  return { size: entries.length, byDigitTokens, skipped };
}

export function normaliseCpuModel(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[®™]|\((?:r|tm|c)\)/g, ' ')
    .replace(/\([^)]*\)/g, ' ')
    .replace(/@\s*[\d.]+\s*[gm]hz/g, ' ')
    .replace(/\b(?:with|w\/) radeon\b.*$/, ' ')
    .replace(/\b\d+(?:st|nd|rd|th) gen\b/g, ' ')
    .replace(/\b\d+-cores?\b/g, ' ')
    .replace(/(?:^|\s)0(?=\s|$)/g, ' ')
    .replace(/\b(?:cpu|processors?)\b/g, ' ')
    .replace(/,/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const VENDOR_WORDS: ReadonlySet<string> = new Set(['intel', 'amd', 'apple']);

function tokenise(model: string): { digitKey: string; otherTokens: string[]; tokenCount: number } {
  const tokens = [...new Set(normaliseCpuModel(model).split(' ').filter(Boolean))];
  const digitTokens = tokens.filter((t) => /\d/.test(t)).sort();
  return { digitKey: digitTokens.join(' '), otherTokens: tokens.filter((t) => !/\d/.test(t)), tokenCount: tokens.length };
}

/** Same words, ignoring a vendor word that only one side carries. */
function sameWords(a: readonly string[], b: readonly string[]): boolean {
  const covered = (from: readonly string[], to: ReadonlySet<string>) => from.every((t) => to.has(t) || VENDOR_WORDS.has(t));
  return covered(a, new Set(b)) && covered(b, new Set(a));
}

/** The table row for a vendor model string, or undefined when it is not listed (or ambiguous). */
export function matchCpuModel(model: string, table: TdpTable): TdpEntry | undefined {
  const query = tokenise(model);
  const candidates = (table.byDigitTokens.get(query.digitKey) ?? []).filter((c) => sameWords(c.otherTokens, query.otherTokens));
  const mostTokens = Math.max(...candidates.map((c) => c.tokenCount));
  const best = candidates.filter((c) => c.tokenCount === mostTokens);
  const first = best[0];
  if (first === undefined || best.some((c) => c.entry.tdpWatts !== first.entry.tdpWatts)) return undefined;
  return first.entry;
}

export interface CpuPower {
  /** The model string as detected, or 'unknown'. */
  readonly cpuModel: string;
  readonly logicalCpus: number;
  /** Whole-machine TDP (all sockets). */
  readonly tdpWatts: number;
  /** 'table:<matched name>', 'default:…' or 'override'. */
  readonly tdpSource: string;
  /** One phrase saying how tdpWatts was reached, for model strings. */
  readonly tdpSummary: string;
}

/** Chooses the machine TDP: override, else table match × sockets, else CodeCarbon's defaults. */
export function resolveCpuPower(cpu: CpuInfo, table: TdpTable, overrideTdpWatts?: number): CpuPower {
  const cpuModel = cpu.model ?? 'unknown';
  const threads = `${cpu.logicalCpus} threads`;
  if (overrideTdpWatts !== undefined) {
    if (!(Number.isFinite(overrideTdpWatts) && overrideTdpWatts > 0)) {
      throw new EcomlError('E_CONFIG_INVALID', `tdpWatts must be a positive number of watts, got ${overrideTdpWatts}`, {
        details: { tdpWatts: overrideTdpWatts },
      });
    }
    return { cpuModel, logicalCpus: cpu.logicalCpus, tdpWatts: overrideTdpWatts, tdpSource: 'override', tdpSummary: `${cpuModel}, ${overrideTdpWatts} W TDP (override) / ${threads}` };
  }
  if (cpu.model === undefined) {
    return {
      cpuModel,
      logicalCpus: cpu.logicalCpus,
      tdpWatts: UNDETECTED_CPU_TDP_WATTS,
      tdpSource: 'default:model not detected',
      tdpSummary: `CPU model not detected: ${UNDETECTED_CPU_TDP_WATTS} W default TDP / ${threads}`,
    };
  }
  const entry = matchCpuModel(cpu.model, table);
  if (entry === undefined) {
    return {
      cpuModel,
      logicalCpus: cpu.logicalCpus,
      tdpWatts: UNLISTED_CPU_WATTS_PER_THREAD * cpu.logicalCpus,
      tdpSource: 'default:model not in table',
      tdpSummary: `${cpuModel}, not in TDP table: ${UNLISTED_CPU_WATTS_PER_THREAD} W per thread × ${threads}`,
    };
  }
  const sockets = cpu.sockets > 1 ? ` × ${cpu.sockets} sockets` : '';
  return {
    cpuModel,
    logicalCpus: cpu.logicalCpus,
    tdpWatts: entry.tdpWatts * cpu.sockets,
    tdpSource: `table:${entry.name}`,
    tdpSummary: `${entry.name}, ${entry.tdpWatts} W TDP${sockets} / ${threads}`,
  };
}
