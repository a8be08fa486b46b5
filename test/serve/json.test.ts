import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { parseWireJson, stringifyWireJson, type WireJson } from '../../src/serve/json.js';

/** Appended inside an array, this 16-digit string forces the hand-written parser without changing the value. */
const SLOW = '"1234567890123456"';
const forceSlow = (text: string): string => `[${text},${SLOW}]`;

/** Our value with bigints as the doubles JSON.parse would have rounded them to. */
function rounded(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(rounded);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: rounded(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** Every bigint in `v` is outside ±(2^53−1), and every integer literal there would have been one. */
function bigintsAreBig(v: unknown): boolean {
  if (typeof v === 'bigint') return v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER);
  if (Array.isArray(v)) return v.every(bigintsAreBig);
  if (typeof v === 'object' && v !== null) return Object.values(v).every(bigintsAreBig);
  return true;
}

type Outcome = { ok: true; value: unknown } | { ok: false; position: number | undefined; error: unknown };

function native(text: string): Outcome {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = (error as Error).message;
    const at = /at position (\d+)/.exec(message);
    // V8 reports "Unexpected end of JSON input" without a position: that position is the end.
    const position = at ? Number(at[1]) : /Unexpected end of JSON input/.test(message) ? text.length : undefined;
    return { ok: false, position, error };
  }
}

function ours(text: string, options?: { extended?: boolean; maxDepth?: number }): Outcome {
  try {
    return { ok: true, value: parseWireJson(text, options) };
  } catch (error) {
    return { ok: false, position: error instanceof EcomlError ? (error.details['position'] as number) : undefined, error };
  }
}

/** Ours accepts exactly when JSON.parse does, to the same value (big integers aside) or at the same error position. */
function expectSameAsNative(text: string, options?: { extended?: boolean }): void {
  const a = ours(text, { maxDepth: 1000, ...options });
  const b = native(text);
  expect(a.ok, `${JSON.stringify(text)}: ours ${a.ok ? 'accepts' : `rejects (${String((a as { error: unknown }).error)})`}`).toBe(b.ok);
  if (a.ok && b.ok) {
    expect(rounded(a.value)).toEqual(b.value);
    expect(bigintsAreBig(a.value)).toBe(true);
  } else if (!a.ok) {
    expect(a.error).toBeInstanceOf(EcomlError);
    expect((a.error as EcomlError).code).toBe('E_REQUEST_INVALID');
    expect((a.error as EcomlError).message).toMatch(/^malformed JSON at position \d+: \S/);
    // Extended, a partial token ("-Inf…", "Na…") fails where it stops matching, not at its start.
    const samePosition = options?.extended !== true || !/[IN]/.test(text);
    if (b.ok === false && b.position !== undefined && samePosition) expect(a.position, JSON.stringify(text)).toBe(b.position);
  }
}

function rejects(text: string, options?: { extended?: boolean; maxDepth?: number }): EcomlError {
  try {
    parseWireJson(text, options);
  } catch (error) {
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).code).toBe('E_REQUEST_INVALID');
    return error as EcomlError;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

/** Valid JSON text, sometimes pretty-printed, with mutations that make most of it invalid. */
const mutatedJson = fc
  .tuple(
    fc.jsonValue({ maxDepth: 4 }),
    fc.boolean(),
    fc.array(
      fc.tuple(
        fc.constantFrom('truncate', 'insert', 'delete', 'replace'),
        fc.nat(),
        fc.constantFrom(...'[]{}",:. -+eE0123456789\\/ntfu\t\n\r\u0000\u001fx\u2028\ud800'.split(''), 'true', 'null', '"a"', '01', '1.', '.5', '1e', ',]', '\\u12'),
      ),
      { maxLength: 3 },
    ),
  )
  .map(([value, pretty, edits]) => {
    let text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
    for (const [op, at, piece] of edits) {
      const i = text.length === 0 ? 0 : at % (text.length + 1);
      if (op === 'truncate') text = text.slice(0, i);
      else if (op === 'insert') text = text.slice(0, i) + piece + text.slice(i);
      else if (op === 'delete') text = text.slice(0, i) + text.slice(i + 1);
      else text = text.slice(0, i) + piece + text.slice(i + 1);
    }
    return text;
  });

