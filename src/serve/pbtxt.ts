/**
 * Protobuf text format without a schema, for Triton model repositories' `config.pbtxt`. Without
 * the .proto we cannot know which fields repeat or what type a scalar has, so the result is plain
 * data: a field seen once is its value, a field seen again or written with list syntax is an array,
 * and scalars take the type their spelling implies (see parseTextProto). The grammar follows
 * protobuf's TextFormat parser (so text Triton accepts parses here), with one leniency: a list may
 * follow a field name without ':' whatever it holds, as we cannot tell scalar fields from messages.
 * @module
 */

import { EcomlError } from '../errors.js';

export type TextProtoValue = string | number | bigint | boolean | TextProtoMessage | TextProtoValue[];
export interface TextProtoMessage {
  [field: string]: TextProtoValue;
}

export interface ParseTextProtoOptions {
  /** Names the text in error messages. Default 'config.pbtxt'. */
  readonly source?: string;
}

/** Nesting past this is refused rather than risking the stack: real configs nest a few levels. */
const MAX_DEPTH = 100;

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const DECIMAL = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?/y;
const HEX = /0[xX][0-9a-fA-F]+/y;
/** Identifiers that are float values in protobuf text (any case), e.g. `inf`, `-Infinity`, `nan`. */
const NON_FINITE = /^(?:inf|infinity|nan)$/i;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses protobuf text format into plain objects. Fields are `name: value`, `name { … }`,
 * `name: { … }` or `name < … >`; repeated fields repeat the name or use a list `name: [a, b]` /
 * `name [ {…}, {…} ]`. A field seen more than once becomes an array (in order, lists spliced in);
 * a field written with list syntax is always an array. Fields may be separated by `,` or `;`, and
 * `#` starts a comment. Scalars:
 * - strings: double- or single-quoted, C escapes (\n \t \r \a \b \f \v \\ \' \" \? \xHH, octal \NNN,
 *   \uXXXX, \UXXXXXXXX); adjacent literals concatenate; the bytes must be UTF-8 (proto3 strings);
 * - numbers: decimal, hex 0x…, octal 0… integers (optionally negative; past ±(2^53−1) → bigint),
 *   floats (1.5, 1e-3, .5, 1., optional f suffix) and inf / infinity / nan in any case;
 * - `true` / `True` / `false` / `False` → boolean; any other identifier (an enum value) → string.
 * Errors: E_CONFIG_INVALID `${source}:${line}:${column}: ${what}` (both 1-based), details
 * { source, line, column }.
 */
export function parseTextProto(text: string, options: ParseTextProtoOptions = {}): TextProtoMessage {
  return new TextProtoParser(text, options.source ?? 'config.pbtxt').parse();
}

class TextProtoParser {
  private pos = 0;
  /** Whether the last number unsigned() read was an integer (for the sign of zero). */
  private lastWasInteger = false;

  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  parse(): TextProtoMessage {
    return this.message(undefined, 0, 0);
  }

