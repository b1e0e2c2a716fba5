/** The controller's options, apart from the class so every room can read them. */
import type { Logger } from "../api/log.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import type { AddressChangeListener } from "./address_changes.ts";

/** Options for {@linkcode Controller}. */
export interface ControllerOptions {
  /** Install namespace of the metallb.io objects. */
  namespace: string;
  /** `--lb-class`: handle only Services of this class (else only classless ones). */
  lbClass?: string;
  logger: Logger;
  metrics?: MetallbMetrics;
  /** Clock for how long Services waited for an address (logged on assignment). */
  clock?: () => Date;
  /** When given and false, passes compute but write nothing. */
  isLeader?: () => boolean;
  /** Writes in flight at once (default 64). */
  writeConcurrency?: number;
  /** Delay before a pass retries failed writes (default 1000 ms). */
  retryDelayMs?: number;
  /** Address changes of each pass, for the IP history (called on the leader only). */
  onAddressChanges?: AddressChangeListener;
}
