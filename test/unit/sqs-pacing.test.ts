/** The SQS listeners' pacing near the size threshold (src/sources/sqs_listener/pacing.ts). */
import { ThresholdPacer } from '../../src/sources/sqs_listener/pacing';
import { sleep } from '../support/wait';

test('far below the threshold, listeners poll side by side for full batches', async () => {
  const p = new ThresholdPacer(1_000_000, 4, { bytes: 1_000, files: 10 });
  expect(p.near()).toBe(false);
  expect(p.maxMessages()).toBe(10);
  const order: string[] = [];
  const a = await p.take();
  order.push('a');
  const b = await p.take();
  order.push('b');
  a();
  b();
  expect(order).toEqual(['a', 'b']);
});

test('near it, one listener at a time receives and records, asking for about as many messages as fit', async () => {
  const p = new ThresholdPacer(1_000, 4, { bytes: 500, files: 5 }); // 100 bytes a file
  expect(p.near()).toBe(true);
  expect(p.maxMessages()).toBe(5);
  const events: string[] = [];
  const first = await p.take();
  const second = p.take().then((release) => {
    events.push('second has its turn');
    return release;
  });
  await sleep(10);
  events.push('first records');
  p.update({ bytes: 900, files: 9 });
  first();
  const release = await second;
  expect(events).toEqual(['first records', 'second has its turn']);
  expect(p.maxMessages()).toBe(1);
  p.update({ bytes: 1_200, files: 12 });
  expect(p.maxMessages()).toBe(1); // never 0: SQS wants 1 to 10
  release();
});

test('without a known file size the listeners take turns; near the threshold one listener records before it polls again', async () => {
  expect(new ThresholdPacer(1 << 30, 4, { bytes: 0, files: 0 }).near()).toBe(true);
  expect(new ThresholdPacer(1 << 30, 4, { bytes: 0, files: 0 }, 2_000).near()).toBe(false);
  // Two batches a listener (the one recorded and the next, polled meanwhile): 4 × 2 × 10 files of 100 bytes.
  expect(new ThresholdPacer(10_000, 4, { bytes: 1_900, files: 19 }).near()).toBe(false);
  expect(new ThresholdPacer(10_000, 4, { bytes: 2_000, files: 20 }).near()).toBe(true);
  // One listener: 2 × 10 files.
  expect(new ThresholdPacer(10_000, 1, { bytes: 7_900, files: 79 }).near()).toBe(false);
  expect(new ThresholdPacer(10_000, 1, { bytes: 8_000, files: 80 }).near()).toBe(true);
  const lone = new ThresholdPacer(1_000, 1, { bytes: 900, files: 9 });
  const first = await lone.take();
  let again = false;
  const next = lone.take().then((release) => {
    again = true;
    return release;
  });
  await sleep(10);
  expect(again).toBe(false); // its next poll waits for this batch's recording
  first();
  (await next)();
  expect(again).toBe(true);
  expect(new ThresholdPacer(1_000, 1, { bytes: 900, files: 9 }).maxMessages()).toBe(1);
  // An emptied buffer keeps the last known mean.
  const p = new ThresholdPacer(1_000, 2, { bytes: 300, files: 3 });
  p.update({ bytes: 0, files: 0 });
  expect(p.averageFileBytes).toBe(100);
  expect(p.maxMessages()).toBe(10);
});
