/**
 * Where the queue lives: `redis://[[user]:password@]host:port[/db]` parsed into connection options, and
 * one bounded probe so that an unreachable Redis is reported at once rather than retried forever.
 * @module
 */
import { Redis } from 'ioredis';
import { EcomlError } from '../../errors.js';

export interface QueueTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** Parses a queue URL; anything but redis://host:port[/db] (with optional credentials) is E_CONFIG_INVALID. */
export function parseQueueUrl(url: string): QueueTarget {
  const invalid = (reason: string): EcomlError =>
    new EcomlError('E_CONFIG_INVALID', `invalid queue URL "${redact(url)}": ${reason}; expected redis://host:port[/db]`, { details: { url: redact(url) } });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('not a URL');
  }
  if (parsed.protocol !== 'redis:') throw invalid(`the scheme must be redis:, not ${parsed.protocol}`);
  if (parsed.hostname === '') throw invalid('no host');
  if (parsed.port === '') throw invalid('no port');
  if (parsed.search !== '' || parsed.hash !== '') throw invalid('no query or fragment is taken');
  const dbText = parsed.pathname.replace(/^\//, '');
  if (!/^\d*$/.test(dbText)) throw invalid(`the database must be a number, not "${dbText}"`);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(parsed.port),
    db: dbText === '' ? 0 : Number(dbText),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
  };
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*:)[^@/]*@/, '//$1***@');
}

function describeTarget(target: QueueTarget): string {
  return `${target.host}:${target.port}/${target.db}`;
}

/** The options both ioredis and BullMQ take (their own option types differ in fields not used here). */
export interface RedisConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly connectTimeout: number;
  readonly username?: string;
  readonly password?: string;
}

export function redisOptions(target: QueueTarget, connectTimeoutMs: number): RedisConnectionOptions {
  return {
    host: target.host,
    port: target.port,
    db: target.db,
    connectTimeout: connectTimeoutMs,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
  };
}

/**
 * Connects once, without retries, and pings: BullMQ's own connections retry forever (right for a
 * long study that outlives a Redis restart, wrong for a typo in --queue).
 */
export async function probeRedis(target: QueueTarget, connectTimeoutMs: number): Promise<void> {
  const client = new Redis({
    ...redisOptions(target, connectTimeoutMs),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Without retries connect() rejects only with "Connection is closed"; the cause (ECONNREFUSED,
  // ETIMEDOUT, a refused password) is what ioredis emitted before that.
  let cause: unknown;
  client.on('error', (error: unknown) => {
    cause = error;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const reported = cause ?? error;
    const reason = reported instanceof Error ? reported.message : String(reported);
    throw new EcomlError('E_QUEUE_UNAVAILABLE', `cannot reach the queue's Redis at ${describeTarget(target)}: ${reason}`, {
      details: { host: target.host, port: target.port, db: target.db },
      cause: reported,
    });
  } finally {
    client.disconnect();
  }
}
