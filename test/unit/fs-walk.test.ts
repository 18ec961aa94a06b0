/** The fs scanner's walk order and where a resumed pass goes on (src/sources/fs/activities.ts). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walkSorted } from '../../src/sources/fs/activities';

let root: string;

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'clp-walk-'));
  // Names that sort differently as whole paths ('a-b/1' < 'a/1') and segment by segment.
  for (const rel of ['a/1', 'a/x/2', 'a/x/3', 'a-b/4', 'a.log', 'b/5', 'b/c/d/6', 'z']) {
    mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    writeFileSync(path.join(root, rel), rel);
  }
  mkdirSync(path.join(root, 'empty'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function walk(after: string[] | null = null): Promise<string[]> {
  const out: string[] = [];
  for await (const f of walkSorted(root, after)) {
    expect(f.full).toBe(path.join(root, ...f.rel));
    out.push(f.rel.join('/'));
  }
  return out;
}

test('files come in segment-wise sorted order, depth first', async () => {
  expect(await walk()).toEqual(['a/1', 'a/x/2', 'a/x/3', 'a-b/4', 'a.log', 'b/5', 'b/c/d/6', 'z']);
});

test('a pass resumed after any file yields exactly the files after it', async () => {
  const all = await walk();
  for (let i = 0; i < all.length; i++) {
    expect(await walk(all[i]!.split('/'))).toEqual(all.slice(i + 1));
  }
});

test('a cursor whose file is gone, or whose directory became a file, still resumes in order', async () => {
  expect(await walk(['a', 'x', '2x'])).toEqual(['a/x/3', 'a-b/4', 'a.log', 'b/5', 'b/c/d/6', 'z']);
  expect(await walk(['a.log', 'inner'])).toEqual(['b/5', 'b/c/d/6', 'z']); // 'a.log' sorts before a.log/inner
  expect(await walk(['b', 'c'])).toEqual(['b/c/d/6', 'z']); // a directory named as the cursor's file: after it
  expect(await walk(['zz'])).toEqual([]);
  expect(await walk(['0'])).toEqual(await walk());
});
