/**
 * Group commit: requests that arrive while a batch is being written wait for the next batch,
 * which is written as one statement. At low load a batch holds one request and adds no delay;
 * under load the batches grow and the database sees a few large writes instead of many small ones.
 * Each request resolves only after the batch holding it has committed.
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
        .then((results) => batch.forEach((entry, index) => entry.resolve(results[index]!)))
        .catch((error: unknown) => batch.forEach((entry) => entry.reject(error)))
        .finally(() => {
          this.inFlight--;
          if (this.waiting.length > 0) this.schedule();
        });
    }
  }
}
