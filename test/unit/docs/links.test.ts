import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/services.js';

// The operator's guide links its pages to each other and to files of the repository; a renamed
// page, file or heading must not leave a dead link behind.

const PAGES = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).map((name) => `docs/${name}`)].filter(
  (page) => page.endsWith('.md'),
);

/** GitHub's anchor for a heading: lower case, punctuation but _ and - dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_ -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsIn(text: string): Set<string> {
  const withoutCode = text.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((match) => anchorOf(match[1]!)));
}

/** Relative links of a page, outside code blocks and code spans. */
function linksIn(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1]!)
    .filter((target) => !/^[a-z]+:/i.test(target));
}

describe('links in README.md and docs/', () => {
  it('lead to files and headings that exist', () => {
    const dead: string[] = [];
    for (const page of PAGES) {
      const text = readFileSync(join(REPO_ROOT, page), 'utf8');
      for (const link of linksIn(text)) {
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path ? join(dirname(join(REPO_ROOT, page)), path) : join(REPO_ROOT, page);
        if (!existsSync(target)) dead.push(`${page}: ${link} (no ${relative(REPO_ROOT, target)})`);
        else if (anchor && target.endsWith('.md') && !anchorsIn(readFileSync(target, 'utf8')).has(anchor))
          dead.push(`${page}: ${link} (no such heading)`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('finds a dead link when there is one', () => {
    expect(linksIn('see [x](missing.md#here) and `[y](z.md)`')).toEqual(['missing.md#here']);
    expect(anchorsIn('## Exit codes (the guide’s restore table)\n')).toContain(
      'exit-codes-the-guides-restore-table',
    );
  });
});
