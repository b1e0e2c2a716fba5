/**
 * ferrolb's path control on a BGPAdvertisement, carried in annotations so MetalLB's CRD
 * accepts the object unchanged: `ferrolb.io/as-path-prepend` and `ferrolb.io/med`.
 */

/** Annotation: our AS this many more times in AS_PATH (1-10), for external peers. */
export const AS_PATH_PREPEND_ANNOTATION = "ferrolb.io/as-path-prepend";
/** Annotation: MULTI_EXIT_DISC sent with the advertisement's routes (0-4294967295). */
export const MED_ANNOTATION = "ferrolb.io/med";
/** Largest prepend accepted: longer paths only hide mistakes and bloat peers' tables. */
export const MAX_PREPEND = 10;

/** What an advertisement asks of its routes' path. */
export interface PathControl {
  asPathPrepend?: number;
  med?: number;
}

/** One rejected annotation: the field path names it the way `kubectl` users write it. */
export interface PathControlError {
  field: string;
  reason: string;
}

/** `metadata.annotations["<key>"]`, the field name errors report. */
export function annotationField(key: string): string {
  return `metadata.annotations["${key}"]`;
}

function parseInteger(text: string, min: number, max: number): number | string {
  const t = text.trim();
  if (!/^\d{1,10}$/.test(t)) return `"${text}" is not a whole number`;
  const n = Number(t);
  if (n < min || n > max) return `${n} is outside ${min}-${max}`;
  return n;
}

/** Reads the path-control annotations; each bad value is an error naming its annotation. */
export function parsePathControl(
  annotations: Readonly<Record<string, string>> | undefined,
): { control: PathControl; errors: PathControlError[] } {
  const control: PathControl = {};
  const errors: PathControlError[] = [];
  const prepend = annotations?.[AS_PATH_PREPEND_ANNOTATION];
  if (prepend !== undefined) {
    const r = parseInteger(prepend, 1, MAX_PREPEND);
    if (typeof r === "number") control.asPathPrepend = r;
    else {
      errors.push({
        field: annotationField(AS_PATH_PREPEND_ANNOTATION),
        reason: `${r} (how many more times to repeat our AS, 1-${MAX_PREPEND})`,
      });
    }
  }
  const med = annotations?.[MED_ANNOTATION];
  if (med !== undefined) {
    const r = parseInteger(med, 0, 0xffffffff);
    if (typeof r === "number") control.med = r;
    else {
      errors.push({
        field: annotationField(MED_ANNOTATION),
        reason: `${r} (MULTI_EXIT_DISC, 0-4294967295)`,
      });
    }
  }
  return { control, errors };
}

/**
 * Merges the path control of the advertisements a route comes from. When they disagree the
 * larger value wins (the less preferred path), so the result does not depend on their order
 * and an advertisement meant to make a site the backup is never overridden by accident.
 */
export function mergePathControl(ads: readonly PathControl[]): PathControl {
  const out: PathControl = {};
  for (const ad of ads) {
    if (ad.asPathPrepend !== undefined) {
      out.asPathPrepend = Math.max(out.asPathPrepend ?? 0, ad.asPathPrepend);
    }
    if (ad.med !== undefined) out.med = Math.max(out.med ?? 0, ad.med);
  }
  return out;
}
