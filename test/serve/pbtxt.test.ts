import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { parseTextProto, type TextProtoMessage, type TextProtoValue } from '../../src/serve/pbtxt.js';

const TRITON = `name: "densenet"
platform: "onnxruntime_onnx"
max_batch_size: 8
version_policy: { latest: { num_versions: 2 } }
input [ { name: "x" data_type: TYPE_FP32 dims: [ 28, 28, 1 ] } ]
output [ { name: "probs", data_type: TYPE_FP32, dims: [ 10 ] } ]
dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 100 }
instance_group [ { count: 2 kind: KIND_CPU } ]
parameters: { key: "foo" value: { string_value: "bar" } }
# comments run to end of line
`;

function fails(text: string, source?: string): EcomlError {
  try {
    parseTextProto(text, source === undefined ? undefined : { source });
  } catch (error) {
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).code).toBe('E_CONFIG_INVALID');
    return error as EcomlError;
  }
  throw new Error(`${JSON.stringify(text)} parsed`);
}

/** An object with these fields, defined (not assigned) so that a field named __proto__ stays a field. */
function message(entries: ReadonlyArray<readonly [string, TextProtoValue]>): TextProtoMessage {
  const out: TextProtoMessage = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

describe('parseTextProto', () => {
  it('parses a Triton config.pbtxt to plain objects', () => {
    expect(parseTextProto(TRITON)).toEqual({
      name: 'densenet',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      version_policy: { latest: { num_versions: 2 } },
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [28, 28, 1] }],
      output: [{ name: 'probs', data_type: 'TYPE_FP32', dims: [10] }],
      dynamic_batching: { preferred_batch_size: [4, 8], max_queue_delay_microseconds: 100 },
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      parameters: { key: 'foo', value: { string_value: 'bar' } },
    });
    expect(parseTextProto('')).toEqual({});
    expect(parseTextProto('  # only a comment')).toEqual({});
  });

  it('accepts every way of writing a message', () => {
    const expected = { m: { a: 1 } };
    for (const text of ['m { a: 1 }', 'm: { a: 1 }', 'm < a: 1 >', 'm: <a:1>', 'm{a:1}', 'm\n{\n  a: 1\n}\n']) expect(parseTextProto(text), text).toEqual(expected);
    expect(parseTextProto('m {} n: <>')).toEqual({ m: {}, n: {} });
  });

  it('makes repeated fields arrays: repeated names, lists, or both, in order', () => {
    expect(parseTextProto('d: 1 d: 2 d: 3')).toEqual({ d: [1, 2, 3] });
    expect(parseTextProto('d: [1, 2] d: 3 d: [4] d: []')).toEqual({ d: [1, 2, 3, 4] });
    expect(parseTextProto('d: 0 d: [1]')).toEqual({ d: [0, 1] });
    expect(parseTextProto('d: [7]')).toEqual({ d: [7] });
    expect(parseTextProto('d: []')).toEqual({ d: [] });
    expect(parseTextProto('d []')).toEqual({ d: [] });
    expect(parseTextProto('m { a: 1 } m { a: 2 }')).toEqual({ m: [{ a: 1 }, { a: 2 }] });
    expect(parseTextProto('m [ { a: 1 }, < a: 2 > ] m: [{}]')).toEqual({ m: [{ a: 1 }, { a: 2 }, {}] });
    expect(parseTextProto('m: { a: 1 } m [ { a: 2 } ]')).toEqual({ m: [{ a: 1 }, { a: 2 }] });
  });

  it('reads numbers: decimal, negative, hex, octal, floats, f suffix, inf and nan, big integers', () => {
    const v = parseTextProto(`
      a: 42 b: -7 c: 0x1F d: -0X10 e: 017 f: 0 g: 1.5 h: -2.5e-3 i: .5 j: 1. k: 1e3 l: 2.5f m: 3F n: 1E+2f
      o: inf p: -inf q: Infinity r: -INFINITY s: nan t: NaN u: -nan
      v: 9007199254740991 w: 9007199254740992 x: -9007199254740993 y: 0xFFFFFFFFFFFFFFFF z: 18446744073709551615
      zero: -0 negzero: -0.0 spaced: - 5`);
    expect(v).toEqual({
      a: 42, b: -7, c: 31, d: -16, e: 15, f: 0, g: 1.5, h: -2.5e-3, i: 0.5, j: 1, k: 1000, l: 2.5, m: 3, n: 100,
      o: Infinity, p: -Infinity, q: Infinity, r: -Infinity, s: NaN, t: NaN, u: NaN,
      v: 9007199254740991, w: 9007199254740992n, x: -9007199254740993n, y: 18446744073709551615n, z: 18446744073709551615n,
      zero: 0, negzero: -0, spaced: -5,
    });
    expect(Object.is(v['zero'], 0)).toBe(true);
    expect(Object.is(v['negzero'], -0)).toBe(true);
  });

  it('reads booleans, and any other identifier as an enum name string', () => {
    expect(parseTextProto('a: true b: True c: false d: False e: KIND_GPU f: t g: TRUE h: infinite i: nan_ok')).toEqual({
      a: true, b: true, c: false, d: false, e: 'KIND_GPU', f: 't', g: 'TRUE', h: 'infinite', i: 'nan_ok',
    });
  });

  it('reads strings: both quotes, C escapes, octal and hex bytes as UTF-8, adjacent literals joined', () => {
    const v = parseTextProto(String.raw`
      a: "x\ty\n\\\"\'\?\a\b\f\v\r" b: 'it''s' c: "\303\251\xC3\xA9\u00e9\U0001F600" d: "a" 'b' # comment between
      "c"
      e: "\303" "\251" f: "# not a comment" g: "😀 raw" h: "\0\12\101x" i: ""`);
    expect(v).toEqual({
      a: 'x\ty\n\\"\'?\u0007\b\f\v\r',
      b: 'its',
      c: 'ééé😀',
      d: 'abc',
      e: 'é', // one UTF-8 character split across two literals
      f: '# not a comment',
      g: '😀 raw',
      h: '\u0000\nAx',
      i: '',
    });
  });

  it('takes optional , or ; between fields and ignores comments anywhere between tokens', () => {
    expect(parseTextProto('a: 1, b: 2; c { d: 3; }, e: [1, # one\n 2] # end')).toEqual({ a: 1, b: 2, c: { d: 3 }, e: [1, 2] });
    expect(parseTextProto('a: FOO,b: BAR;c: 1')).toEqual({ a: 'FOO', b: 'BAR', c: 1 });
  });

  it('keeps fields named like Object.prototype members as plain own fields', () => {
    const v = parseTextProto('__proto__ { polluted: true } constructor: 1 toString: "x" hasOwnProperty: 2 hasOwnProperty: 3');
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    expect(v['__proto__']).toEqual({ polluted: true });
    expect(v['constructor']).toBe(1);
    expect(v['hasOwnProperty']).toEqual([2, 3]);
    expect((v as { polluted?: unknown }).polluted).toBeUndefined();
    expect(parseTextProto('__proto__: 1 __proto__: 2')['__proto__']).toEqual([1, 2]);
  });
});

