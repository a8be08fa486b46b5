import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/cli.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI in process, in `cwd`, with output captured and no environment but what is given. */
export async function cli(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, isTTY: false, env, cwd });
  return {
    code,
    stdout: stdout.text,
    stderr: stderr.text,
    json<T>() {
      const lines = stdout.text.trim().split('\n');
      if (lines.length !== 1) throw new Error(`expected one JSON line on stdout, got ${lines.length}:\n${stdout.text}`);
      return JSON.parse(lines[0] as string) as T;
    },
  };
}

export async function tempDir(prefix = 'ecoml-cli-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A spec the onnx engine cannot compile (1-D average pooling whose "same" padding pads), written into `dir`. */
export async function unsupportedSpec(dir: string): Promise<string> {
  const path = join(dir, 'pool1d.yaml');
  await writeFile(
    path,
    ['name: pool1d', 'model:', '  input: [28, 28, 1]', '  layers:', '    - { type: reshape, targetShape: [28, 28] }', '    - { type: averagePooling1d, poolSize: 3, padding: same }', '    - { type: flatten }', '    - { type: dense, units: 10, activation: softmax }'].join('\n'),
  );
  return path;
}