  private fail(position: number, what: string): never {
    let line = 1;
    let lineStart = 0;
    for (let i = this.text.indexOf('\n'); i !== -1 && i < position; i = this.text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    const column = position - lineStart + 1;
    throw new EcomlError('E_CONFIG_INVALID', `${this.source}:${line}:${column}: ${what}`, { details: { source: this.source, line, column } });
  }

  /** "line:column" of `position`, for messages that point back at an opening bracket. */
  private where(position: number): string {
    const before = this.text.slice(0, position);
    const lineStart = before.lastIndexOf('\n') + 1;
    return `${before.split('\n').length}:${position - lineStart + 1}`;
  }

  /** What stands at `pos`, for "expected …, found …" messages. */
  private found(): string {
    if (this.pos >= this.text.length) return 'end of input';
    IDENTIFIER.lastIndex = this.pos;
    const word = IDENTIFIER.exec(this.text);
    if (word) return `'${word[0]}'`;
    return `'${this.text[this.pos] as string}'`;
  }

  /** Skips whitespace and `#` comments. */
  private skip(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text[pos];
      if (c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\v' || c === '\f') pos++;
      else if (c === '#') {
        const end = text.indexOf('\n', pos);
        pos = end === -1 ? text.length : end + 1;
      } else break;
    }
    this.pos = pos;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  /**
   * Fields until `close` ('}' or '>'), or until the end of input at the top (`close` undefined).
   * `openedAt` is where the bracket was, for the "not closed" message.
   */
  private message(close: '}' | '>' | undefined, openedAt: number, depth: number): TextProtoMessage {
    if (depth > MAX_DEPTH) this.fail(openedAt, `messages nested deeper than ${MAX_DEPTH} levels`);
    const out: TextProtoMessage = {};
    for (;;) {
      this.skip();
      const c = this.peek();
      if (c === undefined) {
        if (close === undefined) return out;
        this.fail(this.pos, `expected '${close}' to close the message opened at ${this.where(openedAt)}, found end of input`);
      }
      if (c === close) {
        this.pos++;
        return out;
      }
      if (c === '}' || c === '>' || c === ']') {
        this.fail(this.pos, close === undefined ? `unexpected '${c}': no message is open` : `unexpected '${c}': the message opened at ${this.where(openedAt)} closes with '${close}'`);
      }
      this.field(out, depth);
      this.skip();
      const sep = this.peek();
      if (sep === ',' || sep === ';') this.pos++;
    }
  }

  private field(out: TextProtoMessage, depth: number): void {
    const nameAt = this.pos;
    IDENTIFIER.lastIndex = nameAt;
    const name = IDENTIFIER.exec(this.text)?.[0];
    if (name === undefined) this.fail(nameAt, `expected a field name, found ${this.found()}`);
    this.pos += name.length;
    this.skip();
    let colon = false;
    if (this.peek() === ':') {
      colon = true;
      this.pos++;
      this.skip();
    }
    const c = this.peek();
    if (c === '[') {
      add(out, name, this.list(depth), true);
    } else if (c === '{' || c === '<') {
      add(out, name, this.nested(depth), false);
    } else if (colon) {
      add(out, name, this.scalar(), false);
    } else {
      this.fail(this.pos, `expected ':' or '{' after the field name '${name}', found ${this.found()}`);
    }
  }

  /** A `{ … }` or `< … >` message, at its opening bracket. */
  private nested(depth: number): TextProtoMessage {
    const openedAt = this.pos;
    const close = this.text[openedAt] === '{' ? '}' : '>';
    this.pos++;
    return this.message(close, openedAt, depth + 1);
  }

  /** `[a, b, …]` of scalars or messages (protobuf allows no nested lists and no trailing comma). */
  private list(depth: number): TextProtoValue[] {
    const openedAt = this.pos;
    this.pos++;
    const out: TextProtoValue[] = [];
    this.skip();
    if (this.peek() === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skip();
      const c = this.peek();
      out.push(c === '{' || c === '<' ? this.nested(depth) : this.scalar());
      this.skip();
      const next = this.peek();
      if (next === ',') this.pos++;
      else if (next === ']') {
        this.pos++;
        return out;
      } else if (next === undefined) {
        this.fail(this.pos, `expected ']' to close the list opened at ${this.where(openedAt)}, found end of input`);
      } else this.fail(this.pos, `expected ',' or ']' in a list, found ${this.found()}`);
    }
  }

  private scalar(): string | number | bigint | boolean {
    const c = this.peek();
    if (c === '"' || c === "'") return this.strings();
    if (c === '-') {
      const minusAt = this.pos;
      this.pos++;
      this.skip();
      const value = this.unsigned();
      if (value === undefined) this.fail(minusAt, `expected a number after '-', found ${this.found()}`);
      if (typeof value === 'bigint') return -value;
      // -0 stays -0 only as a float; an integer zero has no sign.
      return value === 0 && this.lastWasInteger ? 0 : -value;
    }
    const number = this.unsigned();
    if (number !== undefined) return number;
    IDENTIFIER.lastIndex = this.pos;
    const word = IDENTIFIER.exec(this.text)?.[0];
    if (word === undefined) this.fail(this.pos, `expected a value, found ${this.found()}`);
    this.pos += word.length;
    if (word === 'true' || word === 'True') return true;
    if (word === 'false' || word === 'False') return false;
    return word;
  }

  /** A number without sign at `pos`, or undefined (pos unchanged) when none starts there. */
  private unsigned(): number | bigint | undefined {
    const text = this.text;
    const start = this.pos;
    const c = text[start];
    let value: number | bigint;
    let end: number;
    if (c !== undefined && ((c >= '0' && c <= '9') || (c === '.' && /\d/.test(text[start + 1] ?? '')))) {
      HEX.lastIndex = start;
      const hex = HEX.exec(text);
      if (hex) {
        end = start + hex[0].length;
        value = integer(hex[0]);
        this.lastWasInteger = true;
      } else {
        DECIMAL.lastIndex = start;
        const literal = (DECIMAL.exec(text) as RegExpExecArray)[0];
        end = start + literal.length;
        if (/^\d+$/.test(literal)) {
          // A leading 0 makes an octal integer, as in C and protobuf.
          if (literal.length > 1 && literal[0] === '0') {
            if (!/^[0-7]+$/.test(literal)) this.fail(start, `invalid octal number '${literal}'`);
            value = integer(`0o${literal.slice(1)}`);
          } else value = integer(literal);
          this.lastWasInteger = true;
        } else {
          value = Number(/[fF]$/.test(literal) ? literal.slice(0, -1) : literal);
          this.lastWasInteger = false;
        }
      }
    } else {
      IDENTIFIER.lastIndex = start;
      const word = IDENTIFIER.exec(text)?.[0];
      if (word === undefined || !NON_FINITE.test(word)) return undefined;
      end = start + word.length;
      value = word.toLowerCase() === 'nan' ? Number.NaN : Number.POSITIVE_INFINITY;
      this.lastWasInteger = false;
    }
    const after = text[end];
    if (after !== undefined && /[A-Za-z0-9_.]/.test(after)) this.fail(end, `unexpected '${after}' after the number '${text.slice(start, end)}'`);
    this.pos = end;
    return value;
  }

  /** One or more adjacent string literals, concatenated as bytes and read as UTF-8. */
  private strings(): string {
    const bytes: number[] = [];
    const firstAt = this.pos;
    for (;;) {
      this.literal(bytes);
      this.skip();
      const c = this.peek();
      if (c !== '"' && c !== "'") break;
    }
    try {
      return UTF8.decode(new Uint8Array(bytes));
    } catch {
      return this.fail(firstAt, 'string is not valid UTF-8');
    }
  }

  /** One quoted literal at `pos`, its bytes appended to `bytes`. */
  private literal(bytes: number[]): void {
    const text = this.text;
    const openedAt = this.pos;
    const quote = text[openedAt] as string;
    let pos = openedAt + 1;
    let chunk = pos;
    const flush = (end: number) => {
      if (end > chunk) for (const b of Buffer.from(text.slice(chunk, end), 'utf8')) bytes.push(b);
    };
    for (;;) {
      const c = text[pos];
      if (c === undefined || c === '\n') this.fail(openedAt, `unterminated string (no closing ${quote} on this line)`);
      if (c === quote) {
        flush(pos);
        this.pos = pos + 1;
        return;
      }
      if (c !== '\\') {
        pos++;
        continue;
      }
      flush(pos);
      const e = text[pos + 1];
      pos += 2;
      const simple = e === undefined ? undefined : SIMPLE_ESCAPES[e];
      if (simple !== undefined) {
        bytes.push(simple);
      } else if (e !== undefined && e >= '0' && e <= '7') {
        const digits = /^[0-7]{1,3}/.exec(text.slice(pos - 1, pos + 2))?.[0] as string;
        const byte = Number.parseInt(digits, 8);
        if (byte > 255) this.fail(pos - 2, `octal escape \\${digits} is more than a byte`);
        bytes.push(byte);
        pos += digits.length - 1;
      } else if (e === 'x' || e === 'X') {
        const digits = /^[0-9a-fA-F]{1,2}/.exec(text.slice(pos, pos + 2))?.[0];
        if (digits === undefined) this.fail(pos - 2, 'expected hex digits after \\x');
        bytes.push(Number.parseInt(digits, 16));
        pos += digits.length;
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const digits = text.slice(pos, pos + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(digits)) this.fail(pos - 2, `expected ${n} hex digits after \\${e}`);
        const code = Number.parseInt(digits, 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(pos - 2, `\\${e}${digits} is not a Unicode scalar value`);
        for (const b of Buffer.from(String.fromCodePoint(code), 'utf8')) bytes.push(b);
        pos += n;
      } else {
        this.fail(pos - 2, e === undefined || e === '\n' ? 'unterminated string' : `invalid escape '\\${e}'`);
      }
      chunk = pos;
    }
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = Object.assign(Object.create(null) as Record<string, number>, {
  n: 10,
  t: 9,
  r: 13,
  a: 7,
  b: 8,
  f: 12,
  v: 11,
  '\\': 92,
  "'": 39,
  '"': 34,
  '?': 63,
});

/** An integer literal (decimal, 0x… or 0o…): a number when safe, else a bigint. */
function integer(literal: string): number | bigint {
  const n = Number(literal);
  return Number.isSafeInteger(n) ? n : BigInt(literal);
}

/** Adds a field: a second occurrence (or a list) makes the field an array, in order. */
function add(out: TextProtoMessage, name: string, value: TextProtoValue, isList: boolean): void {
  if (!Object.hasOwn(out, name)) {
    // Defined, not assigned: a field named __proto__ must not set the prototype.
    Object.defineProperty(out, name, { value, writable: true, enumerable: true, configurable: true });
    return;
  }
  const existing = out[name] as TextProtoValue;
  const items = Array.isArray(existing) ? existing : [existing];
  if (isList) for (const item of value as TextProtoValue[]) items.push(item);
  else items.push(value);
  out[name] = items;
}