describe('parseTextProto errors', () => {
  it('points at the line and column, naming the source', () => {
    const cases: ReadonlyArray<readonly [string, number, number, RegExp]> = [
      ['name: "densenet\nplatform: "x"', 1, 7, /unterminated string/],
      ["a: 'x", 1, 4, /unterminated string/],
      ['a {\n  b: 1\n', 3, 1, /expected '}' to close the message opened at 1:3, found end of input/],
      ['a <\n  b: 1\n}', 3, 1, /unexpected '}': the message opened at 1:3 closes with '>'/],
      ['a: 1\nb: @', 2, 4, /expected a value, found '@'/],
      ['a: 1\n  }', 2, 3, /unexpected '}': no message is open/],
      ['a 1', 1, 3, /expected ':' or '\{' after the field name 'a', found '1'/],
      ['a: [1, 2', 1, 9, /expected '\]' to close the list opened at 1:4/],
      ['a: [1 2]', 1, 7, /expected ',' or '\]' in a list, found '2'/],
      ['a: [1,]', 1, 7, /expected a value, found '\]'/],
      ['a: 1,, b: 2', 1, 6, /expected a field name, found ','/],
      ['a:', 1, 3, /expected a value, found end of input/],
      ['a: "\\q"', 1, 5, /invalid escape '\\q'/],
      ['a: "\\x"', 1, 5, /hex digits after \\x/],
      ['a: "\\777"', 1, 5, /more than a byte/],
      ['a: "\\uD800"', 1, 5, /not a Unicode scalar value/],
      ['a: "\\xff"', 1, 4, /not valid UTF-8/],
      ['a: 08', 1, 4, /invalid octal number '08'/],
      ['a: 12abc', 1, 6, /unexpected 'a' after the number '12'/],
      ['a: 1.5.3', 1, 7, /unexpected '\.' after the number '1.5'/],
      ['a: -FOO', 1, 4, /expected a number after '-', found 'FOO'/],
      ['[ext.field]: 1', 1, 1, /expected a field name, found '\['/],
      ['a { b { c: 1 }\n  d: 2', 2, 7, /expected '}' to close the message opened at 1:3/],
    ];
    for (const [text, line, column, what] of cases) {
      const error = fails(text);
      expect(error.message, JSON.stringify(text)).toMatch(new RegExp(`^config\\.pbtxt:${line}:${column}: `));
      expect(error.message, JSON.stringify(text)).toMatch(what);
      expect(error.details).toEqual({ source: 'config.pbtxt', line, column });
    }
    const named = fails('x {', 'models/densenet/config.pbtxt');
    expect(named.message).toMatch(/^models\/densenet\/config\.pbtxt:1:4: /);
    expect(named.details).toEqual({ source: 'models/densenet/config.pbtxt', line: 1, column: 4 });
  });

  it('refuses absurd nesting instead of overflowing the stack', () => {
    expect(parseTextProto('a {'.repeat(100) + '}'.repeat(100))).toBeDefined();
    expect(fails('a {'.repeat(100_000)).message).toMatch(/nested deeper than 100 levels/);
  });
});

