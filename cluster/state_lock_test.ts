import assert from "node:assert/strict";
import { acquireStateLock, LOCK_FILE, StateLockError } from "./state_lock.ts";

/** The StateLockError that taking the lock of `dir` throws. */
function refusal(dir: string): StateLockError {
  try {
    acquireStateLock(dir).release();
  } catch (err) {
    if (err instanceof StateLockError) return err;
    throw err;
  }
  return assert.fail("the lock was taken although another holder has it");
}

Deno.test("state lock: a second holder is refused, named, and gets in after release", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = acquireStateLock(dir, { adminAddr: "127.0.0.1:7472" });
    const err = refusal(dir);
    assert.equal(err.holder?.pid, Deno.pid);
    assert.equal(err.holder?.adminAddr, "127.0.0.1:7472");
    assert.match(err.message, new RegExp(`pid ${Deno.pid}, admin 127\\.0\\.0\\.1:7472`));
    first.release();
    const second = acquireStateLock(dir);
    second.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state lock: a holder that dies (SIGKILL) leaves no stale lock", async () => {
  const dir = await Deno.makeTempDir();
  const holder = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { acquireStateLock } from ${
        JSON.stringify(import.meta.resolve("./state_lock.ts"))
      };` +
      `acquireStateLock(${JSON.stringify(dir)}); console.log("held");` +
      `setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("held")) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`holder exited before taking the lock: ${out}`);
      out += value;
    }
    const err = refusal(dir);
    assert.equal(err.holder?.pid, holder.pid);
    holder.kill("SIGKILL");
    await holder.status;
    reader.releaseLock();
    await holder.stdout.cancel().catch(() => {});
    // The kernel dropped the dead holder's lock; its file (naming a dead pid) stays behind.
    assert.ok(Deno.statSync(`${dir}/${LOCK_FILE}`).isFile);
    const mine = acquireStateLock(dir);
    mine.release();
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch {
      // already gone
    }
    await Deno.remove(dir, { recursive: true });
  }
});
