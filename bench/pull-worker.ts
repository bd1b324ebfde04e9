/**
 * The measured client of bench:hostile, on its own thread so that the hostile
 * clients driven from the main thread never delay it: sequential GETs of one URL
 * on one keep-alive connection until told to stop, then the latencies (ms).
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { url, headers } = workerData as { url: string; headers: Record<string, string> };
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const u = new URL(url);
const latencies: number[] = [];
const at: number[] = [];
let failures = 0;
let running = true;
parentPort!.on('message', () => (running = false));

function get(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

while (running) {
  const t = performance.now();
  const status = await get();
  latencies.push(performance.now() - t);
  at.push(Date.now());
  if (status !== 200) failures++;
  await new Promise((ok) => setTimeout(ok, 5));
}
agent.destroy();
parentPort!.postMessage({ latencies, at, failures });
