/**
 * The CEL rules (`x-kubernetes-validations`) and list types of the metallb.io CRDs: every
 * single-object mistake MetalLB's admission webhook refuses is refused by the API server at
 * `kubectl apply`, with no webhook. The rules restate what api/schemas.ts checks; the bounds
 * they need to pass the API server's cost estimate are api/schemas.ts `LIMITS`.
 */
import { LIMITS } from "../api/schemas.ts";
import type { YamlValue } from "./yaml.ts";

/** A JSON Schema node as Kubernetes reads it. */
export type SchemaNode = { [key: string]: YamlValue | undefined };

/** A CEL rule as written in `x-kubernetes-validations`. */
export interface CelRule {
  rule: string;
  message: string;
  [key: string]: string;
}

const has = (f: string) => `has(self.${f})`;
const set = (f: string) => `(has(self.${f}) && self.${f} != '')`;

/**
 * A CEL expression for the IPv4 address string `e` (already known valid) as a number, so
 * a range's start and end compare (CEL has no IP ordering).
 */
export function ipv4Number(e: string): string {
  const octet = (i: number) => `int(${e}.split('.')[${i}])`;
  return `(${octet(0)} * 16777216 + ${octet(1)} * 65536 + ${octet(2)} * 256 + ${octet(3)})`;
}

/**
 * A CEL expression, true when IPv6 address `end` is not before `start` (both strings already
 * known valid IPv6 addresses). CEL has no IP ordering, no 128-bit integers, and the API
 * server has no `cel.bind`; a scan of the 128 bits in a comprehension exceeds the cost
 * budget more than 100 times. Instead: `cidr(S + '/p').containsIP(E)` says start and end
 * agree on their first p bits, which is monotone in p, so a binary search written out as
 * nested ternaries finds their common prefix length L in 8 steps (the cost estimate charges
 * a ternary its condition plus the dearer branch: 8 CIDR tests and a leaf, though the text
 * has 128 internal tests and 129 leaves). At leaf L the order is that of bit L, where they
 * first differ: start <= end iff L is 128 (equal) or bit L of start is 0, i.e. start masked
 * to L+1 bits is start masked to L bits. Prefix lengths are literals (`'/' + string(p)`
 * has no bounded size, which the estimate charges as unbounded). Start and end are bound
 * to names by one-element lists (`[x].all(s, ...)`), to keep the text short. kube-apiserver
 * v1.37.2 estimates the rule with its guard at about 2,450 per entry (the IPv4 rule: about
 * 2,590), 157,000 for a pool's 64 entries against a per-rule budget of 10,000,000; its text
 * is about 12.7 KB.
 */
export function ipv6InOrder(start: string, end: string): string {
  const agree = (p: number) => `cidr(s + '${p}').containsIP(e)`;
  const leaf = (l: number) =>
    l === 128 ? "true" : `cidr(s + '${l + 1}').masked().ip() == cidr(s + '${l}').masked().ip()`;
  // L is known to lie in [lo, hi] (start and end agree on lo bits).
  const search = (lo: number, hi: number): string => {
    if (lo === hi) return leaf(lo);
    const mid = (lo + hi + 1) >> 1;
    return `(${agree(mid)} ? ${search(mid, hi)} : ${search(lo, mid - 1)})`;
  };
  return `[${start} + '/'].all(s, [${end}].all(e, ${search(0, 128)}))`;
}

const START = `self.split('-')[0].trim()`;
const END = `self.split('-')[1].trim()`;
const rangeValid = `(size(self.split('-')) == 2 && isIP(${START}) && isIP(${END}) && ` +
  `ip(${START}).family() == ip(${END}).family())`;

const ADDRESS_ENTRY_RULES: CelRule[] = [
  {
    rule: `self.contains('-') ? ${rangeValid} : isCIDR(self.trim())`,
    message: "must be a CIDR (192.0.2.0/24, 2001:db8::/64) or a range of addresses of one " +
      "family (192.0.2.10-192.0.2.20)",
  },
  {
    rule: `!(self.contains('-') && ${rangeValid} && ip(${START}).family() == 4) || ` +
      `${ipv4Number(START)} <= ${ipv4Number(END)}`,
    message: "range start must not be after its end",
  },
  {
    rule: `!(self.contains('-') && ${rangeValid} && ip(${START}).family() == 6) || ` +
      ipv6InOrder(START, END),
    message: "range start must not be after its end",
  },
];

const cidrOf = (v: string) => `cidr(${v}.trim())`;
const ADDRESS_LIST_RULES: CelRule[] = [{
  // Each CIDR may contain, or be contained in, only itself.
  rule: `self.all(a, !isCIDR(a.trim()) || self.filter(b, isCIDR(b.trim()) && ` +
    `${cidrOf("a")}.ip().family() == ${cidrOf("b")}.ip().family() && ` +
    `(${cidrOf("a")}.containsCIDR(${cidrOf("b")}) || ` +
    `${cidrOf("b")}.containsCIDR(${cidrOf("a")}))).size() <= 1)`,
  message: "CIDRs in one pool must not overlap",
}];

