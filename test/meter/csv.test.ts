import { describe, expect, it } from 'vitest';
import { parseCsvTable } from '../../src/meter/csv.js';

describe('data table CSV reader', () => {
  it('skips comments and blank lines and honours quoted fields', () => {
    const text = '# source: somewhere\nName,TDP\r\n"Intel EP80579 Integrated, 1066 MHz",18.0\n\n"Say ""hi""",1\n';
    expect(parseCsvTable(text, ['Name', 'TDP'], 't.csv')).toEqual([
      { line: 3, fields: { Name: 'Intel EP80579 Integrated, 1066 MHz', TDP: '18.0' } },
      { line: 5, fields: { Name: 'Say "hi"', TDP: '1' } },
    ]);
  });

  it.each([
    ['Name,TDP\n"open,1\n', /t\.csv:2: unterminated quoted field/],
    ['Name,TDP\na,1,2\n', /t\.csv:2: expected 2 fields, found 3/],
    ['Model,TDP\n', /t\.csv:1: header lacks column\(s\) Name/],
    ['# only a comment\n', /no header row/],
  ])('rejects %j as E_DATA_MALFORMED', (text, message) => {
    expect(() => parseCsvTable(text, ['Name', 'TDP'], 't.csv')).toThrow(expect.objectContaining({ code: 'E_DATA_MALFORMED', message: expect.stringMatching(message) }));
  });
});
