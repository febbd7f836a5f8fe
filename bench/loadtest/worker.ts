/**
 * Worker-thread entry of the load generator. Protocol:
 * main -> worker: workerData = WorkerJob; then { type: 'start', clock } and
 * later { type: 'stop' }. worker -> main: 'ready' (sockets open), then
 * 'done' with the window counters and the latency histogram, or 'failed'.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HttpLoop } from './http-client.js';
import { LoadModel } from './model.js';
import { UdpLoop } from './udp-client.js';
import { LiveCounters, type FromWorker, type ToWorker, type WorkerJob } from './worker-types.js';

if (parentPort === null) throw new Error('bench/loadtest/worker.js must run in a worker thread');
const port = parentPort;

const job = workerData as WorkerJob;
const post = (m: FromWorker): void => port.postMessage(m);

async function main(): Promise<void> {
  const model = new LoadModel(job.model);
  const live = new LiveCounters(job.live, job.worker);
  let loop: UdpLoop | HttpLoop;
  if (job.protocol === 'udp') {
    const u = new UdpLoop(job.udp, model, live);
    await u.open();
    loop = u;
  } else {
    loop = new HttpLoop(job.http, model, live);
  }
  let stopped = false;
  const finish = (): void => {
    if (stopped) return;
    stopped = true;
    loop.stop();
    post({
      type: 'done',
      result: { counters: loop.counters, histogram: loop.histogram.toJSON(), errorMessages: loop.errorMessages() },
    });
    port.close();
  };
  port.on('message', (m: ToWorker) => {
    if (m.type === 'start') {
      loop.start(m.clock);
      const wait = Math.max(0, m.clock.measureEnd - (performance.timeOrigin + performance.now()));
      setTimeout(finish, wait);
    } else if (m.type === 'stop') {
      finish();
    }
  });
  post({ type: 'ready' });
}

main().catch((e: unknown) => {
  post({ type: 'failed', error: e instanceof Error ? e.message : String(e) });
  port.close();
});
