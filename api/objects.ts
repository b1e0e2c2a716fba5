/**
 * Parsed views of the core Kubernetes objects the controller and speaker read. The views live
 * beside this file by kind; this module keeps the one import path their readers use.
 */
export type { ParseResult } from "./view_parts.ts";
export type { ServiceView } from "./service_types.ts";
export { parseService } from "./service_view.ts";
export {
  forgetSnapshotService,
  JudgedSelfViewService,
  parseSnapshotService,
  SelfViewService,
} from "./snapshot_service.ts";
export {
  type EndpointSliceView,
  type EndpointView,
  OWN_SLICE_VIEW,
  parseEndpointSlice,
  SERVICE_NAME_LABEL,
} from "./endpoint_view.ts";
export { type NodeView, parseNode } from "./node_view.ts";
