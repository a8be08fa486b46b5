/**
 * The one error catalogue. Every failure the product reports carries a stable code from this table;
 * the HTTP status and CLI exit code are derived here and nowhere else. Codes are never reused:
 * retire one by leaving it in place with `retired: true`.
 * @module
 */

interface CatalogueEntry {
  readonly httpStatus: number;
  readonly exitCode: number;
  readonly summary: string;
}

export const ERROR_CATALOGUE = Object.freeze({
  E_CONFIG_INVALID: { httpStatus: 400, exitCode: 2, summary: 'A flag, option or configuration value is invalid.' },
  E_SPEC_INVALID: { httpStatus: 400, exitCode: 2, summary: 'A model or tuning spec does not validate.' },
  E_UNKNOWN_NAME: { httpStatus: 400, exitCode: 2, summary: 'A name (layer, optimizer, loss, sampler, command…) is not in its registry.' },
  E_SHAPE_MISMATCH: { httpStatus: 400, exitCode: 3, summary: "The data's shape or classes do not fit the model." },
  E_FILE_NOT_FOUND: { httpStatus: 404, exitCode: 4, summary: 'A file or directory named on input does not exist.' },
  E_DATA_MALFORMED: { httpStatus: 422, exitCode: 5, summary: 'An input data file is malformed.' },
  E_DOWNLOAD_FAILED: { httpStatus: 502, exitCode: 10, summary: 'A download failed: HTTP error, refused connection or timeout.' },
  E_MODEL_NOT_FOUND: { httpStatus: 404, exitCode: 4, summary: 'No saved model at the given path.' },
  E_MODEL_CORRUPT: { httpStatus: 422, exitCode: 5, summary: 'A saved model is incomplete or fails its content hashes.' },
  E_RUN_NOT_FOUND: { httpStatus: 404, exitCode: 4, summary: 'No run or trial with that id in the run store.' },
  E_STORE_FAILED: { httpStatus: 500, exitCode: 7, summary: 'The run store could not be opened or written.' },
  E_METER_UNAVAILABLE: { httpStatus: 503, exitCode: 6, summary: 'No energy source could be read.' },
  E_ENGINE_FAILED: { httpStatus: 500, exitCode: 8, summary: 'The training/inference engine failed.' },
  E_DEVICE_UNAVAILABLE: { httpStatus: 503, exitCode: 11, summary: 'The requested compute device (e.g. --device cuda or webgpu) or its runtime provider is not available.' },
  E_TUNE_EXHAUSTED: { httpStatus: 409, exitCode: 9, summary: 'The search space has no untried values left.' },
  E_INTERRUPTED: { httpStatus: 499, exitCode: 130, summary: 'The work was interrupted by a signal.' },
  E_PATH_INVALID: { httpStatus: 400, exitCode: 12, summary: 'A path cannot be used as given: the wrong kind (a file where a directory is needed, or the reverse), a symbolic link loop or dangling link, or a place where nothing can be created (/proc, /sys).' },
  E_PERMISSION_DENIED: { httpStatus: 403, exitCode: 13, summary: 'A file or directory may not be read or written: permission denied, or a read-only file system.' },
  E_NO_SPACE: { httpStatus: 507, exitCode: 14, summary: 'A write failed for lack of space: the device is full or the disk quota is used up.' },
  E_RUN_LOCKED: { httpStatus: 409, exitCode: 15, summary: 'The run is being worked on by another live process (e.g. a second --resume of it).' },
  E_REQUEST_INVALID: { httpStatus: 400, exitCode: 16, summary: 'A request to the model server is malformed: JSON, tensor datatype, shape, size or binary layout.' },
  E_UNAUTHORIZED: { httpStatus: 401, exitCode: 17, summary: 'The model server needs a valid bearer token (ecoml serve --auth-token).' },
  E_PAYLOAD_TOO_LARGE: { httpStatus: 413, exitCode: 16, summary: "A request body is larger than the model server's limit (--max-body-size)." },
  E_MODEL_UNAVAILABLE: { httpStatus: 503, exitCode: 18, summary: 'The model (or version) exists but cannot serve now: loading, failed to load, or unloaded.' },
  E_OVERLOADED: { httpStatus: 503, exitCode: 18, summary: "The model server cannot take the request now: the model's queue is full, the memory budget is spent, or the server is draining." },
  E_TIMEOUT: { httpStatus: 504, exitCode: 19, summary: 'A request was not answered within its timeout.' },
  E_SERVER_UNREACHABLE: { httpStatus: 502, exitCode: 20, summary: 'The model server could not be reached, or answered with something other than its protocol.' },
  E_ACCURACY_GUARD: { httpStatus: 422, exitCode: 21, summary: 'Compression loses more accuracy than --max-accuracy-drop allows even with its most sensitive layers kept in float; nothing was written.' },
  E_QUEUE_UNAVAILABLE: { httpStatus: 503, exitCode: 22, summary: "The distributed trials' queue (a Redis server, --queue redis://host:port) cannot be reached." },
  E_INTERNAL: { httpStatus: 500, exitCode: 1, summary: 'An unexpected internal error (a bug): please report it.' },
} as const satisfies Record<string, CatalogueEntry>);

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class EcomlError extends Error {
  readonly code: ErrorCode;
  /** Structured context (file, position, valid names…) for JSON output. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EcomlError';
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].httpStatus;
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exitCode;
  }

  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isEcomlError(value: unknown): value is EcomlError {
  return value instanceof EcomlError;
}

/** Wraps anything thrown into an EcomlError, keeping ours as they are. */
export function toEcomlError(value: unknown): EcomlError {
  if (value instanceof EcomlError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new EcomlError('E_INTERNAL', message, { cause: value });
}

/**
 * Looks `name` up in a registry that is plain data; a miss throws E_UNKNOWN_NAME listing the valid names.
 */
export function lookup<T>(registry: Readonly<Record<string, T>>, name: string, what: string): T {
  if (Object.hasOwn(registry, name)) return registry[name] as T;
  const valid = Object.keys(registry).sort();
  throw new EcomlError('E_UNKNOWN_NAME', `unknown ${what} "${name}"; valid: ${valid.join(', ')}`, {
    details: { what, name, valid },
  });
}
