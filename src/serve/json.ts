/**
 * JSON for the inference wire formats. TF Serving's REST API speaks "extended JSON" (bare `NaN`,
 * `Infinity`, `-Infinity` are numbers) and the Open Inference Protocol carries INT64/UINT64 values
 * past 2^53 that `JSON.parse` would silently round. Bodies can be megabytes of numbers, so the
 * common case stays on native `JSON.parse`; only text that could hold a big integer or a
 * non-finite token goes through the hand-written parser below, which keeps JSON.parse's grammar,
 * error positions and object semantics exactly.
 * @module
 */

import { EcomlError } from '../errors.js';

/** A parsed JSON value; integers outside ±(2^53−1) come back as bigint, so no precision is lost. */
export type WireJson = null | boolean | number | bigint | string | WireJson[] | { [key: string]: WireJson };

export interface ParseWireJsonOptions {
  /** Accept bare NaN, Infinity and -Infinity as numbers (TF Serving's REST API). Default false. */
  readonly extended?: boolean;
  /** Most levels of nested arrays/objects allowed (`[]` is one level). Default 64. */
  readonly maxDepth?: number;
}

export interface StringifyWireJsonOptions {
  /** Write non-finite numbers as NaN / Infinity / -Infinity instead of null. Default false. */
  readonly extended?: boolean;
}

const DEFAULT_MAX_DEPTH = 64;
/** The recursive parser uses one stack frame per level; past this the stack itself is at risk. */
const MAX_DEPTH_LIMIT = 4096;
/** Shorter runs of numbers are parsed element by element: a native call has its own overhead. */
const MIN_NUMBER_RUN = 64;

/**
 * An integer literal (not after '.', not followed by a fraction or exponent) of 16+ digits: only
 * such a literal can exceed 2^53−1 = 9007199254740991. Fractions of 16+ digits (every float64
 * printed in full) do not trigger it, so float tensors stay on the fast path. Matches inside
 * strings are harmless false positives: they only cost the slower parser.
 */
const BIG_INTEGER_CANDIDATE = /(?:^|[^\d.])\d{16,}(?![\d.eE])/;
const BIG_INTEGER_CANDIDATE_G = new RegExp(BIG_INTEGER_CANDIDATE.source, 'g');
/** The first character that cannot be part of a run of numbers; scanning by regex is ~3× a JS loop. */
const NUMBER_RUN_END = /[^0-9.eE+\-, \t\n\r]/g;

/**
 * Parses `text` (a whole request body) like JSON.parse, except that integer literals beyond
 * Number.MAX_SAFE_INTEGER in magnitude come back as bigint and, with `extended`, NaN, Infinity and
 * -Infinity are numbers. Throws E_REQUEST_INVALID `malformed JSON at position N: …` (N a 0-based
 * UTF-16 offset, the same position V8's JSON.parse reports) or `JSON nested deeper than D levels`.
 */
export function parseWireJson(text: string, options: ParseWireJsonOptions = {}): WireJson {
  const extended = options.extended === true;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new RangeError(`maxDepth must be an integer in [0, ${MAX_DEPTH_LIMIT}], got ${maxDepth}`);
  }
  const needsSlowPath = BIG_INTEGER_CANDIDATE.test(text) || (extended && (text.includes('NaN') || text.includes('Infinity')));
  if (!needsSlowPath) {
    let value: WireJson;
    try {
      value = JSON.parse(text) as WireJson;
    } catch {
      // Re-parse for our message and position; the grammars are the same, so this throws.
      return new Parser(text, extended, maxDepth).parse();
    }
    // Too deep needs more than maxDepth brackets; counting them is a memchr-speed scan, and only
    // then is the parsed value walked (the walk stops at maxDepth + 1 levels).
    if (countUpTo(text, '[', '{', maxDepth + 1) > maxDepth && deeperThan(value, maxDepth)) {
      return new Parser(text, extended, maxDepth).parse(); // throws, with the position
    }
    return value;
  }
  return new Parser(text, extended, maxDepth).parse();
}

/** How many of `a` and `b` occur in `text`, counting no further than `limit`. */
function countUpTo(text: string, a: string, b: string, limit: number): number {
  let n = 0;
  for (const ch of [a, b]) {
    for (let i = text.indexOf(ch); i !== -1 && n < limit; i = text.indexOf(ch, i + 1)) n++;
  }
  return n;
}

/** True when `value` nests arrays/objects more than `levels` deep. Recursion is bounded by `levels`. */
function deeperThan(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item === 'object' && item !== null && deeperThan(item, levels - 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && deeperThan(item, levels - 1)) return true;
  }
  return false;
}

