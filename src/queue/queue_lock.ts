/**
 * The advisory lock file `<data_dir>/queue/lock`, which keeps the orphan cleanup away from
 * messages being enqueued.
 *
 * A process enqueueing holds a shared lock on `lock` from before it creates a body file until
 * after the commit (one lock for all enqueues in flight in the process), and the cleanup runs
 * only when it gets the exclusive lock without waiting. So opening the queue from another
 * process while the server runs (`postie queue list`) never removes a message in flight; the
 * cleanup then simply waits for a later open.
 *
 * @module
 */

/** The queue's lock file, shared by the enqueues of this process. */
export class QueueLock {
  readonly #path: string;
  /** The shared lock on `lock` while enqueues are in flight, and how many hold it. */
  #lock: Promise<Deno.FsFile> | null = null;
  #holders = 0;

  /** @param path the lock file. */
  constructor(path: string) {
    this.#path = path;
  }

  /** Create the lock file (mode 0600) if it does not exist. */
  async create(): Promise<void> {
    const lock = await Deno.open(this.#path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    lock.close();
  }

  /** Take (or share) this process's shared lock for one enqueue; {@link QueueLock.release} it after. */
  async hold(): Promise<void> {
    this.#holders++;
    try {
      if (!this.#lock) {
        const opening = (async () => {
          const f = await Deno.open(this.#path, { read: true, write: true });
          try {
            await f.lock(false);
          } catch (e) {
            f.close();
            throw e;
          }
          return f;
        })();
        this.#lock = opening;
        opening.catch(() => {
          if (this.#lock === opening) this.#lock = null;
        });
      }
      await this.#lock;
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Drop one enqueue's share of the lock; the last one closes the file (releasing it). */
  release(): void {
    if (--this.#holders > 0) return;
    const held = this.#lock;
    this.#lock = null;
    held?.then((f) => f.close(), () => {});
  }

  /**
   * Run `fn` with the exclusive lock if no enqueue is in flight in any process (the lock is
   * free at once); otherwise do nothing.
   */
  async ifIdle(fn: () => Promise<void>): Promise<void> {
    const lock = await Deno.open(this.#path, { read: true, write: true });
    try {
      if (!await lock.tryLock(true)) return; // an enqueue is in flight: clean up another time
      await fn();
    } finally {
      lock.close(); // releases the lock
    }
  }
}
