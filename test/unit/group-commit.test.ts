/** The SQS listeners' group commit (src/sources/sqs_listener/group-commit.ts), on a fake transaction. */
import { GroupCommit } from '../../src/sources/sqs_listener/group-commit';

/** A commit function whose transactions end when the test says, and which records what each held. */
function fakeTransactions() {
  const held: string[][] = [];
  const ends: Array<(fail?: Error) => void> = [];
  const commit = (batches: string[]) =>
    new Promise<number>((resolve, reject) => {
      held.push(batches);
      ends.push((fail) => (fail ? reject(fail) : resolve(held.length)));
    });
  const flush = () => new Promise((r) => setImmediate(r));
  return { held, ends, commit, flush };
}

test('a batch alone commits at once; batches arriving during a commit go into the next one together', async () => {
  const t = fakeTransactions();
  const g = new GroupCommit(t.commit);
  const a = g.add('a');
  await t.flush();
  expect(t.held).toEqual([['a']]);
  const b = g.add('b');
  const c = g.add('c');
  const d = g.add('d');
  await t.flush();
  expect(t.held).toEqual([['a']]); // b, c and d wait for a's transaction
  t.ends[0]();
  expect(await a).toEqual({ result: 1, first: true });
  await t.flush();
  expect(t.held).toEqual([['a'], ['b', 'c', 'd']]);
  t.ends[1]();
  // The transaction's result reaches every batch in it; only its first counts it.
  expect(await Promise.all([b, c, d])).toEqual([
    { result: 2, first: true },
    { result: 2, first: false },
    { result: 2, first: false },
  ]);
  // Idle again: the next batch commits alone, at once.
  const e = g.add('e');
  await t.flush();
  expect(t.held.at(-1)).toEqual(['e']);
  t.ends[2]();
  expect(await e).toEqual({ result: 3, first: true });
});

test('a failed transaction fails every batch in it, and the batches after it still commit', async () => {
  const t = fakeTransactions();
  const g = new GroupCommit(t.commit);
  const a = g.add('a');
  await t.flush();
  const b = g.add('b');
  const c = g.add('c');
  t.ends[0](new Error('deadlock'));
  await expect(a).rejects.toThrow('deadlock');
  await t.flush();
  expect(t.held).toEqual([['a'], ['b', 'c']]);
  const d = g.add('d'); // arrives while b and c's transaction runs
  t.ends[1](new Error('lost connection'));
  await expect(b).rejects.toThrow('lost connection');
  await expect(c).rejects.toThrow('lost connection');
  await t.flush();
  expect(t.held.at(-1)).toEqual(['d']);
  t.ends[2]();
  expect(await d).toEqual({ result: 3, first: true });
});
