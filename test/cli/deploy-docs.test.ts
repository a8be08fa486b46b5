import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { cli, tempDir } from './helpers.js';

const DOC = new URL('../../docs/deploy.md', import.meta.url);

/** The fenced blocks of one language in docs/deploy.md. */
async function blocks(language: string): Promise<string[]> {
  const text = await readFile(DOC, 'utf8');
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string);
}

describe('docs/deploy.md stays true to the CLI', () => {
  it("the KServe runtime's container args are flags ecoml serve accepts", async () => {
    const docs = (await blocks('yaml')).flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as { kind?: string; spec?: { containers?: { args?: string[] }[] } }));
    expect(docs.map((d) => d.kind)).toEqual(['ClusterServingRuntime', 'InferenceService']);
    const args = docs[0]?.spec?.containers?.[0]?.args ?? [];
    expect(args).toContain('--model-repository');
    const r = await cli(['serve', ...args, '--help'], await tempDir());
    expect(r.code, r.stderr).toBe(0);
  });

  it("the Dockerfile's entry point and command are flags ecoml serve accepts", async () => {
    const [dockerfile] = await blocks('dockerfile');
    const json = (keyword: string): string[] => JSON.parse(new RegExp(`^${keyword} (\\[.*\\])$`, 'm').exec(dockerfile ?? '')?.[1] ?? '[]') as string[];
    expect(json('ENTRYPOINT')).toEqual(['node', 'bin/ecoml.js', 'serve']);
    const r = await cli(['serve', ...json('CMD'), '--help'], await tempDir());
    expect(r.code, r.stderr).toBe(0);
  });
});