/** Long arrays of numbers (so the bulk path runs) with other elements and garbage spliced in. */
const numberArrayText = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 8, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)) },
        { weight: 4, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
        { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
        { weight: 1, arbitrary: fc.constantFrom('NaN', 'Infinity', '-Infinity', '"s"', '[1,2]', '{"a":1}', 'null', '1e400', '-0', '0.0000001', '1E+2') },
      ),
      { minLength: 0, maxLength: 120 },
    ),
    fc.constantFrom(',', ', ', ' ,\n '),
    fc.option(fc.tuple(fc.nat(), fc.constantFrom('', ',', ',,', '01', '1.', '-', 'x', ']', '[', ' 1'))),
  )
  .map(([items, sep, garbage]) => {
    let text = `[${items.join(sep)}]`;
    if (garbage) {
      const i = 1 + (garbage[0] % Math.max(1, text.length - 1));
      text = text.slice(0, i) + garbage[1] + text.slice(i);
    }
    return text;
  });

describe('parseWireJson agrees with JSON.parse', () => {
  it('on any JSON value, via the fast path and the hand-written parser', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, pretty) => {
        const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
        expect(rounded(parseWireJson(text, { maxDepth: 1000 }))).toEqual(JSON.parse(text));
        expect(rounded(parseWireJson(forceSlow(text), { maxDepth: 1000 }))).toEqual([JSON.parse(text), '1234567890123456']);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts exactly the strings JSON.parse accepts, with the same value or error position', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), mutatedJson), (text) => {
        expectSameAsNative(text);
        expectSameAsNative(forceSlow(text));
        if (!/NaN|Infinity/.test(text)) {
          expectSameAsNative(text, { extended: true });
          expectSameAsNative(forceSlow(text), { extended: true });
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads long runs of numbers in bulk without changing what is accepted or produced', () => {
    fc.assert(
      fc.property(numberArrayText, (text) => {
        expectSameAsNative(text);
        if (!/NaN|Infinity/.test(text)) {
          expectSameAsNative(text, { extended: true });
          return;
        }
        // With the extended tokens: same as JSON.parse once they are spelled as numbers JSON can carry.
        const a = ours(text, { extended: true });
        const spelled = text.replace(/(?<=^|[[,\s])(-?)Infinity(?=$|[\],\s])/g, '$11e999').replace(/(?<=^|[[,\s])NaN(?=$|[\],\s])/g, '"NaN"');
        const b = native(spelled);
        expect(a.ok).toBe(b.ok);
        if (a.ok && b.ok) {
          const nan = (v: unknown): unknown => (Array.isArray(v) ? v.map(nan) : v === 'NaN' ? Number.NaN : v);
          expect(rounded(a.value)).toEqual(nan(b.value));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseWireJson fast path', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('hands the whole text to JSON.parse unless it could hold a big integer or (extended) a non-finite token', () => {
    const parse = vi.spyOn(JSON, 'parse');
    const wholeText = (text: string, options?: { extended?: boolean }) => {
      parse.mockClear();
      try {
        parseWireJson(text, options);
      } catch {
        // only which parser ran matters here
      }
      return parse.mock.calls.some(([arg]) => arg === text);
    };
    // Float64 printed in full: 16+ digit fractions, and long mantissas with a fraction or an exponent.
    expect(wholeText('[0.12345678901234567, 1.2345678901234567e-7, -0.9999999999999999, 1234567890123456.5, 12345678901234567e3]')).toBe(true);
    expect(wholeText('[NaN]')).toBe(true); // not extended: JSON.parse rejects it, we re-parse for the position
    expect(wholeText('[1234567890123456]')).toBe(false);
    expect(wholeText('[-1234567890123456789]')).toBe(false);
    expect(wholeText('{"id":"12345678901234567"}')).toBe(false);
    expect(wholeText('[1, NaN]', { extended: true })).toBe(false);
    expect(wholeText('["Infinity"]', { extended: true })).toBe(false);
    expect(wholeText('[1.5, 2]', { extended: true })).toBe(true);
  });
});

describe('parseWireJson numbers', () => {
  it('returns integers beyond ±(2^53−1) as exact bigints, on either path', () => {
    fc.assert(
      fc.property(fc.oneof(fc.bigInt({ min: 2n ** 53n, max: 2n ** 130n }), fc.bigInt({ min: -(2n ** 130n), max: -(2n ** 53n) })), (n) => {
        expect(parseWireJson(String(n))).toBe(n);
        expect(parseWireJson(`{"v":[1.5,${n}]}`)).toEqual({ v: [1.5, n] });
        expect(parseWireJson(`[NaN,${n}]`, { extended: true })).toEqual([Number.NaN, n]);
      }),
    );
    expect(parseWireJson('9007199254740993')).toBe(9007199254740993n);
    expect(parseWireJson('9007199254740992')).toBe(9007199254740992n);
    expect(parseWireJson('-9007199254740992')).toBe(-9007199254740992n);
    expect(parseWireJson('[-18446744073709551615]')).toEqual([-18446744073709551615n]);
    expect(parseWireJson('100000000000000000000')).toBe(100000000000000000000n);
  });

  it('keeps safe integers, fractions and exponent forms as numbers, as JSON.parse does', () => {
    expect(parseWireJson('9007199254740991')).toBe(9007199254740991);
    expect(parseWireJson('-9007199254740991')).toBe(-9007199254740991);
    expect(parseWireJson('1000000000000000')).toBe(1e15);
    expect(parseWireJson('[1000000000000000, "pad 12345678901234567"]')).toEqual([1e15, 'pad 12345678901234567']);
    expect(parseWireJson('1e20')).toBe(1e20);
    // Long mantissas with an exponent or a fraction are numbers, rounded as Number() rounds them.
    for (const text of ['12345678901234567890e0', '12345678901234567.5', '0.12345678901234567890', '-98765432109876543210.0']) {
      expect(parseWireJson(text)).toBe(Number(text));
    }
    for (const text of ['1e400', '-1e400', '1e-400', '2.5E+3', '0.000001', '123.456e-7', '-0.0']) {
      expect(parseWireJson(text)).toBe(JSON.parse(text));
      expect(parseWireJson(`[${text},${SLOW}]`)).toEqual([JSON.parse(text), '1234567890123456']);
    }
    expect(parseWireJson('1e400')).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps -0, on either path', () => {
    expect(Object.is(parseWireJson('-0'), -0)).toBe(true);
    const [slow] = parseWireJson(forceSlow('-0')) as number[];
    expect(Object.is(slow, -0)).toBe(true);
    const [bulk] = parseWireJson(forceSlow(`[${['-0', ...Array<string>(40).fill('1')].join(',')}]`)) as number[][];
    expect(Object.is(bulk?.[0], -0)).toBe(true);
  });

  it('matches Number() on every double, element by element and in bulk', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 30 }), (xs) => {
        const text = JSON.stringify(xs);
        const viaSlow = parseWireJson(forceSlow(text)) as [number[], string];
        expect(rounded(viaSlow[0])).toEqual(JSON.parse(text));
        for (const x of xs) {
          const literal = JSON.stringify(x);
          expect(rounded(parseWireJson(forceSlow(literal)))).toEqual([Number(literal), '1234567890123456']);
        }
      }),
    );
  });

  it('reads NaN, Infinity and -Infinity only when extended, and no other spellings', () => {
    expect(parseWireJson('[NaN, Infinity, -Infinity, 1]', { extended: true })).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1]);
    expect(parseWireJson('{"a":NaN}', { extended: true })).toEqual({ a: Number.NaN });
    // A string holding the token forces the slow path, and stays a string.
    expect(parseWireJson('["NaN", "Infinity"]', { extended: true })).toEqual(['NaN', 'Infinity']);
    expect(rejects('[NaN]').message).toBe('malformed JSON at position 1: expected a value (NaN and Infinity are not JSON numbers)');
    expect(rejects('Infinity').details['position']).toBe(0);
    expect(rejects('-Infinity').details['position']).toBe(1);
    for (const text of ['+Infinity', 'nan', '-NaN', 'Inf', 'NaNa', 'infinity', '[Infinityx]']) rejects(text, { extended: true });
    expect(rejects('[1, Infinit]', { extended: true }).details['position']).toBe(11);
  });
});

