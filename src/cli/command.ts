/**
 * Commands are data: a name, a usage text, option definitions, a `run` that calls the library and
 * returns a result object, and a `render` for people. `main.ts` prints either the rendering or, with
 * --json, the result as one JSON object.
 * @module
 */
import type { Writable } from 'node:stream';

export interface OptionDef {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly description: string;
  readonly valueName?: string;
  readonly multiple?: boolean;
}

export type OptionValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CliIO {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface CliContext {
  readonly stdout: Writable;
  /** Logs and progress go here, never to stdout. */
  readonly stderr: Writable;
  readonly isTTY: boolean;
  readonly json: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly signal: AbortSignal;
}

export interface CommandInput {
  readonly positionals: readonly string[];
  readonly values: OptionValues;
}

export interface Command<R = unknown> {
  readonly name: string;
  readonly summary: string;
  /** e.g. 'ecoml train SPEC [options]' */
  readonly usage: string;
  readonly description?: string;
  readonly options: Readonly<Record<string, OptionDef>>;
  // Method syntax on purpose: a Command<SpecificResult> must fit the registry's Command<unknown>.
  run(input: CommandInput, ctx: CliContext): Promise<R>;
  render(result: R): string;
  /** Where the human rendering goes: stderr for commands whose stdout belongs to a wrapped program. */
  readonly renderTo?: 'stdout' | 'stderr';
  /** The process exit status for a result (e.g. `measure` passes on its child's); default 0. */
  exitCode?(result: R): number;
}

export function defineCommand<R>(command: Command<R>): Command<R> {
  return command;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  json: { type: 'boolean', description: 'print one JSON object on stdout (logs stay on stderr)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const satisfies Record<string, OptionDef>;

export function formatHelp(command: Command): string {
  const all: Readonly<Record<string, OptionDef>> = { ...command.options, ...GLOBAL_OPTIONS };
  const rows = Object.entries(all).map(([name, def]) => {
    const flag = `${def.short ? `-${def.short}, ` : '    '}--${name}${def.type === 'string' ? ` ${def.valueName ?? 'VALUE'}` : ''}`;
    return [flag, def.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  lines.push('', 'Options:', ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`));
  return `${lines.join('\n')}\n`;
}
