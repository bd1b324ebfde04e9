/**
 * The password worker: runs bcrypt (bcryptjs, pure JavaScript) on a worker
 * thread so that comparisons never block the event loop. Driven by
 * ./password-pool.ts; one task at a time, at a lower CPU priority than the
 * thread that serves requests.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import type { PasswordTask, PasswordReply } from './password-pool.js';

const port = parentPort;
if (!port) throw new Error('password-worker runs as a worker thread');

/** The nice value of password threads: on a busy machine the thread serving requests gets the CPU first. */
const NICE = 10;

// Linux: /proc/thread-self names this thread's id, and setpriority() on a thread id changes that
// thread only. Elsewhere (or if it fails) checks run at the process's priority.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, NICE);
} catch {
  // not Linux, or not permitted: keep the process's priority
}

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