describe('parseWireJson errors', () => {
  it('says where and what was expected', () => {
    const cases: ReadonlyArray<readonly [string, number, RegExp]> = [
      ['', 0, /end of input, expected a value/],
      ['[1,]', 3, /expected a value/],
      ['{"a":1,}', 7, /property name/],
      ['[01]', 2, /expected ',' or ']'/],
      ['"\\x"', 2, /escape/],
      ['"ab', 3, /unterminated string/],
      ['"a\\u12"', 6, /4 hex digits/],
      ['[1 2]', 3, /expected ',' or ']'/],
      ['{"a" 1}', 5, /expected ':'/],
      ['{a:1}', 1, /double-quoted property name/],
      ['"a\nb"', 2, /control character U\+000A/],
      ['[-]', 2, /digit after the minus sign/],
      ['1.', 2, /digit after the decimal point/],
      ['1e', 2, /digit in the exponent/],
      ['[1]x', 3, /unexpected data after the JSON value/],
      ['tru', 3, /end of input/],
      ["{'a':1}", 1, /double-quoted/],
      ['[1] // comment', 4, /unexpected data/],
      ['\ufeff1', 0, /expected a value/],
    ];
    for (const [text, position, what] of cases) {
      for (const t of [text, `${' '.repeat(3)}${text}`]) {
        const shift = t.length - text.length;
        const error = rejects(t);
        expect(error.message, JSON.stringify(t)).toMatch(new RegExp(`^malformed JSON at position ${position + shift}: `));
        expect(error.message).toMatch(what);
        expect(error.details).toEqual({ position: position + shift });
      }
    }
  });

  it('reports the same position when the error follows a long run of numbers', () => {
    const run = Array.from({ length: 50 }, (_, i) => i * 1.5).join(',');
    const text = `[${run},01]`;
    const expected = native(text);
    expect(expected.ok).toBe(false);
    expect(rejects(text).details['position']).toBe(expected.ok ? -1 : expected.position);
    expect(rejects(text).details['position']).toBe(run.length + 3);
    expect(rejects(`[${run},1 2]`).details['position']).toBe(run.length + 4);
    expect(rejects(`[${run},NaN]`).details['position']).toBe(run.length + 2);
  });
});

