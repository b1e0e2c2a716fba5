import assert from "node:assert/strict";
import { nextTurn, setTurnClockForTest, Slice, TURN_MS } from "./turn_budget.ts";

Deno.test("a slice is due after TURN_MS, and a new one starts after its turn", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    const slice = new Slice();
    t += TURN_MS - 1;
    assert.equal(slice.due(), false);
    t += 1;
    assert.equal(slice.due(), true);
    await slice.next();
    assert.equal(slice.due(), false);
    t += TURN_MS;
    slice.restart();
    assert.equal(slice.due(), false);
  } finally {
    restore();
  }
});

Deno.test("slicers waiting at once take one turn each, in order", async () => {
  let t = 0;
  const restore = setTurnClockForTest(() => t);
  try {
    const order: string[] = [];
    const slicer = async (name: string) => {
      const slice = new Slice();
      for (let i = 0; i < 3; i++) {
        if (slice.due()) await slice.next();
        order.push(name);
        // Each step spends a whole slice.
        t += TURN_MS;
      }
    };
    await Promise.all([slicer("a"), slicer("b")]);
    assert.deepEqual(order, ["a", "b", "a", "b", "a", "b"]);
  } finally {
    restore();
  }
});

Deno.test("a timer that falls due during a slice runs before the next slicer's turn", async () => {
  const seen: string[] = [];
  const a = nextTurn().then(() => {
    seen.push("a");
    // Queued during a's turn: with a timer per slicer, b's (set earlier) would run first.
    setTimeout(() => seen.push("timer"), 0);
  });
  const b = nextTurn().then(() => seen.push("b"));
  await Promise.all([a, b]);
  assert.deepEqual(seen, ["a", "timer", "b"]);
});

Deno.test("the next turn comes when the slicer yields again, not a slice later", async () => {
  const seen: string[] = [];
  const a = (async () => {
    await nextTurn();
    // Due 5 ms from now: b's turn must come first, as a yields at once.
    setTimeout(() => seen.push("5 ms timer"), 5);
    await nextTurn();
    seen.push("a again");
  })();
  const b = nextTurn().then(() => seen.push("b"));
  await Promise.all([a, b]);
  // b finished without yielding: a's turn comes a slice after b's began.
  assert.deepEqual(seen, ["b", "5 ms timer", "a again"]);
});
