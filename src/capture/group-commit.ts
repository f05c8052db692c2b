/**
 * Group commit: requests that arrive while a batch is being written wait for the next batch,
 * which is written as one statement. At low load a batch holds one request and adds no delay;
 * under load the batches grow and the database sees a few large writes instead of many small ones.
 * Each request resolves only after the batch holding it has committed. `write` must be all or
 * nothing: when a batch fails, each of its requests is written again alone.
 */
export class GroupCommit<In, Out> {
  private waiting: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly write: (items: In[]) => Promise<Out[]>,
    private readonly options: { maxBatch: number; maxConcurrentBatches: number },
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private async writeAlone(entry: { item: In; resolve: (out: Out) => void; reject: (error: unknown) => void }): Promise<void> {
    try {
      entry.resolve((await this.write([entry.item]))[0]!);
    } catch (error) {
      entry.reject(error);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxConcurrentBatches) return;
    this.scheduled = true;
    // Requests that arrive in the same turn of the event loop share the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.waiting.length > 0 && this.inFlight < this.options.maxConcurrentBatches) {
      const batch = this.waiting.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.write(batch.map((entry) => entry.item))
        .then(
          (results): unknown => batch.forEach((entry, index) => entry.resolve(results[index]!)),
          // One request the database refuses must not take the others with it: each is written
          // again on its own, and only what fails alone fails.
          (error: unknown): unknown => (batch.length === 1 ? batch[0]!.reject(error) : Promise.all(batch.map((entry) => this.writeAlone(entry)))),
        )
        .finally(() => {
          this.inFlight--;
          if (this.waiting.length > 0) this.schedule();
        });
    }
  }
}
