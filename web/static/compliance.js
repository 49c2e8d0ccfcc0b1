"use strict";
// Advisories and compliance: the domestic share from /v1/capacity, and the
// policy endpoints' reports where the server serves them.
function generic(node, data) {
  // Render whatever the endpoint returns as tables: arrays of objects become
  // rows, objects become key/value pairs.
  if (Array.isArray(data)) {
    if (!data.length) return node.replaceChildren(S.el("p", { class: "muted" }, "none"));
    const cols = [...new Set(data.flatMap((r) => (r && typeof r === "object" ? Object.keys(r) : [])))];
    const cell = (v) => (v && typeof v === "object" ? JSON.stringify(v) : v ?? "");
    return node.replaceChildren(S.el("table", { class: "data" }, S.el("thead", {}, S.el("tr", {}, cols.map((c) => S.el("th", { scope: "col" }, c)))),
      S.el("tbody", {}, data.map((r) => S.el("tr", {}, cols.map((c) => S.el("td", {}, cell(r[c]))))))));
  }
  if (data && typeof data === "object") {
    const dl = S.el("dl", { class: "pairs" });
    const rest = [];
    for (const [k, v] of Object.entries(data)) {
      if (Array.isArray(v) && v.length && typeof v[0] === "object") { rest.push([k, v]); continue; }
      dl.append(S.el("dt", {}, k), S.el("dd", {}, v && typeof v === "object" ? JSON.stringify(v) : String(v)));
    }
    node.replaceChildren(dl);
    for (const [k, v] of rest) { const d = S.el("div"); generic(d, v); node.append(S.el("h3", {}, k), d); }
    return;
  }
  node.replaceChildren(S.el("p", {}, String(data)));
}

async function panel(id, paths) {
  const node = S.$("#" + id);
  for (const p of paths) {
    if (await S.has(p)) {
      try { generic(node, await S.api(p)); } catch (e) { node.replaceChildren(S.el("p", { class: "error" }, `${p}: ${e.message}`)); }
      return;
    }
  }
  node.replaceChildren(S.el("p", { class: "notice" }, `This server does not serve ${paths.join(" or ")} yet; nothing to show.`));
}

S.run(async () => {
  const cap = await S.api("/v1/capacity");
  const ai = cap.ai;
  S.fill(S.$("#origin tbody"), (cap.breakdowns.origin || []).map((b) => S.el("tr", {}, S.el("td", {}, b.key), S.el("td", { class: "num" }, S.int(b.cards)),
    S.el("td", { class: "num" }, S.ef(b.gflops) + " EF"), S.el("td", { class: "num" }, S.pct(b.gflops, ai.gflops)),
    S.el("td", { class: "num" }, S.ef(b.allocated_gflops) + " EF"), S.el("td", { class: "num" }, S.pct(b.allocated_gflops, ai.allocated_gflops)))), "no capacity", 6);
  await Promise.all([panel("compliance", ["/v1/compliance"]), panel("advisories", ["/v1/advisories"])]);
});