/** The rule body checking a community literal `self` (two or four `:` parts). */
function communityLiteral(otherwise: "true" | "false"): string {
  const parts = `self.split(':')`;
  return `size(${parts}) == 2 ? ` +
    `${parts}.all(x, x.matches('^[0-9]{1,10}$') && int(x) <= 65535) : size(${parts}) == 4 ? ` +
    `(${parts}[0] == 'large' && [${parts}[1], ${parts}[2], ${parts}[3]].all(x, ` +
    `x.matches('^[0-9]{1,10}$') && int(x) <= 4294967295)) : ${otherwise}`;
}

const COMMUNITY_MESSAGE = "community must be AS:VALUE with two numbers 0-65535, or " +
  "large:GLOBAL:LOCAL1:LOCAL2 with three numbers 0-4294967295";

const noLineBreak = (f: string): CelRule => ({
  rule: `!self.contains('\\n') && !self.contains('\\r')`,
  message: `${f} must not contain a line break`,
});

const isAddress = (f: string): CelRule => ({
  rule: `isIP(self.trim())`,
  message: `${f} must be an IP address`,
});

// Timer rules match api/timers.ts: hold 0 or >= 3s; keepalive alone implies hold = 3 x
// keepalive; keepalive must not exceed hold.
const TIMER_RULES: CelRule[] = [
  {
    rule: `!${has("holdTime")} || duration(self.holdTime) == duration('0s') || ` +
      `duration(self.holdTime) >= duration('3s')`,
    message: "holdTime must be 0 or at least 3s",
  },
  {
    rule: `${has("holdTime")} || !${has("keepaliveTime")} || ` +
      `duration(self.keepaliveTime) == duration('0s') || ` +
      `duration(self.keepaliveTime) >= duration('1s')`,
    message: "keepaliveTime without holdTime must be 0 or at least 1s (hold is 3 x keepalive)",
  },
  {
    rule: `!${has("holdTime")} || !${has("keepaliveTime")} || ` +
      `duration(self.keepaliveTime) <= duration(self.holdTime)`,
    message: "keepaliveTime must not exceed holdTime",
  },
];

// Rules may name only fields of their own version's schema: the API server type-checks
// CEL against it and rejects the CRD otherwise (v1beta1 has no dynamicASN, interface,
// passwordSecret or connectTime).
const PEER_COMMON_FIELDS: Record<string, SchemaNode> = {
  peerAddress: { "x-kubernetes-validations": [isAddress("peerAddress")] },
  sourceAddress: { "x-kubernetes-validations": [isAddress("sourceAddress")] },
  routerID: {
    "x-kubernetes-validations": [{
      rule: `isIP(self.trim()) && ip(self.trim()).family() == 4`,
      message: "routerID must be an IPv4 address",
    }],
  },
  password: { "x-kubernetes-validations": [noLineBreak("password")] },
};

/** Rules on the whole spec, by kind and version ("*": every version). */
export const SPEC_RULES: Record<string, Record<string, CelRule[]>> = {
  BGPPeer: {
    v1beta1: [
      { rule: `${has("peerASN")} && self.peerASN != 0`, message: "peerASN must be set" },
      { rule: set("peerAddress"), message: "peerAddress must be set" },
      {
        rule: `!(${has("ebgpMultiHop")} && self.ebgpMultiHop && ${has("peerASN")} && ` +
          `self.peerASN == self.myASN)`,
        message: "ebgpMultiHop must not be set on an iBGP peer (peerASN equals myASN)",
      },
      { rule: `self.myASN != 0`, message: "myASN must not be 0" },
      ...TIMER_RULES,
    ],
    v1beta2: [
      {
        rule: `(${has("peerASN")} && self.peerASN != 0) != ${has("dynamicASN")}`,
        message: "exactly one of peerASN or dynamicASN must be set",
      },
      {
        rule: `${set("peerAddress")} != ${set("interface")}`,
        message: "exactly one of peerAddress or interface must be set",
      },
      {
        rule: `!(${has("ebgpMultiHop")} && self.ebgpMultiHop && ` +
          `((${has("peerASN")} && self.peerASN == self.myASN) || ` +
          `(${has("dynamicASN")} && self.dynamicASN == 'internal')))`,
        message: "ebgpMultiHop must not be set on an iBGP peer (peer AS equals myASN)",
      },
      { rule: `self.myASN != 0`, message: "myASN must not be 0" },
      ...TIMER_RULES,
      {
        rule: `!(${set("password")} && ${has("passwordSecret")})`,
        message: "password and passwordSecret must not both be set",
      },
      {
        rule: `!${has("connectTime")} || duration(self.connectTime) > duration('0s')`,
        message: "connectTime must be greater than 0",
      },
    ],
  },
  BGPAdvertisement: {
    "*": [
      {
        rule: `!${has("serviceSelectors")} || size(self.serviceSelectors) == 0 || ` +
          `!${has("aggregationLength")} || self.aggregationLength == 32`,
        message: "serviceSelectors and aggregationLength (other than 32) are mutually exclusive",
      },
      {
        rule: `!${has("serviceSelectors")} || size(self.serviceSelectors) == 0 || ` +
          `!${has("aggregationLengthV6")} || self.aggregationLengthV6 == 128`,
        message: "serviceSelectors and aggregationLengthV6 (other than 128) are mutually exclusive",
      },
    ],
  },
};

