/**
 * Cooperative time slicing: long work (100,000s of Services) is written as a generator that
 * yields now and then, and {@linkcode drive} runs it in slices with a macrotask between
 * them, so that BGP keepalives, health checks and signals are never starved. Both live
 * below every room (addr/), so the controller runs them too.
 */
export { drive } from "../addr/turn_budget.ts";
export { sortSliced } from "../addr/sort_sliced.ts";
