import { skipped, type Soak } from "./types.ts";

/** Not written yet. */
export const soak: Soak = {
  name: "soak_bad_config",
  async *run() {
    yield skipped("soak_bad_config", "n/a", "not implemented yet");
  },
};
