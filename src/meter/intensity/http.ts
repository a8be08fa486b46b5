/**
 * The one HTTP GET the live providers share: JSON in, EcomlErrors out, each marked retryable or not
 * so the resilience wrapper knows what is worth another try.
 *   401/403        → E_CONFIG_INVALID naming the provider and how to fix the credentials (never retried)
 *   400/404/422    → E_CONFIG_INVALID: the provider refused the location (or the base URL is wrong)
 *   429, 5xx       → E_DOWNLOAD_FAILED, retryable, with Retry-After when sent
 *   network errors → E_DOWNLOAD_FAILED, retryable
 *   a non-JSON body→ E_DATA_MALFORMED (never retried: the same body would come back)
 * @module
 */

import { EcomlError } from '../../errors.js';

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface HttpContext {
  readonly provider: string;
  /** How to fix rejected credentials, e.g. 'set ELECTRICITYMAPS_TOKEN (or the token option)'. */
  readonly credentialHint: string;
  readonly fetch: FetchLike;
  /** Wall-clock milliseconds, to turn an HTTP-date Retry-After into a delay. */
  readonly now: () => number;
}

export interface GetJsonOptions {
  /** What is asked for, for messages: 'zone "FR"'. */
  readonly subject: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** What every error thrown here carries in `details`. */
export interface HttpErrorDetails {
  readonly provider: string;
  readonly url: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
}

export async function getJson(ctx: HttpContext, url: URL, options: GetJsonOptions): Promise<unknown> {
  const where = `${ctx.provider}: GET ${url.origin}${url.pathname} for ${options.subject}`;
  const details = (extra: Partial<HttpErrorDetails> & { retryable: boolean }): HttpErrorDetails => ({ provider: ctx.provider, url: url.href, ...extra });
  let response: Response;
  try {
    response = await ctx.fetch(url, { headers: { accept: 'application/json', ...options.headers }, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    throw new EcomlError('E_DOWNLOAD_FAILED', `${where} failed: ${describeError(error)}`, { details: { ...details({ retryable: true }) }, cause: error });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new EcomlError('E_DOWNLOAD_FAILED', `${where}: the body could not be read: ${describeError(error)}`, {
      details: { ...details({ status: response.status, retryable: true }) },
      cause: error,
    });
  }
  if (!response.ok) throw statusError(ctx, where, response, text, details);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new EcomlError('E_DATA_MALFORMED', `${where}: the body is not JSON: ${snippet(text)}`, {
      details: { ...details({ status: response.status, retryable: false }) },
    });
  }
}

function statusError(
  ctx: HttpContext,
  where: string,
  response: Response,
  text: string,
  details: (extra: Partial<HttpErrorDetails> & { retryable: boolean }) => HttpErrorDetails,
): EcomlError {
  const { status } = response;
  const said = bodyMessage(text);
  const http = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status === 401 || status === 403) {
    return new EcomlError('E_CONFIG_INVALID', `${where}: ${ctx.provider} rejected the credentials (${http}); ${ctx.credentialHint}`, {
      details: { ...details({ status, retryable: false }) },
    });
  }
  if (status === 400 || status === 404 || status === 422) {
    return new EcomlError('E_CONFIG_INVALID', `${where}: ${ctx.provider} refused the request (${http}); check the location and the base URL`, {
      details: { ...details({ status, retryable: false }) },
    });
  }
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), ctx.now());
    return new EcomlError('E_DOWNLOAD_FAILED', `${where}: ${status === 429 ? 'rate limited' : 'server error'} (${http})`, {
      details: { ...details({ status, retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }) },
    });
  }
  return new EcomlError('E_DOWNLOAD_FAILED', `${where}: unexpected ${http}`, { details: { ...details({ status, retryable: false }) } });
}

/** Retry-After as a delay in ms: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  const trimmed = value?.trim();
  if (!trimmed) return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/** The error text APIs put in JSON bodies ({error, message} or {error: {message}}), else the start of the body. */
function bodyMessage(text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    if (body !== null && typeof body === 'object') {
      const { error, message } = body as { error?: unknown; message?: unknown };
      const nested = error !== null && typeof error === 'object' ? (error as { message?: unknown }).message : undefined;
      const parts = [error, message, nested].filter((part): part is string => typeof part === 'string' && part !== '');
      if (parts.length > 0) return snippet(parts.join(': '));
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return snippet(text);
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty body)';
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