describe('parseWireJson depth limit', () => {
  const nested = (levels: number, inner = '1') => '['.repeat(levels) + inner + ']'.repeat(levels);
  const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);

  it('allows 64 levels and refuses 65, on both paths, with the position of the 65th bracket', () => {
    for (const inner of ['1', '12345678901234567890']) {
      expect(parseWireJson(nested(64, inner))).toBeDefined();
      const error = rejects(nested(65, inner));
      expect(error.message).toBe('JSON nested deeper than 64 levels');
      expect(error.details).toEqual({ position: 64, maxDepth: 64 });
    }
    expect(parseWireJson(nestedObjects(64))).toBeDefined();
    expect(rejects(nestedObjects(65)).details).toEqual({ position: 64 * 5, maxDepth: 64 });
  });

  it('honours maxDepth, and counts depth, not brackets', () => {
    expect(rejects('[[1]]', { maxDepth: 1 }).message).toBe('JSON nested deeper than 1 levels');
    expect(rejects('[]', { maxDepth: 0 }).details['position']).toBe(0);
    expect(parseWireJson('1', { maxDepth: 0 })).toBe(1);
    // Many brackets, none deep, some inside strings: fine on both paths.
    const wide = `[${Array<string>(200).fill('[{"a":[]}]').join(',')},"[[[[[[[["]`;
    expect((parseWireJson(wide, { maxDepth: 4 }) as unknown[]).length).toBe(201);
    expect((parseWireJson(forceSlow(wide), { maxDepth: 5 }) as unknown[]).length).toBe(2);
    expect(rejects(wide, { maxDepth: 3 }).details['position']).toBe(7);
    // Deep enough to break a naive recursive parser's stack: refused, not crashed.
    expect(rejects(nested(200_000)).message).toBe('JSON nested deeper than 64 levels');
    expect(rejects(nested(200_000, '12345678901234567890')).message).toBe('JSON nested deeper than 64 levels');
    expect(() => parseWireJson('1', { maxDepth: -1 })).toThrow(RangeError);
    expect(() => parseWireJson('1', { maxDepth: 1.5 })).toThrow(RangeError);
  });
});

