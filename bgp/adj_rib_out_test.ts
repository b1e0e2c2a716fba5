import assert from "node:assert/strict";
import {
  AdjRibOut,
  type AttributeEnv,
  buildPathAttributes,
  endOfRib,
  type Route,
} from "./adj_rib_out.ts";
import { encodeMessage, encodePathAttributes, MAX_MESSAGE_SIZE } from "./packets.ts";
import { formatPrefix, parsePrefix, prefixKey } from "./prefix.ts";
import { comparePrefix } from "./prefix_order.ts";
import type { Prefix, UpdateMessage } from "./types.ts";

const ctx = { fourOctetAs: true };
const ebgp: AttributeEnv = {
  ibgp: false,
  localAsn: 65001,
  nextHopV4: "192.0.2.1",
  nextHopV6: "2001:db8::1",
};
const both = { ctx, families: ["ipv4", "ipv6"] as ("ipv4" | "ipv6")[] };

function v4(i: number, len = 32): Prefix {
  return parsePrefix(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/${len}`);
}

function v6(i: number): Prefix {
  return parsePrefix(`2001:db8::${i.toString(16)}/128`);
}

function routes(prefixes: Prefix[], attributes: Route["attributes"] = {}): Route[] {
  return prefixes.map((prefix) => ({ prefix, attributes }));
}

function announcedOf(updates: UpdateMessage[]): string[] {
  return updates.flatMap((u) =>
    [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map(formatPrefix)
  );
}

function withdrawnOf(updates: UpdateMessage[]): string[] {
  return updates.flatMap((u) =>
    [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])].map(formatPrefix)
  );
}

Deno.test("diff: announce new, re-announce changed, withdraw gone, nothing twice", () => {
  const rib = new AdjRibOut();
  rib.setWanted([
    ...routes([v4(1)]),
    ...routes([v4(2)], { communities: [1] }),
    ...routes([v6(1)]),
  ]);
  assert.equal(rib.pendingCount(), 3);
  const first = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(first.updates).sort(), [
    "10.0.0.1/32",
    "10.0.0.2/32",
    "2001:db8::1/128",
  ]);
  assert.equal(rib.sentCount, 3);
  assert.equal(rib.pendingCount(), 0);
  assert.deepEqual(rib.takeUpdates(ebgp, both).updates, []);

  rib.setWanted([...routes([v4(2)], { communities: [2] }), ...routes([v4(3)])]);
  assert.equal(rib.pendingCount(), 4);
  const second = rib.takeUpdates(ebgp, both);
  assert.deepEqual(withdrawnOf(second.updates).sort(), ["10.0.0.1/32", "2001:db8::1/128"]);
  assert.deepEqual(announcedOf(second.updates).sort(), ["10.0.0.2/32", "10.0.0.3/32"]);
  const changed = second.updates.find((u) =>
    u.nlri.some((p) => formatPrefix(p) === "10.0.0.2/32")
  )!;
  assert.deepEqual(changed.attributes.communities, [2]);
  assert.equal(rib.sentCount, 2);
});

Deno.test("community order does not count as a change", () => {
  const rib = new AdjRibOut();
  rib.setWanted(
    routes([v4(1)], { communities: [5, 3, 3], largeCommunities: [[1, 2, 3], [0, 0, 1]] }),
  );
  const first = rib.takeUpdates(ebgp, both);
  assert.deepEqual(first.updates[0].attributes.communities, [3, 5]);
  rib.setWanted(routes([v4(1)], { communities: [3, 5], largeCommunities: [[0, 0, 1], [1, 2, 3]] }));
  assert.equal(rib.pendingCount(), 0);
  assert.deepEqual(rib.takeUpdates(ebgp, both).updates, []);
});

Deno.test("1,000 IPv4 /32s with one attribute set fill as few UPDATEs as 4096 bytes allow", () => {
  const attrs: Route["attributes"] = {
    communities: [0xfde80001, 0xfde80002],
    largeCommunities: [[65001, 1, 2]],
  };
  const rib = new AdjRibOut();
  const prefixes = Array.from({ length: 1000 }, (_, i) => v4(i));
  rib.setWanted(routes(prefixes, attrs));
  const { updates } = rib.takeUpdates(ebgp, both);
  const attrLen = encodePathAttributes(updates[0].attributes, ctx).length;
  // 19 header + 2 withdrawn length + 2 attribute length; a /32 NLRI takes 5 bytes.
  const perMessage = Math.floor((MAX_MESSAGE_SIZE - 23 - attrLen) / 5);
  assert.equal(updates.length, Math.ceil(1000 / perMessage));
  for (const u of updates) assert.ok(encodeMessage(u, ctx).length <= MAX_MESSAGE_SIZE);
  assert.equal(encodeMessage(updates[0], ctx).length, 23 + attrLen + perMessage * 5);
  assert.deepEqual(announcedOf(updates).sort(), prefixes.map(formatPrefix).sort());
});

Deno.test("1,000 IPv6 /128s pack into MP_REACH within 4096 bytes", () => {
  const rib = new AdjRibOut();
  const prefixes = Array.from({ length: 1000 }, (_, i) => v6(i + 1));
  rib.setWanted(routes(prefixes, { communities: [1] }));
  const { updates } = rib.takeUpdates(ebgp, both);
  const base = buildPathAttributes({ communities: [1] }, 2, ebgp);
  const baseLen = encodePathAttributes(base, ctx).length;
  // MP_REACH with extended length: 4 header + AFI/SAFI 3 + NH length 1 + NH 16 + reserved 1.
  const perMessage = Math.floor((MAX_MESSAGE_SIZE - 23 - baseLen - 25) / 17);
  assert.equal(updates.length, Math.ceil(1000 / perMessage));
  for (const u of updates) {
    assert.ok(encodeMessage(u, ctx).length <= MAX_MESSAGE_SIZE);
    assert.equal(u.nlri.length, 0);
    assert.equal(u.attributes.nextHop, undefined);
    assert.deepEqual(u.attributes.mpReach?.nextHops, ["2001:db8::1"]);
  }
  assert.equal(new Set(announcedOf(updates)).size, 1000);
});

Deno.test("withdrawals are packed too, IPv4 and IPv6", () => {
  const rib = new AdjRibOut();
  const p4 = Array.from({ length: 1000 }, (_, i) => v4(i));
  const p6 = Array.from({ length: 500 }, (_, i) => v6(i + 1));
  rib.setWanted(routes([...p4, ...p6]));
  rib.takeUpdates(ebgp, both);
  rib.setWanted([]);
  const { updates, withdrawn } = rib.takeUpdates(ebgp, both);
  assert.equal(withdrawn, 1500);
  const w4 = updates.filter((u) => u.withdrawn.length > 0);
  const w6 = updates.filter((u) => u.attributes.mpUnreach);
  assert.equal(w4.length, Math.ceil(1000 / Math.floor((MAX_MESSAGE_SIZE - 23) / 5)));
  assert.equal(w6.length, Math.ceil(500 / Math.floor((MAX_MESSAGE_SIZE - 23 - 7) / 17)));
  for (const u of updates) assert.ok(encodeMessage(u, ctx).length <= MAX_MESSAGE_SIZE);
  assert.equal(new Set(withdrawnOf(updates)).size, 1500);
  assert.equal(rib.sentCount, 0);
});

Deno.test("different attribute sets go in different UPDATEs", () => {
  const rib = new AdjRibOut();
  rib.setWanted([
    ...routes([v4(1), v4(2)], { localPref: 200 }),
    ...routes([v4(3)], { med: 5 }),
  ]);
  const { updates } = rib.takeUpdates(ebgp, both);
  assert.equal(updates.length, 2);
  const sizes = updates.map((u) => u.nlri.length).sort();
  assert.deepEqual(sizes, [1, 2]);
});

Deno.test("families not negotiated stay pending", () => {
  const rib = new AdjRibOut();
  rib.setWanted(routes([v4(1), v6(1)]));
  const { updates } = rib.takeUpdates(ebgp, { ctx, families: ["ipv4"] });
  assert.deepEqual(announcedOf(updates), ["10.0.0.1/32"]);
  assert.equal(rib.pendingCount(["ipv4", "ipv6"]), 1);
  assert.equal(rib.pendingCount(["ipv4"]), 0);
});

Deno.test("reset makes the whole table go out again", () => {
  const rib = new AdjRibOut();
  rib.setWanted(routes([v4(1), v4(2)]));
  rib.takeUpdates(ebgp, both);
  rib.reset();
  assert.equal(rib.sentCount, 0);
  const { updates } = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(updates).sort(), ["10.0.0.1/32", "10.0.0.2/32"]);
  assert.deepEqual(withdrawnOf(updates), []);
});

Deno.test("eBGP: AS_PATH [local], no LOCAL_PREF; iBGP: empty AS_PATH, LOCAL_PREF default 100", () => {
  const e = buildPathAttributes({ localPref: 300, med: 7 }, 1, ebgp);
  assert.deepEqual(e.asPath, [{ type: 2, asns: [65001] }]);
  assert.equal(e.localPref, undefined);
  assert.equal(e.origin, 0);
  assert.equal(e.nextHop, "192.0.2.1");
  assert.equal(e.med, 7);
  const ibgp = { ...ebgp, ibgp: true };
  const i = buildPathAttributes({}, 1, ibgp);
  assert.deepEqual(i.asPath, []);
  assert.equal(i.localPref, 100);
  assert.equal(buildPathAttributes({ localPref: 50 }, 2, ibgp).localPref, 50);
  assert.equal(buildPathAttributes({}, 2, ibgp).nextHop, undefined);
});

Deno.test("End-of-RIB markers encode as RFC 4724 says", () => {
  assert.equal(encodeMessage(endOfRib("ipv4"), ctx).length, 23);
  // MP_UNREACH with AFI 2 SAFI 1 and nothing else: 3 bytes header + 3 value.
  assert.equal(encodeMessage(endOfRib("ipv6"), ctx).length, 23 + 6);
});

Deno.test("routes with unencodable attributes are refused, the rest still go out", () => {
  const rib = new AdjRibOut();
  const rejected = rib.setWanted([
    ...routes([v4(1)], { extendedCommunities: [new Uint8Array(7)] }),
    ...routes([v4(2)], { communities: [2 ** 32] }),
    ...routes([v4(3)], { largeCommunities: [[1, -2, 3]] }),
    ...routes([v4(4)], { localPref: 1.5 }),
    ...routes([v4(5)], { extendedCommunities: [new Uint8Array(8)] }),
  ]);
  assert.deepEqual(rejected.map((r) => r.prefix), [
    "10.0.0.1/32",
    "10.0.0.2/32",
    "10.0.0.3/32",
    "10.0.0.4/32",
  ]);
  assert.match(rejected[0].reason, /extended community of 7 bytes/);
  assert.deepEqual(announcedOf(rib.takeUpdates(ebgp, both).updates), ["10.0.0.5/32"]);
});

Deno.test("full table restated with shared attribute objects: only the changes go out", () => {
  const rib = new AdjRibOut();
  const a = { communities: [7, 3, 7] };
  const b = { communities: [3, 7] }; // the same set as `a`, another object
  const table = [...routes([v4(1), v4(2), v4(3)], a), ...routes([v6(1)], b)];
  rib.setWanted(table);
  const first = rib.takeUpdates(ebgp, both);
  assert.equal(first.announced, 4);
  assert.equal(first.updates.length, 2, "one UPDATE per family for one attribute set");
  // The same objects again, in another order, plus one change and one removal.
  const next = [table[3], table[1], table[0], ...routes([v4(2)], { communities: [9] })];
  rib.setWanted(next);
  const second = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(second.updates), ["10.0.0.2/32"]);
  assert.deepEqual(withdrawnOf(second.updates), ["10.0.0.3/32"]);
  assert.deepEqual(second.updates.at(-1)?.attributes.communities, [9]);
  assert.equal(rib.sentCount, 3);
  // Stating the same table again sends nothing.
  rib.setWanted(next);
  assert.deepEqual(rib.takeUpdates(ebgp, both).updates, []);
  assert.equal(rib.pendingCount(), 0);
});

Deno.test("changes across several setWanted calls before one takeUpdates net out", () => {
  const rib = new AdjRibOut();
  const a = { med: 1 };
  rib.setWanted(routes([v4(1), v4(2)], a));
  rib.takeUpdates(ebgp, both);
  rib.setWanted(routes([v4(1)], a)); // v4(2) gone …
  rib.setWanted(routes([v4(1), v4(2)], a)); // … and back with the same attributes
  rib.setWanted(routes([v4(1), v4(3)], { med: 2 }));
  rib.setWanted(routes([v4(1), v4(3)], a));
  const t = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(t.updates), ["10.0.0.3/32"]);
  assert.deepEqual(withdrawnOf(t.updates), ["10.0.0.2/32"]);
  assert.equal(t.updates.find((u) => u.nlri.length)?.attributes.med, 1);
});

Deno.test("a table restated with mostly the same Route objects sends exactly the difference", () => {
  const a = { communities: [1] };
  const b = { communities: [2] };
  const table = [...routes([1, 2, 3, 4, 5, 6].map((i) => v4(i)), a), ...routes([v6(1)], a)];
  const rib = new AdjRibOut();
  rib.setWanted(table);
  assert.equal(announcedOf(rib.takeUpdates(ebgp, both).updates).length, 7);
  // Same objects except: 10.0.0.2 gone, 10.0.0.4 with other attributes, 10.0.0.7 and an
  // IPv6 prefix new, and the last route gone.
  const next = [
    table[0],
    table[2],
    { prefix: table[3].prefix, attributes: b },
    table[4],
    table[5],
    ...routes([v4(7)], a),
    ...routes([v6(0)], a),
  ];
  rib.setWanted(next);
  assert.equal(rib.pendingCount(), 5);
  const t = rib.takeUpdates(ebgp, both);
  assert.deepEqual(withdrawnOf(t.updates).sort(), ["10.0.0.2/32", "2001:db8::1/128"]);
  assert.deepEqual(announcedOf(t.updates).sort(), ["10.0.0.4/32", "10.0.0.7/32", "2001:db8::/128"]);
  assert.equal(rib.sentCount, 7);
  assert.equal(rib.pendingCount(), 0);
  // The same table again sends nothing; an unordered one with the same content neither.
  rib.setWanted(next.slice());
  assert.equal(rib.takeUpdates(ebgp, both).updates.length, 0);
  rib.setWanted([...next].reverse());
  assert.equal(rib.takeUpdates(ebgp, both).updates.length, 0);
  // After the unordered table, identity diffs resume from a fresh ordered one.
  rib.setWanted(next.slice(1));
  assert.deepEqual(withdrawnOf(rib.takeUpdates(ebgp, both).updates), ["10.0.0.1/32"]);
});

Deno.test("a refused route in a restated table withdraws what the prefix had", () => {
  const rib = new AdjRibOut();
  const table = routes([v4(1), v4(2)], { communities: [1] });
  rib.setWanted(table);
  rib.takeUpdates(ebgp, both);
  const rejected = rib.setWanted([table[0], { prefix: v4(2), attributes: { localPref: -1 } }]);
  assert.equal(rejected.length, 1);
  assert.deepEqual(withdrawnOf(rib.takeUpdates(ebgp, both).updates), ["10.0.0.2/32"]);
  // Still refused when restated (the log keeps saying so), and nothing more is sent.
  assert.equal(
    rib.setWanted([table[0], { prefix: v4(2), attributes: { localPref: -1 } }]).length,
    1,
  );
  assert.equal(rib.takeUpdates(ebgp, both).updates.length, 0);
});

/** A small deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a peer holds after applying `updates`: prefix text to its MED (or -1 without). */
function applyToPeer(peer: Map<string, number>, updates: UpdateMessage[]): void {
  for (const u of updates) {
    for (const p of [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])]) {
      peer.delete(formatPrefix(p));
    }
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) {
      peer.set(formatPrefix(p), u.attributes.med ?? -1);
    }
  }
}

Deno.test("random tables, emptied tables, resets, limits and held tails: the peer ends with exactly the table", () => {
  for (let seed = 1; seed <= Number(Deno.env.get("RIB_SEEDS") ?? 60); seed++) {
    const rand = rng(seed);
    const pick = (n: number) => Math.floor(rand() * n);
    const prefixes = [...Array.from({ length: 300 }, (_, i) => v4(i)), ...[1, 2, 3].map(v6)];
    const attrs = [{}, { med: 1 }, { med: 2 }, { med: -1 }];
    // Low thresholds: tables restated with new attribute sets are kept whole (rib_bulk.ts).
    const rib = new AdjRibOut({ bulkMinChanged: seed % 3 === 0 ? undefined : 1 + pick(40) });
    const peer = new Map<string, number>();
    let wanted = new Map<string, number>();
    let last: Route[] = [];
    for (let step = 0; step < 30; step++) {
      const op = pick(5);
      if (op === 0 || op === 4) {
        let table: Route[] = [];
        // A stop, or a peer whose routes all go: the table emptied at once.
        const emptied = rand() < 0.25;
        if (op === 4) {
          // Often after everything went out (a drain at a stop follows a settled table).
          if (rand() < 0.6) applyToPeer(peer, rib.takeUpdates(ebgp, both).updates);
          // The same prefixes, most with other attribute sets (a drain, an advertisement
          // changed); some Route objects kept as they were.
          // Mostly valid sets: one refused route makes the RIB diff the table instead.
          const sets = rand() < 0.8 ? attrs.slice(0, 3) : attrs;
          table = last.map((r) => rand() < 0.2 ? r : { ...r, attributes: sets[pick(sets.length)] });
        } else {
          for (const prefix of prefixes) {
            if (!emptied && rand() < 0.6) {
              table.push({ prefix, attributes: attrs[pick(attrs.length)] });
            }
          }
        }
        // What the RIB keeps: the valid routes in prefix order.
        last = table.filter((r) => r.attributes.med !== -1)
          .sort((a, b) => comparePrefix(a.prefix, b.prefix));
        if (rand() < 0.3) table.sort(() => rand() - 0.5);
        rib.setWanted(table);
        wanted = new Map();
        for (const r of table) {
          if (r.attributes.med === -1) wanted.delete(formatPrefix(r.prefix));
          else wanted.set(formatPrefix(r.prefix), r.attributes.med ?? -1);
        }
      } else if (op === 1) {
        rib.reset();
        peer.clear();
      } else {
        const families: ("ipv4" | "ipv6")[] = rand() < 0.2 ? ["ipv4"] : ["ipv4", "ipv6"];
        const holdTails = (["none", "bulky", "all"] as const)[pick(3)];
        const limit = rand() < 0.3 ? undefined : 1 + pick(200);
        const taken = rib.takeUpdates(ebgp, { ctx, families, holdTails, limit });
        applyToPeer(peer, taken.updates);
      }
      assert.equal(rib.sentCount, peer.size, `seed ${seed} step ${step}: sentCount`);
      for (const families of [["ipv4"], ["ipv6"], ["ipv4", "ipv6"]] as const) {
        let pending = [...peer.keys()].filter((p) => !wanted.has(p)).length;
        for (const [p, med] of wanted) {
          const family = p.includes(":") ? "ipv6" : "ipv4";
          if ((families as readonly string[]).includes(family) && peer.get(p) !== med) pending++;
        }
        assert.equal(rib.pendingCount([...families]), pending, `seed ${seed} step ${step}`);
      }
      assert.equal(rib.wantedCount, wanted.size, `seed ${seed} step ${step}: wantedCount`);
    }
    for (let more = true; more;) {
      const taken = rib.takeUpdates(ebgp, { ...both, limit: 50 });
      applyToPeer(peer, taken.updates);
      more = taken.more;
    }
    assert.deepEqual(new Map([...peer].sort()), new Map([...wanted].sort()), `seed ${seed}`);
    assert.equal(rib.pendingCount(), 0);
    assert.equal(rib.sentCount, wanted.size);
    for (const prefix of prefixes) {
      const want = wanted.has(formatPrefix(prefix)) ? "sent" : "absent";
      assert.equal(rib.routeState(prefixKey(prefix)), want, `seed ${seed} ${formatPrefix(prefix)}`);
    }
  }
});

Deno.test("a table grown past its end sends just the new tail, with a withdrawal owed there", () => {
  const rib = new AdjRibOut();
  const first = routes([v4(1), v4(2), v4(3)]);
  rib.setWanted(first);
  rib.takeUpdates(ebgp, both);
  assert.equal(rib.pendingCount(), 0);
  // Grown batch by batch, as a cold start does: only the appended prefixes are pending.
  const grown = [...first, ...routes([v4(4), v4(5), v6(1)])];
  rib.setWanted(grown);
  assert.equal(rib.pendingCount(), 3);
  assert.equal(rib.routeState(prefixKey(v4(3))), "sent");
  assert.equal(rib.routeState(prefixKey(v4(5))), "pending");
  const second = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(second.updates), ["10.0.0.4/32", "10.0.0.5/32", "2001:db8::1/128"]);
  assert.deepEqual(withdrawnOf(second.updates), []);
  assert.equal(rib.routeState(prefixKey(v6(1))), "sent");
  assert.equal(rib.pendingCount(), 0);
  assert.equal(rib.sentCount, 6);
  // v4(5) and v6(1) leave (their withdrawals not yet sent), then v4(5) comes back changed
  // with a new tail after it: the withdrawals owed past the old end keep the diff in charge.
  const kept = routes([v4(1), v4(2), v4(3), v4(4)]);
  rib.setWanted(kept);
  rib.setWanted([...kept, ...routes([v4(5)], { communities: [7] }), ...routes([v4(6)])]);
  assert.equal(rib.routeState(prefixKey(v4(5))), "pending");
  // A prefix itself is asked about as its key is.
  assert.equal(rib.routeState(v4(5)), "pending");
  assert.equal(rib.routeState(v4(9)), "absent");
  assert.equal(rib.pendingCount(), 3);
  const third = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(third.updates).sort(), ["10.0.0.5/32", "10.0.0.6/32"]);
  assert.deepEqual(withdrawnOf(third.updates), ["2001:db8::1/128"]);
  assert.equal(rib.pendingCount(), 0);
  assert.equal(rib.routeState(prefixKey(v4(5))), "sent");
  assert.equal(rib.routeState(v4(5)), "sent");
  assert.equal(rib.routeState(v4(3)), "sent");
});

Deno.test("a table is copied unless handed over, so the caller may reuse its list", () => {
  const table = ["10.0.0.1/32", "10.0.0.2/32"].map((p) => ({
    prefix: parsePrefix(p),
    attributes: { communities: [1] },
  }));
  const copied = new AdjRibOut();
  const list = table.slice();
  copied.setWanted(list);
  list.length = 0;
  assert.equal(copied.wantedCount, 2);
  const kept = new AdjRibOut();
  const handed = table.slice();
  kept.setWanted(handed, { owned: true });
  assert.equal(kept.wantedCount, 2);
  assert.deepEqual(
    kept.takeUpdates(ebgp, both).updates.flatMap((u) => u.nlri.map(formatPrefix)),
    ["10.0.0.1/32", "10.0.0.2/32"],
  );
  // Kept as it is: the list is the table (which is why an owner must not change it).
  handed.pop();
  assert.equal(kept.wantedCount, 1);
});

Deno.test("a table emptied at once withdraws each prefix the peer has, once, with its own Prefix objects", () => {
  const rib = new AdjRibOut();
  const table = [...routes(Array.from({ length: 2000 }, (_, i) => v4(i))), ...routes([v6(1)])];
  rib.setWanted(table.slice(0, 1000));
  rib.takeUpdates(ebgp, both);
  // The rest appended and not sent yet: the unsent part, which the peer never had.
  rib.setWanted(table);
  assert.equal(rib.sentCount, 1000);
  assert.equal(rib.pendingCount(), 1001);
  rib.setWanted([]);
  assert.equal(rib.wantedCount, 0);
  assert.equal(rib.pendingCount(), 1000);
  assert.equal(rib.routeState(v4(5)), "absent");
  const ownPrefixes = new Set(table.map((r) => r.prefix));
  const withdrawn: string[] = [];
  for (let more = true; more;) {
    const taken = rib.takeUpdates(ebgp, { ...both, limit: 300 });
    for (const u of taken.updates) {
      // The table's own objects: nothing is made per prefix to withdraw 100,000s of them.
      assert.ok(u.withdrawn.every((p) => ownPrefixes.has(p)));
    }
    withdrawn.push(...withdrawnOf(taken.updates));
    assert.equal(rib.pendingCount(), 1000 - withdrawn.length);
    more = taken.more;
  }
  assert.deepEqual(withdrawn, table.slice(0, 1000).map((r) => formatPrefix(r.prefix)));
  assert.equal(rib.sentCount, 0);
  assert.deepEqual(rib.takeUpdates(ebgp, both).updates, []);
});

Deno.test("a table wanted again while an emptied one is being withdrawn sends only the difference", () => {
  const rib = new AdjRibOut();
  const table = routes(Array.from({ length: 10 }, (_, i) => v4(i)));
  rib.setWanted(table);
  rib.takeUpdates(ebgp, both);
  rib.setWanted([]);
  rib.setWanted([]);
  assert.equal(rib.pendingCount(), 10);
  // Four withdrawals go out, then the table comes back in part, one route changed.
  const first = rib.takeUpdates(ebgp, { ...both, limit: 4 });
  assert.deepEqual(
    withdrawnOf(first.updates),
    table.slice(0, 4).map((r) => formatPrefix(r.prefix)),
  );
  assert.ok(first.more);
  const back = [table[0], table[5], ...routes([v4(6)], { med: 5 }), table[7]];
  rib.setWanted(back);
  const second = rib.takeUpdates(ebgp, both);
  assert.deepEqual(announcedOf(second.updates).sort(), ["10.0.0.0/32", "10.0.0.6/32"]);
  assert.deepEqual(withdrawnOf(second.updates).sort(), [
    "10.0.0.4/32",
    "10.0.0.8/32",
    "10.0.0.9/32",
  ]);
  assert.equal(rib.sentCount, 4);
  assert.equal(rib.pendingCount(), 0);
  for (const r of back) assert.equal(rib.routeState(r.prefix), "sent");
});
