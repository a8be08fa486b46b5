/**
 * The CLI entry point: the only place that ends the process.
 * @module
 */
import { runCli } from './cli.js';

const controller = new AbortController();
const onSignal = (): void => controller.abort();
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const code = await runCli(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, isTTY: process.stderr.isTTY === true, env: process.env, cwd: process.cwd() },
  controller.signal,
);
// Native handles (wasm, sqlite, timers) may keep the loop alive: the entry point decides when we are done.
process.exit(code);
