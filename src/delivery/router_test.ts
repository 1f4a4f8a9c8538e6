import assert from "node:assert/strict";
import { Router, type SrsReverser } from "./router.ts";

const accounts = new Map(
  [
    ["alice@a.example", undefined],
    ["bob@a.example", { target: "bob@elsewhere.example", keepCopy: false }],
    ["carol@a.example", { target: "carol@elsewhere.example", keepCopy: true }],
  ] as const,
);
const lookup = {
  get(address: string) {
    if (!accounts.has(address as never)) return undefined;
    const [local, domain] = address.split("@") as [string, string];
    return { address, local, domain };
  },
  forward: (address: string) => accounts.get(address as never),
};
const mailbox = (local: string) => ({ local, domain: "a.example", quoted: false });

function router(aliases: Record<string, string[]> = {}, srs?: SrsReverser) {
  return new Router(
    { domains: ["a.example", "b.example"], aliases: new Map(Object.entries(aliases)) },
    lookup,
    srs,
  );
}

Deno.test("Router: an alias with an external target forwards; the address stays local", () => {
  const r = router({
    "me@a.example": ["Me@gmail.example"],
    "team@a.example": ["alice@a.example", "x@elsewhere.example"],
  }).resolve(mailbox("me"));
  assert.deepEqual(r, {
    kind: "local",
    mailboxes: [],
    forwards: [{ target: "Me@gmail.example", via: "me@a.example", keepCopy: false }],
  });
  const team = router({ "team@a.example": ["alice@a.example", "x@elsewhere.example"] })
    .resolve(mailbox("team"));
  assert.equal(team.kind, "local");
  if (team.kind !== "local") return;
  assert.deepEqual(team.mailboxes.map((b) => b.address), ["alice@a.example"]);
  assert.deepEqual(team.forwards?.map((f) => f.target), ["x@elsewhere.example"]);
});

Deno.test("Router: a catch-all may forward; an account's forward, with and without a copy", () => {
  const r = router({ "@a.example": ["catch@elsewhere.example"] });
  const any = r.resolve(mailbox("whoever"));
  assert.equal(any.kind, "local");
  if (any.kind === "local") assert.equal(any.forwards?.[0]?.via, "@a.example");
  const bob = r.resolve(mailbox("bob"));
  assert.deepEqual(bob, {
    kind: "local",
    mailboxes: [],
    forwards: [{ target: "bob@elsewhere.example", via: "bob@a.example", keepCopy: false }],
  });
  const carol = r.resolve(mailbox("carol+tag"));
  assert.equal(carol.kind, "local");
  if (carol.kind !== "local") return;
  assert.deepEqual(carol.mailboxes.map((b) => b.address), ["carol@a.example"]);
  assert.deepEqual(carol.forwards?.map((f) => [f.target, f.keepCopy]), [
    ["carol@elsewhere.example", true],
  ]);
  // Plain accounts are untouched.
  assert.deepEqual(r.resolve(mailbox("alice")), {
    kind: "local",
    mailboxes: [{ address: "alice@a.example", local: "alice", domain: "a.example" }],
  });
});

Deno.test("Router: forwarding never makes a non-local domain local, nor a relay trick resolve", () => {
  const r = router({ "@a.example": ["catch@elsewhere.example"] });
  assert.equal(
    r.resolve({ local: "x", domain: "elsewhere.example", quoted: false }).kind,
    "nonlocal",
  );
  assert.equal(r.resolve(mailbox("x%elsewhere.example")).kind, "unknown");
  assert.equal(r.resolve({ local: "x@y", domain: "a.example", quoted: true }).kind, "unknown");
});

