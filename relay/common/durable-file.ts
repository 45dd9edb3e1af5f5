/*
 * relay/common/durable-file - the file-level steps of a commit, and directory fsync.
 *
 * writeSyncedFile creates a new file (O_EXCL, mode 0600), writes all buffers, fdatasyncs and
 * closes it; on any error it removes the file, so no half-written file is left behind.
 * fdatasync is enough for a new file: it flushes the data and the size needed to read it
 * back; the directory entry is made durable later by the caller's directory fsync.
 */
import fs from 'node:fs/promises';

/** writeSyncedFile - write `buffers` to a new file at `file` and fdatasync it. */
export async function writeSyncedFile(file: string, buffers: readonly Buffer[], bytes: number): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'wx', 0o600);
    const { bytesWritten } = await handle.writev(buffers as Buffer[]);
    if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
    await handle.datasync();
    const closing = handle;
    handle = undefined;
    await closing.close();
  } catch (err) {
    await handle?.close().catch(() => {});
    await fs.rm(file, { force: true }).catch(() => {});
    throw err;
  }
}

/** syncDirectory - open, fsync and close a directory (for one-off syncs, not batches). */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
