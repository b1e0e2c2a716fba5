/**
 * The controller role: assigns LoadBalancer addresses to Services and writes them back.
 * `service_request.ts` is the pure Service → allocator translation, `controller.ts` the loop
 * (its steps in the files it names).
 */
export {
  CONFIGURATION_STATE_NAME,
  Controller,
  type ControllerOptions,
  createController,
  type CreateControllerOptions,
  EVENT_COMPONENT,
  EventReason,
} from "./controller.ts";
export {
  ALLOCATED_FROM_POOL,
  ANNOTATION_PREFIX,
  backendKey,
  type DeprecatedAnnotation,
  deprecationMessage,
  isHandled,
  LEGACY_ANNOTATION_PREFIX,
  REQUEST_ANNOTATIONS,
  serviceFamilies,
  type ServiceRequestResult,
  type TranslateOptions,
  translateService,
} from "./service_request.ts";
