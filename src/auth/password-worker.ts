/**
 * The password worker: runs bcrypt (bcryptjs, pure JavaScript) on a worker
 * thread so that comparisons never block the event loop. Driven by
 * ./password-pool.ts; one task at a time.
 */
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import type { PasswordTask, PasswordReply } from './password-pool.js';

const port = parentPort;
if (!port) throw new Error('password-worker runs as a worker thread');

port.on('message', (task: PasswordTask) => {
  let reply: PasswordReply;
  try {
    reply =
      task.op === 'compare'
        ? { ok: true, value: bcrypt.compareSync(task.password, task.hash) }
        : { ok: true, value: bcrypt.hashSync(task.password, task.cost) };
  } catch (err) {
    reply = { ok: false, message: (err as Error).message };
  }
  port.postMessage(reply);
});