// Character codes the parser branches on.
const TAB = 9;
const LF = 10;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const UPPER_E = 69;
const UPPER_I = 73;
const UPPER_N = 78;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LOWER_E = 101;
const LOWER_F = 102;
const LOWER_N = 110;
const LOWER_T = 116;
const LBRACE = 123;
const RBRACE = 125;

/** 10^0 … 10^15, all exact doubles. */
const POWERS_OF_TEN: readonly number[] = Array.from({ length: 16 }, (_, k) => 10 ** k);

const SIMPLE_ESCAPES: Readonly<Record<number, string>> = {
  [QUOTE]: '"',
  [BACKSLASH]: '\\',
  47: '/',
  98: '\b',
  [LOWER_F]: '\f',
  [LOWER_N]: '\n',
  114: '\r',
  [LOWER_T]: '\t',
};

/** The recursive-descent parser: JSON.parse's grammar, plus big integers and (opt-in) non-finite tokens. */
class Parser {
  private pos = 0;
  /** Where the run of number characters numberRun last scanned ends. */
  private runEnd = -1;
  /** Where the next possible big integer starts (its leading non-digit), once searched for. */
  private candidateAt = -1;
  /** Bulk parsing failed before here: the elements up to it go one by one. */
  private noBulkBefore = -1;

  constructor(
    private readonly text: string,
    private readonly extended: boolean,
    private readonly maxDepth: number,
  ) {}

  parse(): WireJson {
    const value = this.value(0);
    this.skipWhitespace();
    if (this.pos < this.text.length) this.fail(this.pos, 'unexpected data after the JSON value');
    return value;
  }