Deno.test("Router: SRS addresses reverse when they verify, else they are unknown", () => {
  const srs: SrsReverser = {
    reverse: (local) =>
      local === "SRS0=good=AB=orig.example=joe"
        ? { ok: true, address: "joe@orig.example" }
        : { ok: false, reason: "hash" },
  };
  const r = router({ "@a.example": ["catch@elsewhere.example"] }, srs);
  assert.deepEqual(r.resolve(mailbox("SRS0=good=AB=orig.example=joe")), {
    kind: "local",
    mailboxes: [],
    forwards: [{
      target: "joe@orig.example",
      via: "SRS0=good=AB=orig.example=joe@a.example",
      keepCopy: false,
      srsBounce: true,
    }],
  });
  // A forged one is refused even though a catch-all exists.
  const forged = r.resolve(mailbox("SRS0=bad=AB=orig.example=joe"));
  assert.equal(forged.kind, "unknown");
  // Without SRS configured, such a local part is an ordinary one.
  const plain = router({ "@a.example": ["catch@elsewhere.example"] })
    .resolve(mailbox("SRS0=bad=AB=orig.example=joe"));
  assert.equal(plain.kind, "local");
});

/** A router over {@link lookup} plus aliases stored in the account store. */
function storedAliasRouter(
  stored: Record<string, string[]>,
  aliases: Record<string, string[]> = {},
) {
  return new Router(
    { domains: ["a.example", "b.example"], aliases: new Map(Object.entries(aliases)) },
    { ...lookup, alias: (address: string) => stored[address] },
  );
}

Deno.test("Router: a stored alias reaches a local account, or forwards an external target", () => {
  const r = storedAliasRouter({
    "info@a.example": ["alice@a.example"],
    "out@a.example": ["Someone@elsewhere.example"],
    "both@b.example": ["alice@a.example", "x@elsewhere.example", "info@a.example"],
  });
  assert.deepEqual(r.resolve(mailbox("Info")), {
    kind: "local",
    mailboxes: [{ address: "alice@a.example", local: "alice", domain: "a.example" }],
  });
  assert.deepEqual(r.resolve(mailbox("out+tag")), {
    kind: "local",
    mailboxes: [],
    forwards: [{ target: "Someone@elsewhere.example", via: "out@a.example", keepCopy: false }],
  });
  const both = r.resolve({ local: "both", domain: "b.example", quoted: false });
  assert.equal(both.kind, "local");
  if (both.kind !== "local") return;
  assert.deepEqual(both.mailboxes.map((b) => b.address), ["alice@a.example"]);
  assert.deepEqual(both.forwards?.map((f) => f.target), ["x@elsewhere.example"]);
  assert.equal(r.resolve(mailbox("nobody")).kind, "unknown");
});

Deno.test("Router: the config's alias wins over a stored one; a stored catch-all applies last", () => {
  const r = storedAliasRouter(
    { "info@a.example": ["carol@a.example"], "@a.example": ["alice@a.example"] },
    { "info@a.example": ["bob@a.example"] },
  );
  const info = r.resolve(mailbox("info"));
  assert.equal(info.kind, "local");
  if (info.kind === "local") assert.deepEqual(info.forwards?.map((f) => f.via), ["bob@a.example"]);
  const any = r.resolve(mailbox("whoever"));
  assert.equal(any.kind, "local");
  if (any.kind === "local") {
    assert.deepEqual(any.mailboxes.map((b) => b.address), ["alice@a.example"]);
  }
  assert.equal(r.resolve(mailbox("whoever"), { catchAll: false }).kind, "unknown");
});

Deno.test("Router: a stored alias never makes a non-local domain relayable", () => {
  const asked: string[] = [];
  const r = new Router({ domains: ["a.example"], aliases: new Map() }, {
    ...lookup,
    alias(address: string) {
      asked.push(address);
      // As if someone had stored aliases for another domain behind postie's back.
      return ["alice@a.example"];
    },
  });
  for (const domain of ["elsewhere.example", "a.example.elsewhere.example", "example"]) {
    assert.equal(r.resolve({ local: "x", domain, quoted: false }).kind, "nonlocal", domain);
  }
  assert.equal(
    r.resolve({ local: "x", domain: "a.example", literal: "127.0.0.1", quoted: false }).kind,
    "nonlocal",
  );
  assert.equal(r.resolve(mailbox("x%elsewhere.example")).kind, "unknown");
  assert.equal(r.resolve(mailbox("host!x")).kind, "unknown");
  assert.deepEqual(asked, [], "no lookup for addresses outside the local domains");
});