// ---- Round trip: random messages, printed in random styles by a small printer, parse back unchanged.

const RESERVED = /^(?:true|True|false|False|inf|infinity|nan)$/i;
const identifier = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
const fieldName = fc.oneof({ weight: 9, arbitrary: identifier }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'true', 'inf', 'nan') });
const enumName = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/).filter((s) => !RESERVED.test(s));
const scalar: fc.Arbitrary<TextProtoValue> = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.constantFrom(...'ab"\'\\\n\t\u0000\u007f#?é😀'.match(/./gsu) as string[]) }),
  enumName,
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n }),
  fc.bigInt({ min: -(2n ** 64n), max: -(2n ** 53n) }),
  fc.double(),
  fc.boolean(),
);
const { msg } = fc.letrec<{ msg: TextProtoMessage; value: TextProtoValue }>((tie) => ({
  msg: fc
    .uniqueArray(fc.tuple(fieldName, tie('value')), { maxLength: 5, selector: ([k]) => k })
    .map((entries) => message(entries)),
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(scalar, { maxLength: 4 }),
    tie('msg'),
    fc.array(tie('msg'), { maxLength: 3 }),
  ),
}));

/** mulberry32: the printer's style choices, reproducible from the seed fast-check shrinks. */
function chooser(seed: number): <T>(options: readonly T[]) => T {
  let a = seed >>> 0;
  return <T>(options: readonly T[]): T => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return options[Math.floor(r * options.length)] as T;
  };
}

