import assert from "node:assert/strict";
import { nextTurn, setTurnClockForTest, TURN_MS, turnDue, yieldIfDue } from "./turn_budget.ts";

Deno.test("a turn that did not start from nextTurn is due at once", () => {
  const restore = setTurnClockForTest(() => 1_000);
  try {
    assert.equal(turnDue(), true);
    assert.ok(yieldIfDue() instanceof Promise);
  } finally {
    restore();
  }
});

Deno.test("after nextTurn the budget runs TURN_MS, whoever spends it", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    await nextTurn();
    assert.equal(turnDue(), false);
    assert.equal(yieldIfDue(), undefined);
    t += TURN_MS - 1;
    assert.equal(turnDue(), false);
    t += 1;
    // One slicer used it up: another asking in the same turn must wait too.
    assert.equal(turnDue(), true);
  } finally {
    restore();
  }
});

Deno.test("slicers waiting at once take one turn each, in order", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    await nextTurn();
    t += TURN_MS;
    const order: string[] = [];
    const slicer = async (name: string) => {
      for (let i = 0; i < 3; i++) {
        if (turnDue()) await nextTurn();
        order.push(name);
        // Each step spends a whole budget.
        t += TURN_MS;
      }
    };
    await Promise.all([slicer("a"), slicer("b")]);
    // Back to back in one turn would have been a, a, b, ... or a, b in the same turn.
    assert.deepEqual(order, ["a", "b", "a", "b", "a", "b"]);
  } finally {
    restore();
  }
});

Deno.test("a turn runs one slicer: the other resumes in a later macrotask", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    const seen: string[] = [];
    const a = nextTurn().then(() => {
      seen.push("a");
      // A macrotask queued during a's turn runs before b's turn starts.
      setTimeout(() => seen.push("timer"), 0);
    });
    const b = nextTurn().then(() => seen.push("b"));
    await Promise.all([a, b]);
    assert.deepEqual(seen, ["a", "timer", "b"]);
  } finally {
    restore();
  }
});

Deno.test("a timer due meanwhile runs between two budgets", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    await nextTurn();
    const seen: string[] = [];
    setTimeout(() => seen.push("timer"), 0);
    t += TURN_MS;
    assert.equal(turnDue(), true);
    await nextTurn();
    seen.push("next slice");
    assert.deepEqual(seen, ["timer", "next slice"]);
  } finally {
    restore();
  }
});