describe('parseWireJson objects', () => {
  it('makes "__proto__" an own data property, never the prototype, on both paths', () => {
    for (const text of ['{"__proto__": {"polluted": true}, "b": 1}', '{"__proto__": {"polluted": 12345678901234567890}, "b": 1}']) {
      const value = parseWireJson(text) as { [key: string]: WireJson };
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.hasOwn(value, '__proto__')).toBe(true);
      expect(Object.keys(value)).toEqual(['__proto__', 'b']);
      expect(value['polluted']).toBeUndefined();
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    }
  });

  it('lets the last duplicate key win, in the first key’s place', () => {
    for (const text of ['{"a":1,"b":2,"a":3}', '{"a":1,"b":12345678901234567890,"a":3}']) {
      const value = parseWireJson(text) as Record<string, unknown>;
      expect(Object.keys(value)).toEqual(['a', 'b']);
      expect(value['a']).toBe(3);
    }
  });

  it('decodes every escape and keeps lone surrogates, as JSON.parse does', () => {
    const text = '"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\ud800x\\uDFFF"';
    expect(parseWireJson(text)).toBe(JSON.parse(text));
    expect(parseWireJson(forceSlow(text))).toEqual([JSON.parse(text), '1234567890123456']);
    expect(parseWireJson('"\ud800"')).toBe('\ud800');
  });
});

