/** A listener's deletes (src/sources/sqs_listener/delete-queue.ts): one in flight, never waited for by the next receive. */
import { DeleteQueue } from '../../src/sources/sqs_listener/delete-queue';

/** A delete that ends when the test says, and the log of what started and ended. */
function fakeDeletes() {
  const log: string[] = [];
  const ends = new Map<string, () => void>();
  const del = (name: string) => () =>
    new Promise<void>((resolve) => {
      log.push(`start ${name}`);
      ends.set(name, () => {
        log.push(`end ${name}`);
        resolve();
      });
    });
  const flush = () => new Promise((r) => setImmediate(r));
  return { log, ends, del, flush };
}

test('add returns once the delete has started, not when it ends', async () => {
  const t = fakeDeletes();
  const q = new DeleteQueue();
  await q.add(t.del('a'));
  expect(t.log).toEqual(['start a']);
});

test("the next batch's delete waits for the one in flight, and drain waits for the last", async () => {
  const t = fakeDeletes();
  const q = new DeleteQueue();
  await q.add(t.del('a'));
  let bAdded = false;
  const b = q.add(t.del('b')).then(() => (bAdded = true));
  await t.flush();
  expect(t.log).toEqual(['start a']);
  expect(bAdded).toBe(false);
  t.ends.get('a')!();
  await b;
  expect(t.log).toEqual(['start a', 'end a', 'start b']);
  let drained = false;
  const d = q.drain().then(() => (drained = true));
  await t.flush();
  expect(drained).toBe(false);
  t.ends.get('b')!();
  await d;
  expect(t.log).toEqual(['start a', 'end a', 'start b', 'end b']);
});

test('drain with nothing in flight returns at once', async () => {
  await expect(new DeleteQueue().drain()).resolves.toBeUndefined();
});

test('two deletes added at once (two batches of one transaction) run one after the other, and drain waits for both', async () => {
  const t = fakeDeletes();
  const q = new DeleteQueue();
  const a = q.add(t.del('a'));
  const b = q.add(t.del('b'));
  await a;
  await t.flush();
  expect(t.log).toEqual(['start a']);
  let drained = false;
  const d = q.drain().then(() => (drained = true));
  t.ends.get('a')!();
  await b;
  expect(t.log).toEqual(['start a', 'end a', 'start b']);
  await t.flush();
  expect(drained).toBe(false);
  t.ends.get('b')!();
  await d;
  expect(t.log).toEqual(['start a', 'end a', 'start b', 'end b']);
});

test('a delete that rejects does not stop the next one', async () => {
  const q = new DeleteQueue();
  const ran: string[] = [];
  await q.add(async () => {
    ran.push('a');
    throw new Error('refused');
  });
  await q.add(async () => {
    ran.push('b');
  });
  expect(ran).toEqual(['a', 'b']);
  await expect(q.drain()).resolves.toBeUndefined();
  // The last one's rejection is drain's.
  await q.add(() => Promise.reject(new Error('refused again')));
  await expect(q.drain()).rejects.toThrow('refused again');
});
