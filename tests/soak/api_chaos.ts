import { skipped, type Soak } from "./types.ts";

/** Not written yet. */
export const soak: Soak = {
  name: "soak_api_chaos",
  async *run() {
    yield skipped("soak_api_chaos", "n/a", "not implemented yet");
  },
};
