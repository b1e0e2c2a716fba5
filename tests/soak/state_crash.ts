import { skipped, type Soak } from "./types.ts";

/** Not written yet. */
export const soak: Soak = {
  name: "soak_state_crash",
  async *run() {
    yield skipped("soak_state_crash", "n/a", "not implemented yet");
  },
};