function printString(s: string, pick: ReturnType<typeof chooser>): string {
  const quote = pick(['"', "'"]);
  const asBytes = pick([false, true]);
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += pick(['\\n', '\\012', '\\x0a']);
    else if (code < 0x20 || code === 0x7f) out += `\\${code.toString(8).padStart(3, '0')}`;
    else if (code > 0x7f && asBytes) {
      // As UTF-8 bytes, sometimes splitting the literal in the middle of the character.
      for (const b of Buffer.from(ch, 'utf8')) out += pick([`\\${b.toString(8)}`, `\\x${b.toString(16)}`]) + pick(['', '', `${quote} ${quote}`]);
    } else if (code > 0x7f && pick([false, true])) out += code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
    if (pick([false, false, false, true])) out += `${quote}${pick([' ', '\n', ' # c\n'])}${quote}`;
  }
  return out + quote;
}

function printScalar(v: TextProtoValue, pick: ReturnType<typeof chooser>): string {
  if (typeof v === 'boolean') return v ? pick(['true', 'True']) : pick(['false', 'False']);
  if (typeof v === 'bigint') {
    const sign = v < 0n ? '-' : '';
    const abs = v < 0n ? -v : v;
    return sign + pick([abs.toString(), `0x${abs.toString(16)}`, `0${abs.toString(8)}`]);
  }
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return pick(['nan', 'NaN', '-nan']);
    if (v === Infinity) return pick(['inf', 'Infinity', 'INF']);
    if (v === -Infinity) return pick(['-inf', '-Infinity', '- inf']);
    if (Object.is(v, -0)) return pick(['-0.0', '-0e0', '-.0']);
    if (Number.isSafeInteger(v)) {
      const sign = v < 0 ? '-' : '';
      const abs = Math.abs(v);
      return sign + pick([String(abs), `0x${abs.toString(16)}`, abs === 0 ? '0' : `0${abs.toString(8)}`]);
    }
    // Integer-valued doubles past 2^53 print as digits, which would read back as a bigint.
    const text = Number.isInteger(v) && !String(v).includes('e') ? v.toExponential() : String(v);
    return text + pick(['', 'f']);
  }
  if (typeof v === 'string') return /^[A-Za-z_][A-Za-z0-9_]*$/.test(v) && !RESERVED.test(v) && pick([false, true]) ? v : printString(v, pick);
  throw new Error('not a scalar');
}

function printMessage(m: TextProtoMessage, pick: ReturnType<typeof chooser>): string {
  let out = '';
  for (const [name, value] of Object.entries(m)) {
    const fields: string[] = [];
    if (Array.isArray(value)) {
      if (value.length >= 2 && pick([false, true])) {
        for (const item of value) fields.push(printField(name, item, pick));
      } else {
        const items = value.map((item) => (typeof item === 'object' ? printNested(item as TextProtoMessage, pick) : printScalar(item, pick)));
        fields.push(`${name}${pick([': ', ':', ' ', ''])}[${pick(['', ' ', '\n'])}${items.join(pick([', ', ',', ' ,\n']))}${pick(['', ' '])}]`);
      }
    } else {
      fields.push(printField(name, value, pick));
    }
    for (const field of fields) out += field + pick([' ', '\n', ', ', ';', ' ; ', ' # comment\n', '\n\t']);
  }
  return out;
}

function printField(name: string, value: TextProtoValue, pick: ReturnType<typeof chooser>): string {
  if (typeof value === 'object' && !Array.isArray(value)) return `${name}${pick([' ', ': ', '', ':'])}${printNested(value, pick)}`;
  return `${name}: ${printScalar(value, pick)}`;
}

function printNested(m: TextProtoMessage, pick: ReturnType<typeof chooser>): string {
  const [open, close] = pick([['{', '}'], ['<', '>']] as const);
  return `${open}${pick(['', ' ', '\n'])}${printMessage(m, pick)}${close}`;
}

describe('parseTextProto round trip', () => {
  it('parses back whatever a text-format printer writes, in any style', () => {
    fc.assert(
      fc.property(msg, fc.integer(), (m, seed) => {
        const text = printMessage(m, chooser(seed));
        expect(parseTextProto(text), text).toEqual(m);
      }),
      { numRuns: 1000 },
    );
  });
});