/** Extra schema keywords by kind and field path (`a.b` for properties, `[]` for items). */
export const FIELD_EXTRAS: Record<string, Record<string, SchemaNode>> = {
  IPAddressPool: {
    // `set` makes the API server reject duplicate entries, as MetalLB's webhook does.
    addresses: {
      "x-kubernetes-list-type": "set",
      "x-kubernetes-validations": ADDRESS_LIST_RULES as unknown as YamlValue,
    },
    "addresses[]": { "x-kubernetes-validations": ADDRESS_ENTRY_RULES as unknown as YamlValue },
    "serviceAllocation.namespaces": { "x-kubernetes-list-type": "set" },
  },
  BGPAdvertisement: {
    communities: { "x-kubernetes-list-type": "set" },
    "communities[]": {
      "x-kubernetes-validations": [{ rule: communityLiteral("true"), message: COMMUNITY_MESSAGE }],
    },
    ipAddressPools: { "x-kubernetes-list-type": "set" },
    peers: { "x-kubernetes-list-type": "set" },
  },
  BGPPeer: {
    ...PEER_COMMON_FIELDS,
    interface: { "x-kubernetes-validations": [noLineBreak("interface")] },
    vrf: { "x-kubernetes-validations": [noLineBreak("vrf")] },
  },
  Community: {
    // A list keyed by name: the API server refuses an alias defined twice in one object.
    communities: { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] },
    "communities[].value": {
      "x-kubernetes-validations": [{ rule: communityLiteral("false"), message: COMMUNITY_MESSAGE }],
    },
  },
  L2Advertisement: {
    ipAddressPools: { "x-kubernetes-list-type": "set" },
  },
};

/** Limits restated for the README's list (they come from the zod schemas). */
export const CRD_LIMITS = LIMITS;

function isSelector(node: SchemaNode): boolean {
  const props = node.properties as Record<string, SchemaNode> | undefined;
  return node.type === "object" && !!props?.matchLabels && !!props?.matchExpressions;
}

const NO_DUPLICATES = (what: string): CelRule => ({
  rule: `self.all(x, self.exists_one(y, y == x))`,
  message: `must not list the same ${what} twice`,
});

// As Kubernetes' own label selector validation (and MetalLB, which converts with it).
const EXPRESSION_RULES: CelRule[] = [
  {
    rule: `!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)`,
    message: "values must not be empty for operator In or NotIn",
  },
  {
    rule: `!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || ` +
      `size(self.values) == 0`,
    message: "values must be empty for operator Exists or DoesNotExist",
  },
];

/**
 * Duplicate label selectors, match expressions and expression values are refused, as
 * MetalLB's webhook does: values are a set; selectors and expressions (objects, which a
 * `set` list type would not merge under server-side apply) are compared by a CEL rule,
 * bounded by api/schemas.ts `LIMITS`.
 */
export function markSelectors(node: SchemaNode): void {
  if (node.type === "array" && node.items && isSelector(node.items as SchemaNode)) {
    node["x-kubernetes-validations"] = [NO_DUPLICATES("selector")] as unknown as YamlValue;
  }
  if (isSelector(node)) {
    const props = node.properties as Record<string, SchemaNode>;
    props.matchLabels.maxProperties = LIMITS.selectorLabels;
    props.matchExpressions["x-kubernetes-validations"] = [
      NO_DUPLICATES("match expression"),
    ] as unknown as YamlValue;
    const item = props.matchExpressions.items as SchemaNode;
    item["x-kubernetes-validations"] = EXPRESSION_RULES as unknown as YamlValue;
    const values = (item.properties as Record<string, SchemaNode>).values;
    values["x-kubernetes-list-type"] = "set";
  }
  for (const child of Object.values(node.properties as Record<string, SchemaNode> ?? {})) {
    markSelectors(child);
  }
  if (node.items) markSelectors(node.items as SchemaNode);
}

/** The node at `path` (`a.b`, `a[]`, `a[].b`) under a spec schema, if there is one. */
export function nodeAt(spec: SchemaNode, path: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = spec;
  for (const part of path.split(".")) {
    const items = part.endsWith("[]");
    const name = items ? part.slice(0, -2) : part;
    node = (node?.properties as Record<string, SchemaNode> | undefined)?.[name];
    if (items) node = node?.items as SchemaNode | undefined;
  }
  return node;
}