  private fail(position: number, expected: string): never {
    throw new EcomlError('E_REQUEST_INVALID', `malformed JSON at position ${position}: ${expected}`, { details: { position } });
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === SPACE || c === LF || c === CR || c === TAB) pos++;
      else break;
    }
    this.pos = pos;
  }

  /** A value starting at or after `pos`; `depth` is how many containers enclose it. */
  private value(depth: number): WireJson {
    this.skipWhitespace();
    const c = this.text.charCodeAt(this.pos);
    if (c === QUOTE) return this.string();
    if ((c >= ZERO && c <= NINE) || c === MINUS) return this.number();
    if (c === LBRACKET) return this.array(depth + 1);
    if (c === LBRACE) return this.object(depth + 1);
    if (c === LOWER_T) return this.literal('true', true);
    if (c === LOWER_F) return this.literal('false', false);
    if (c === LOWER_N) return this.literal('null', null);
    if (this.extended && c === UPPER_N) return this.literal('NaN', Number.NaN);
    if (this.extended && c === UPPER_I) return this.literal('Infinity', Number.POSITIVE_INFINITY);
    if (Number.isNaN(c)) this.fail(this.pos, 'unexpected end of input, expected a value');
    const hint = !this.extended && (this.text.startsWith('NaN', this.pos) || this.text.startsWith('Infinity', this.pos)) ? ' (NaN and Infinity are not JSON numbers)' : '';
    return this.fail(this.pos, `expected a value${hint}`);
  }

  private literal<T extends WireJson>(word: string, value: T): T {
    const text = this.text;
    const start = this.pos;
    for (let i = 0; i < word.length; i++) {
      if (text.charCodeAt(start + i) !== word.charCodeAt(i)) {
        this.fail(start + i, start + i >= text.length ? `unexpected end of input in '${word}'` : `expected '${word}'`);
      }
    }
    this.pos = start + word.length;
    return value;
  }

  private number(): number | bigint {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    let c = text.charCodeAt(pos);
    if (c === MINUS) {
      c = text.charCodeAt(++pos);
      if (this.extended && c === UPPER_I) {
        this.pos = pos;
        return -this.literal('Infinity', Number.POSITIVE_INFINITY);
      }
    }
    // Digits are also summed into `mantissa`: while there are at most 15 of them it is exact, and
    // mantissa / 10^k (k ≤ 15) is then one correctly rounded division, the same double Number()
    // gives, without slicing a string.
    const intStart = pos;
    let mantissa = 0;
    if (c === ZERO) {
      c = text.charCodeAt(++pos);
    } else if (c >= ZERO + 1 && c <= NINE) {
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        c = text.charCodeAt(++pos);
      } while (c >= ZERO && c <= NINE);
    } else {
      this.fail(pos, 'expected a digit after the minus sign');
    }
    const intDigits = pos - intStart;
    let fractionDigits = 0;
    if (c === DOT) {
      c = text.charCodeAt(++pos);
      if (!(c >= ZERO && c <= NINE)) this.fail(pos, 'expected a digit after the decimal point');
      const fractionStart = pos;
      do {
        mantissa = mantissa * 10 + (c - ZERO);
        c = text.charCodeAt(++pos);
      } while (c >= ZERO && c <= NINE);
      fractionDigits = pos - fractionStart;
    }
    let exponent = false;
    if (c === LOWER_E || c === UPPER_E) {
      exponent = true;
      c = text.charCodeAt(++pos);
      if (c === PLUS || c === MINUS) c = text.charCodeAt(++pos);
      if (!(c >= ZERO && c <= NINE)) this.fail(pos, 'expected a digit in the exponent');
      do c = text.charCodeAt(++pos);
      while (c >= ZERO && c <= NINE);
    }
    this.pos = pos;
    if (!exponent && intDigits + fractionDigits <= 15) {
      const magnitude = fractionDigits === 0 ? mantissa : mantissa / (POWERS_OF_TEN[fractionDigits] as number);
      return text.charCodeAt(start) === MINUS ? -magnitude : magnitude;
    }
    const literal = text.slice(start, pos);
    const n = Number(literal);
    // 2^53 − 1 has 16 digits; rounding is monotone, so any literal past it rounds past it too.
    if (!exponent && fractionDigits === 0 && (n > Number.MAX_SAFE_INTEGER || n < -Number.MAX_SAFE_INTEGER)) return BigInt(literal);
    return n;
  }

  private string(): string {
    const text = this.text;
    const start = this.pos + 1;
    let pos = start;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === QUOTE) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (c === BACKSLASH) return this.escapedString(start, pos);
      if (c < SPACE) this.badCharacter(pos);
      if (Number.isNaN(c)) this.fail(pos, 'unterminated string');
      pos++;
    }
  }

  /** The rest of a string from the first backslash at `pos`; chunks between escapes are sliced whole. */
  private escapedString(start: number, pos: number): string {
    const text = this.text;
    let out = text.slice(start, pos);
    let chunk = pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === QUOTE) {
        this.pos = pos + 1;
        return out + text.slice(chunk, pos);
      }
      if (c === BACKSLASH) {
        out += text.slice(chunk, pos);
        const e = text.charCodeAt(pos + 1);
        const simple = SIMPLE_ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          pos += 2;
        } else if (e === 117 /* u */) {
          let code = 0;
          for (let i = pos + 2; i < pos + 6; i++) {
            const h = hexValue(text.charCodeAt(i));
            if (h < 0) this.fail(i, Number.isNaN(text.charCodeAt(i)) ? 'unterminated string' : 'expected 4 hex digits after \\u');
            code = code * 16 + h;
          }
          out += String.fromCharCode(code);
          pos += 6;
        } else {
          this.fail(pos + 1, Number.isNaN(e) ? 'unterminated string' : 'expected an escape character (one of "\\/bfnrtu) after \\');
        }
        chunk = pos;
        continue;
      }
      if (c < SPACE) this.badCharacter(pos);
      if (Number.isNaN(c)) this.fail(pos, 'unterminated string');
      pos++;
    }
  }

  private badCharacter(pos: number): never {
    const code = this.text.charCodeAt(pos).toString(16).padStart(4, '0').toUpperCase();
    return this.fail(pos, `control character U+${code} in a string (escape it)`);
  }

  private array(depth: number): WireJson[] {
    if (depth > this.maxDepth) this.tooDeep();
    const text = this.text;
    this.pos++;
    let out: WireJson[] = [];
    this.skipWhitespace();
    if (text.charCodeAt(this.pos) === RBRACKET) {
      this.pos++;
      return out;
    }
    for (;;) {
      const bulk = this.numberRun();
      if (bulk !== undefined) {
        out = out.length === 0 ? bulk : out.concat(bulk);
        if (text.charCodeAt(this.pos) === RBRACKET) {
          this.pos++;
          return out;
        }
        this.pos++; // the comma after the run
      }
      out.push(this.value(depth));
      this.skipWhitespace();
      const c = text.charCodeAt(this.pos);
      if (c === COMMA) {
        this.pos++;
      } else if (c === RBRACKET) {
        this.pos++;
        return out;
      } else {
        this.fail(this.pos, Number.isNaN(c) ? "unexpected end of input, expected ',' or ']'" : "expected ',' or ']' after an array element");
      }
    }
  }

  /**
   * Tensor bodies are mostly long runs of plain numbers, which native JSON.parse reads several times
   * faster than any JS loop. From an element start at `pos`, takes the run of characters that can
   * only form numbers, commas and whitespace, cut after its last complete element (at the closing
   * ']' or the last comma) or before the next possible big integer, and parses it natively. Returns
   * undefined (pos unchanged) when that is short or is not valid JSON: element-by-element parsing
   * then yields the bigint or the exact error. On success `pos` is at the ']' or ',' after the run.
   * Run ends and candidate positions are cached so that no character is scanned twice.
   */
  private numberRun(): number[] | undefined {
    const text = this.text;
    const start = this.pos;
    if (start < this.noBulkBefore) return undefined;
    if (start >= this.runEnd) {
      NUMBER_RUN_END.lastIndex = start;
      this.runEnd = NUMBER_RUN_END.test(text) ? NUMBER_RUN_END.lastIndex - 1 : text.length;
    }
    const runEnd = this.runEnd;
    let end = text.charCodeAt(runEnd) === RBRACKET ? runEnd : text.lastIndexOf(',', runEnd);
    if (end - start < MIN_NUMBER_RUN) return undefined;
    if (this.candidateAt < start) {
      // From the character before `start`, which the pattern's leading [^\d.] may need.
      BIG_INTEGER_CANDIDATE_G.lastIndex = start - 1;
      const found = BIG_INTEGER_CANDIDATE_G.exec(text);
      this.candidateAt = found === null ? Number.POSITIVE_INFINITY : found.index;
    }
    if (this.candidateAt < end) {
      end = text.lastIndexOf(',', this.candidateAt);
      if (end - start < MIN_NUMBER_RUN) return undefined;
    }
    let values: unknown;
    try {
      values = JSON.parse(`[${text.slice(start, end)}]`);
    } catch {
      this.noBulkBefore = runEnd;
      return undefined;
    }
    this.pos = end;
    return values as number[];
  }

  private object(depth: number): { [key: string]: WireJson } {
    if (depth > this.maxDepth) this.tooDeep();
    const text = this.text;
    this.pos++;
    const out: { [key: string]: WireJson } = {};
    this.skipWhitespace();
    if (text.charCodeAt(this.pos) === RBRACE) {
      this.pos++;
      return out;
    }
    for (;;) {
      if (text.charCodeAt(this.pos) !== QUOTE) {
        this.fail(this.pos, this.pos >= text.length ? 'unexpected end of input, expected a property name' : 'expected a double-quoted property name');
      }
      const key = this.string();
      this.skipWhitespace();
      if (text.charCodeAt(this.pos) !== COLON) {
        this.fail(this.pos, this.pos >= text.length ? "unexpected end of input, expected ':'" : "expected ':' after a property name");
      }
      this.pos++;
      const value = this.value(depth);
      // JSON.parse makes "__proto__" an own data property; assigning it would set the prototype.
      if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      else out[key] = value;
      this.skipWhitespace();
      const c = text.charCodeAt(this.pos);
      if (c === COMMA) {
        this.pos++;
        this.skipWhitespace();
      } else if (c === RBRACE) {
        this.pos++;
        return out;
      } else {
        this.fail(this.pos, Number.isNaN(c) ? "unexpected end of input, expected ',' or '}'" : "expected ',' or '}' after a property value");
      }
    }
  }

  private tooDeep(): never {
    throw new EcomlError('E_REQUEST_INVALID', `JSON nested deeper than ${this.maxDepth} levels`, {
      details: { position: this.pos, maxDepth: this.maxDepth },
    });
  }
}

