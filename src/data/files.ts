/**
 * Reading input files with the catalogue's errors instead of raw fs errors.
 * @module
 */
import { readFileSync } from 'node:fs';
import { EcomlError } from '../errors.js';

/** Reads a whole file; a missing path is E_FILE_NOT_FOUND, a directory E_DATA_MALFORMED. */
export function readInputFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new EcomlError('E_FILE_NOT_FOUND', `file not found: ${file}`, { details: { file }, cause: err });
    }
    if (code === 'EISDIR') {
      throw new EcomlError('E_DATA_MALFORMED', `expected a file but "${file}" is a directory`, { details: { file }, cause: err });
    }
    throw err;
  }
}
