/*
 * relay/session/password-worker-thread - the body of one password worker (password-worker.ts).
 *
 * Runs in a worker_threads Worker: bcrypt is pure CPU (about 65 ms at cost 10), so it runs
 * here, off the hub's event loop, where it cannot stall every other session. One request at a
 * time; the pool never sends a second before the first is answered.
 * Trust: the password and hash come from the pool in the same process; the password never
 * leaves this message exchange (no log, no error text carries it).
 */
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export interface VerifyRequest {
  id: number;
  password: string;
  hash: string;
}
export interface VerifyResponse {
  id: number;
  match: boolean;
}

parentPort?.on('message', (request: VerifyRequest) => {
  let match: boolean;
  try {
    match = bcrypt.compareSync(request.password, request.hash);
  } catch {
    // A hash bcryptjs cannot read matches nothing (parseUsers already refuses most of them).
    match = false;
  }
  const response: VerifyResponse = { id: request.id, match };
  parentPort?.postMessage(response);
});