function hexValue(c: number): number {
  if (c >= ZERO && c <= NINE) return c - ZERO;
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/**
 * Serializes like JSON.stringify (no spaces; toJSON, boxed primitives, dropped undefined/function/
 * symbol properties and circular-structure TypeErrors included), except that bigint is written as
 * its decimal digits and, with `extended`, non-finite numbers as NaN / Infinity / -Infinity (else
 * null, as JSON.stringify writes them).
 * Native JSON.stringify runs first: it throws on a bigint, and a non-finite number can only show up
 * in its output as `null`, so only when it throws, or (extended) its output holds "null", is the
 * value written by our own writer, which again hands each nested array/object to native first.
 * Getters (and toJSON methods above a bigint) may then run more than once.
 * Note: an integer-valued double past 2^53 and below 1e21 (e.g. 2**60) is printed as digits, as
 * JSON.stringify does, so parseWireJson reads it back as a bigint (whose Number() is that double).
 * Callers that need a float back (FP32/FP64 tensors) must convert by datatype.
 * Throws TypeError when `value` itself serializes to nothing (undefined, a function, a symbol).
 */
export function stringifyWireJson(value: WireJson | unknown, options: StringifyWireJsonOptions = {}): string {
  const extended = options.extended === true;
  let out: string | undefined;
  try {
    out = JSON.stringify(value) as string | undefined;
  } catch {
    // A bigint (or a cycle, or a throwing toJSON: the writer throws those again).
    out = new Writer(extended).write(value, '', false);
  }
  if (out !== undefined && extended && out.includes('null')) out = new Writer(extended).write(value, '', false);
  if (out === undefined) throw new TypeError(`a ${typeof value} cannot be serialized as JSON`);
  return out;
}

/** JSON.stringify's SerializeJSONProperty, with bigint digits and the extended number tokens. */
class Writer {
  /** Containers being written, to refuse cycles as JSON.stringify does. */
  private readonly open = new Set<object>();

  constructor(private readonly extended: boolean) {}

  /**
   * The JSON text of `value` (held under `key`), or undefined where JSON.stringify would omit it.
   * Containers without toJSON are first handed to native JSON.stringify (`nativeFirst`), which is
   * several times faster; only the subtrees holding a bigint or (extended) a null are written here.
   */
  write(value: unknown, key: string, nativeFirst = true): string | undefined {
    if (typeof value === 'object' && value !== null) {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        value = (toJSON as (key: string) => unknown).call(value, key);
        nativeFirst = false; // JSON.stringify would call the result's own toJSON too
      }
    }
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value);
      case 'number':
        return this.number(value);
      case 'bigint':
        return value.toString();
      case 'boolean':
        return value ? 'true' : 'false';
      case 'object':
        if (value === null) return 'null';
        if (value instanceof Number) return this.number(value.valueOf());
        if (value instanceof String) return JSON.stringify(value.valueOf());
        if (value instanceof Boolean) return value.valueOf() ? 'true' : 'false';
        if (value instanceof BigInt) return value.valueOf().toString();
        return Array.isArray(value) ? this.array(value as unknown[], nativeFirst) : this.object(value, nativeFirst);
      default:
        return undefined;
    }
  }

  /** JSON.stringify's text when it is also ours: nothing threw (a bigint) and, extended, no null. */
  private native(value: object): string | undefined {
    let text: string | undefined;
    try {
      text = JSON.stringify(value) as string | undefined;
    } catch {
      return undefined;
    }
    return this.extended && text !== undefined && text.includes('null') ? undefined : text;
  }

  private number(n: number): string {
    if (Number.isFinite(n)) return String(n);
    if (!this.extended) return 'null';
    return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  }

  private enter(container: object): void {
    if (this.open.has(container)) throw new TypeError('Converting circular structure to JSON');
    this.open.add(container);
  }

  private array(items: readonly unknown[], nativeFirst: boolean): string {
    const n = items.length;
    let numbers = true;
    for (let i = 0; i < n; i++) {
      if (typeof items[i] !== 'number') {
        numbers = false;
        break;
      }
    }
    if (numbers) {
      // All plain numbers (holes fail typeof): native output, whose nulls are exactly the
      // non-finite numbers, in order.
      const text = JSON.stringify(items);
      if (!this.extended || !text.includes('null')) return text;
      const tokens: string[] = [];
      for (let i = 0; i < n; i++) {
        const x = items[i] as number;
        if (!Number.isFinite(x)) tokens.push(this.number(x));
      }
      let k = 0;
      return text.replace(/null/g, () => tokens[k++] ?? 'null');
    }
    const native = nativeFirst ? this.native(items) : undefined;
    if (native !== undefined) return native;
    this.enter(items);
    let out = '[';
    for (let i = 0; i < n; i++) {
      if (i > 0) out += ',';
      const item = items[i];
      // Tensor data (bigints and numbers) skips the general path.
      if (typeof item === 'bigint') out += item.toString();
      else if (typeof item === 'number') out += this.number(item);
      else out += this.write(item, String(i)) ?? 'null';
    }
    this.open.delete(items);
    return out + ']';
  }

  private object(value: object, nativeFirst: boolean): string {
    const native = nativeFirst ? this.native(value) : undefined;
    if (native !== undefined) return native;
    this.enter(value);
    let out = '{';
    let first = true;
    for (const key of Object.keys(value)) {
      const item = this.write((value as Record<string, unknown>)[key], key);
      if (item === undefined) continue;
      out += first ? `${JSON.stringify(key)}:${item}` : `,${JSON.stringify(key)}:${item}`;
      first = false;
    }
    this.open.delete(value);
    return out + '}';
  }
}
