/*
 * test/api/docs-links - every relative link in README.md and docs/*.md leads somewhere in the
 * repository: the file or folder exists, and a `#fragment` into a Markdown page (or within the
 * page) names one of its headings, slugged as GitHub slugs them. Links in code blocks and code
 * spans are text, not links, and are left alone; http(s) and mailto links are not followed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** prose - the page without fenced code blocks and code spans (line count kept for messages). */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ''))
    .replace(/(`+)[^`\n][\s\S]*?\1/g, (span) => span.replace(/[^\n]/g, ''));
}

/** slug - GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*_]/g, '').trim().toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
}

/** anchors - the heading anchors of a page, with GitHub's -1, -2 for repeated headings. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading = ''] of prose(markdown).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

interface Link { page: string; line: number; target: string }

function links(page: string): Link[] {
  const text = prose(readFileSync(join(ROOT, page), 'utf8'));
  const found: Link[] = [];
  const lineOf = (index: number): number => text.slice(0, index).split('\n').length;
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ page, line: lineOf(m.index), target: m[1] ?? '' });
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) found.push({ page, line: lineOf(m.index), target: m[1] ?? '' });
  return found.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l.target));
}

/** problem - why the link leads nowhere, or undefined when it resolves. */
function problem(link: Link): string | undefined {
  const [pathPart = '', fragment] = link.target.split('#', 2);
  const file = pathPart === '' ? join(ROOT, link.page) : resolve(dirname(join(ROOT, link.page)), decodeURIComponent(pathPart));
  if (!file.startsWith(`${ROOT}/`)) return `${pathPart} is outside the repository`;
  if (!existsSync(file)) return `${relative(ROOT, file)} does not exist`;
  if (fragment === undefined || !file.endsWith('.md')) return undefined;
  const known = anchors(readFileSync(file, 'utf8'));
  return known.has(fragment.toLowerCase()) ? undefined : `${relative(ROOT, file)} has no heading #${fragment}`;
}

void test('every relative link in README.md and docs/*.md resolves to a file or folder of the repository (and heading)', () => {
  const all = PAGES.flatMap(links);
  assert.ok(all.length > 20, `relative links found: ${all.length}`);
  const broken = all.flatMap((l) => {
    const why = problem(l);
    return why ? [`${l.page}:${l.line}: (${l.target}): ${why}`] : [];
  });
  assert.deepEqual(broken, []);
});

void test('the checker itself: a missing file, a missing heading and a folder not in the repository are reported', () => {
  const page = 'docs/gitops.md';
  assert.match(problem({ page, line: 1, target: '../../reference/' }) ?? '', /outside the repository/);
  assert.match(problem({ page, line: 1, target: '../reference/' }) ?? '', /^reference does not exist/);
  assert.match(problem({ page, line: 1, target: 'no-such-page.md' }) ?? '', /docs\/no-such-page\.md does not exist/);
  assert.match(problem({ page, line: 1, target: 'contract.md#no-such-heading' }) ?? '', /has no heading #no-such-heading/);
  assert.equal(problem({ page, line: 1, target: 'contract.md#status-for-gitops-tools-kstatus' }), undefined);
  assert.equal(problem({ page, line: 1, target: '../examples/' }), undefined);
});
