import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageRateLimit, type MessageBucket } from '../../../services/edge/ws/message-rate.js';

/** How many messages are admitted at `now` before the bucket refuses one. */
function drain(limit: MessageRateLimit, bucket: MessageBucket, now: number): number {
  let n = 0;
  while (limit.take(bucket, now)) n++;
  return n;
}

test('a full bucket admits the burst at once, then perSecond on average; idle time refills it no further than the burst', () => {
  const limit = new MessageRateLimit(20, 300);
  const bucket: MessageBucket = { tokens: 0, refilledAt: 0 };
  limit.fill(bucket, 1000);
  assert.equal(drain(limit, bucket, 1000), 300);
  assert.equal(limit.take(bucket, 1000), false, 'over budget');
  // 20 per second: 50 ms earn one message, 25 ms half of one.
  assert.equal(limit.take(bucket, 1025), false);
  assert.equal(limit.take(bucket, 1050), true);
  assert.equal(drain(limit, bucket, 2050), 20);
  // An hour of silence earns the burst, not 72,000 messages.
  assert.equal(drain(limit, bucket, 2050 + 3_600_000), 300);
});

test('refused messages do not cost tokens: a socket that slows down to the rate is admitted again', () => {
  const limit = new MessageRateLimit(2, 1);
  const bucket: MessageBucket = { tokens: 0, refilledAt: 0 };
  limit.fill(bucket, 0);
  assert.equal(limit.take(bucket, 0), true);
  for (let t = 0; t < 500; t += 100) assert.equal(limit.take(bucket, t), false, `refused at ${t} ms`);
  assert.equal(limit.take(bucket, 500), true, '2 per second: one token per 500 ms');
});
