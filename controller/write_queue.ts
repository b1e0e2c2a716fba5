/**
 * The controller's write queue: a pass decides, this runs the writes it produced. Writers
 * that take Service writes in batches (file mode's overlay) get them in one call; others
 * get every write, a bounded number at a time, as API requests.
 */
import { Slice } from "../addr/turn_budget.ts";
import type { ObjectWriter } from "../cluster/types.ts";

/** One write a pass wants made. */
export type WriteOp = {
  key: string;
  what: string;
  run: () => Promise<void>;
  /** A Service write that a batching writer can take with others in one call. */
  service?: ServiceWrite;
  /** Forgets what the write recorded, so that a failed batch is retried. */
  undo?: () => void;
  /**
   * The Event announcing this write, due just before it (or, with a batching writer, after
   * the batch where the op stands among the others), built when it is due; undefined when
   * the write carries none.
   */
  event?: () => WriteOp | undefined;
};

/** One Service's ingress and annotation writes, for a writer that takes them in batches. */
export interface ServiceWrite {
  namespace: string;
  name: string;
  ingress?: { ip: string }[];
  annotations?: Record<string, string | null>;
}

/**
 * A writer that takes many Services' writes as one (file mode: one state save and one
 * change for the whole batch). Found by duck typing, so `ObjectWriter` stays as it is.
 * The entries are the controller's write ops themselves, whose `ingress` is an accessor
 * built on each read: a writer reads the fields it needs and never spreads or clones an
 * entry.
 */
export interface BatchServiceWriter {
  writeServices(writes: readonly ServiceWrite[]): Promise<void>;
}

/** A write that failed, with why. */
export interface WriteFailure {
  op: WriteOp;
  error: unknown;
}

/**
 * Runs `ops` with at most `limit` in flight; resolves with the failures. An op's Event (see
 * {@linkcode WriteOp.event}) runs first, on its own; `batched`: the Service writes were made
 * in a batch already, only their Events are left. `consume`: the caller gives the list up,
 * and each entry is let go (left undefined) once taken, so a first pass's 100,000 ops go
 * one by one as their Events are sent instead of all at the end.
 */
export async function runLimited(
  ops: readonly WriteOp[],
  limit: number,
  options: { batched?: boolean; consume?: boolean } = {},
): Promise<WriteFailure[]> {
  const batched = options.batched === true;
  const taken = options.consume === true ? ops as (WriteOp | undefined)[] : undefined;
  const failures: WriteFailure[] = [];
  let next = 0;
  const slice = new Slice();
  // One turn for all workers: queued one by one, each would wait for a turn of its own.
  let pause: Promise<void> | undefined;
  async function worker(): Promise<void> {
    while (next < ops.length) {
      // Writes that complete at once (file mode) chain as microtasks, which never let
      // timers or sockets in: give the event loop a turn every slice.
      if (slice.due()) {
        pause ??= slice.next().finally(() => pause = undefined);
        await pause;
        // Other workers ran meanwhile and may have taken the last ones.
        if (next >= ops.length) break;
      }
      const op = ops[next];
      if (taken) taken[next] = undefined;
      next++;
      const event = op.event?.();
      if (event) await runOne(event, failures);
      if (!batched || !op.service) await runOne(op, failures);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, ops.length) }, () => worker()));
  return failures;
}

async function runOne(op: WriteOp, failures: WriteFailure[]): Promise<void> {
  try {
    await op.run();
  } catch (error) {
    failures.push({ op, error });
  }
}

/**
 * Runs a pass's writes. A batching writer takes every Service write in one call, before
 * the Events that announce them; others get every write, `limit` at a time. The list is
 * the caller's no more: its entries are let go as they run (its length stays).
 */
export async function runWrites(
  ops: WriteOp[],
  options: { writer: ObjectWriter; limit: number },
): Promise<WriteFailure[]> {
  const batcher = options.writer as Partial<BatchServiceWriter>;
  if (typeof batcher.writeServices !== "function") {
    return await runLimited(ops, options.limit, { consume: true });
  }
  // The rest run from the list itself, where a Service write leaves only its Event.
  const failures = await writeServiceBatch(batcher as BatchServiceWriter, ops);
  return [...failures, ...await runLimited(ops, options.limit, { batched: true, consume: true })];
}

/**
 * Hands every Service write of `ops` to the batching writer in one call; on failure each of
 * them is undone and failed. The entries are handed over as they are (an op may be its own
 * entry), in a list that ends with this call, not held while the Events run.
 */
async function writeServiceBatch(
  batcher: BatchServiceWriter,
  ops: readonly WriteOp[],
): Promise<WriteFailure[]> {
  const services: ServiceWrite[] = [];
  for (const op of ops) if (op.service) services.push(op.service);
  if (services.length === 0) return [];
  try {
    await batcher.writeServices(services);
    return [];
  } catch (error) {
    // Rare: walk the ops again rather than keep a list of them for it.
    const failures: WriteFailure[] = [];
    for (const op of ops) {
      if (!op.service) continue;
      op.undo?.();
      failures.push({ op, error });
    }
    return failures;
  }
}
