/**
 * The documentation's relative links lead somewhere: every relative link
 * `[text](path)` in README.md, deploy/README.md and docs/*.md, and every
 * page named as a relative path in code (`../x/y.md`), names a file or
 * directory inside the repository.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/repo.js';

const DOCS = ['README.md', 'deploy/README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Relative link targets of a Markdown text, without their #fragment; code blocks left out. */
function relativeTargets(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```$/gm, '');
  const links = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  // A page named in code (`../x/y.md`) is a link too; other code paths may be files the reader creates.
  const codePaths = [...prose.matchAll(/`(\.{1,2}\/[^`\s]+\.md)`/g)].map((m) => m[1]!);
  return [...links, ...codePaths]
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#'))
    .map((target) => target.replace(/#.*$/, ''))
    .filter((target) => target !== '');
}

test('the docs the check reads exist', () => {
  assert.ok(DOCS.includes('docs/unikernels.md') && DOCS.length >= 5, DOCS.join(', '));
});

test('every relative link in README.md and docs/*.md resolves to a file in the repository', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const doc of DOCS) {
    const text = readFileSync(join(REPO_ROOT, doc), 'utf8');
    for (const target of relativeTargets(text)) {
      checked++;
      const path = resolve(REPO_ROOT, dirname(doc), decodeURI(target));
      const inside = relative(REPO_ROOT, path);
      if (inside.startsWith(`..${sep}`) || inside === '..') broken.push(`${doc}: ${target} is outside the repository`);
      else if (!existsSync(path)) broken.push(`${doc}: ${target} does not exist`);
    }
  }
  assert.ok(checked > 10, `links found: ${checked}`);
  assert.deepEqual(broken, []);
});