describe('parseWireJson scales linearly', () => {
  it('big integers, bulk failures and NaN between runs do not make it quadratic', () => {
    const n = 100_000;
    const started = performance.now();
    const bigints = `[${Array.from({ length: n }, (_, i) => `${9007199254740993n + BigInt(i)}`).join(',')}]`;
    expect((parseWireJson(bigints) as bigint[])[n - 1]).toBe(9007199254740993n + BigInt(n - 1));
    const alternating = `[${Array.from({ length: n }, (_, i) => (i % 50 === 0 ? 'NaN' : String(i))).join(',')}]`;
    expect((parseWireJson(alternating, { extended: true }) as number[]).length).toBe(n);
    const badAtEnd = `[${Array.from({ length: n }, (_, i) => String(i)).join(',')},,1]`;
    expect(rejects(badAtEnd).details['position']).toBe(badAtEnd.length - 3);
    const badAtEndSlow = `[${Array.from({ length: n }, (_, i) => String(i)).join(',')},NaN,,1]`;
    expect(rejects(badAtEndSlow, { extended: true }).details['position']).toBe(badAtEndSlow.length - 3);
    // Linear work is tens of milliseconds here; quadratic would be minutes.
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

/** A WireJson value with the extras: NaN, ±Infinity, -0 and bigints past the safe range. */
const wireValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.double(),
    fc.oneof(fc.bigInt({ min: 2n ** 53n, max: 2n ** 100n }), fc.bigInt({ min: -(2n ** 100n), max: -(2n ** 53n) })),
    fc.integer(),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/**
 * What a value reads back as: -0 is written "0", and an integer double past 2^53 is written as the
 * digits of its shortest round-trip form (as JSON.stringify does), which read back as that bigint.
 */
function expectedRoundTrip(v: unknown): unknown {
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return 0;
    if (Number.isInteger(v) && Math.abs(v) > Number.MAX_SAFE_INTEGER && Math.abs(v) < 1e21) return BigInt(String(v));
    return v;
  }
  if (Array.isArray(v)) return v.map(expectedRoundTrip);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: expectedRoundTrip(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** What non-extended output reads back as: non-finite numbers were written as null. */
function withoutNonFinite(v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  if (Array.isArray(v)) return v.map(withoutNonFinite);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: withoutNonFinite(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

describe('stringifyWireJson', () => {
  it('round-trips NaN, ±Infinity and big integers through parseWireJson when extended', () => {
    fc.assert(
      fc.property(wireValue, (value) => {
        const text = stringifyWireJson(value, { extended: true });
        expect(parseWireJson(text, { extended: true, maxDepth: 1000 })).toEqual(expectedRoundTrip(value));
        const plain = stringifyWireJson(value);
        expect(parseWireJson(plain, { maxDepth: 1000 })).toEqual(expectedRoundTrip(withoutNonFinite(value)));
      }),
      { numRuns: 1000 },
    );
  });

  it('writes exactly what JSON.stringify writes when there is nothing special, and around a bigint or NaN', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const json = JSON.stringify(value);
        expect(stringifyWireJson(value)).toBe(json);
        expect(stringifyWireJson(value, { extended: true })).toBe(json);
        // The bigint forces our own writer over the whole value; NaN (extended) over every part with a null.
        expect(stringifyWireJson([value, 12n])).toBe(`[${json},12]`);
        expect(stringifyWireJson({ v: value, n: [NaN] }, { extended: true })).toBe(`{"v":${json},"n":[NaN]}`);
        expect(stringifyWireJson({ v: value, n: [NaN] })).toBe(`{"v":${json},"n":[null]}`);
      }),
      { numRuns: 500 },
    );
  });

  it('writes bigints as digits and non-finite numbers as tokens (extended) or null', () => {
    expect(stringifyWireJson([1, 9007199254740993n, -(2n ** 64n)])).toBe('[1,9007199254740993,-18446744073709551616]');
    expect(stringifyWireJson({ a: [NaN, Infinity, -Infinity, 1.5, -0] }, { extended: true })).toBe('{"a":[NaN,Infinity,-Infinity,1.5,0]}');
    expect(stringifyWireJson({ a: [NaN, Infinity, -Infinity, 1.5, -0] })).toBe('{"a":[null,null,null,1.5,0]}');
    expect(stringifyWireJson([NaN, 1n, null, 'null', [Infinity]], { extended: true })).toBe('[NaN,1,null,"null",[Infinity]]');
    // Our own writer (forced by the bigint) writes null too when not extended.
    expect(stringifyWireJson([NaN, 1n, new Number(Infinity)])).toBe('[null,1,null]');
    expect(stringifyWireJson([NaN, 1n, new Number(Infinity)], { extended: true })).toBe('[NaN,1,Infinity]');
    expect(stringifyWireJson(NaN, { extended: true })).toBe('NaN');
    expect(stringifyWireJson(-Infinity)).toBe('null');
    expect(stringifyWireJson(5n)).toBe('5');
  });

  it('keeps JSON.stringify’s semantics in its own writer: toJSON, boxed values, omitted members, cycles', () => {
    const date = new Date(0);
    const value = {
      big: 1n,
      date,
      custom: { toJSON: (key: string) => `key=${key}` },
      boxed: [Object(2n) as unknown, new Number(NaN), new String('s'), new Boolean(false)],
      dropped: undefined,
      fn: () => 1,
      sym: Symbol('x'),
      inArray: [undefined, () => 1, Symbol('y')],
      sparse: [1, , 3], // eslint-disable-line no-sparse-arrays
      nested: { deeper: [{ x: 2n ** 70n }] },
    };
    expect(stringifyWireJson(value, { extended: true })).toBe(
      `{"big":1,"date":${JSON.stringify(date)},"custom":"key=custom","boxed":[2,NaN,"s",false],"inArray":[null,null,null],"sparse":[1,null,3],"nested":{"deeper":[{"x":1180591620717411303424}]}}`,
    );
    const cyclic: Record<string, unknown> = { n: 1n };
    cyclic['self'] = { back: cyclic };
    expect(() => stringifyWireJson(cyclic)).toThrow(TypeError);
    expect(() => stringifyWireJson([NaN, { a: [cyclic] }], { extended: true })).toThrow(TypeError);
    // Shared (not cyclic) references are fine, as in JSON.stringify.
    const shared = [1n];
    expect(stringifyWireJson({ a: shared, b: shared })).toBe('{"a":[1],"b":[1]}');
    expect(() => stringifyWireJson(undefined)).toThrow(TypeError);
    expect(() => stringifyWireJson(() => 1)).toThrow(TypeError);
  });
});
