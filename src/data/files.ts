/**
 * Reading input files with the catalogue's errors instead of raw fs errors.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fsError } from '../util/fs.js';

/** Reads a whole file; a missing path is E_FILE_NOT_FOUND, a directory or a link loop E_PATH_INVALID (see fsError). */
export function readInputFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw fsError(err, 'input file', file);
  }
}
