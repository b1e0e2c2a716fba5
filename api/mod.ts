/** The configuration model: schemas, parsing helpers and the cross-object config builder. */
export * from "./schemas.ts";
export * from "./config.ts";
export * from "./duration.ts";
export * from "./ip.ts";
export * from "./community.ts";
export * from "./timers.ts";
export * from "./selectors.ts";
export * from "./objects.ts";
export * from "./service_checks.ts";
export * from "./kube_object.ts";
