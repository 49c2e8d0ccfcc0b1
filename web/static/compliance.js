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

// Shapes the policy engine reports (policy.Report, policy.Advisory);
// anything else falls back to generic tables.
const permille = (n) => S.permilleText(n || 0);
const cardsM = (m) => S.int(Math.round((m || 0) / 1000));
// Times come as RFC 3339 text or Unix seconds.
const unix = (t) => (!t ? "–" : typeof t === "string" ? S.when(t) : S.when(t > 1e12 ? t : t * 1000));
const table = (caption, head, rows, empty) => S.el("table", { class: "data" }, S.el("caption", { class: "sr-only" }, caption),
  S.el("thead", {}, S.el("tr", {}, head.map((h) => S.el("th", { scope: "col", class: h.endsWith(" ") ? "num" : undefined }, h.trim())))),
  S.el("tbody", {}, rows.length ? rows : [S.el("tr", {}, S.el("td", { colspan: head.length, class: "muted" }, empty))]));
const td = (v, num) => S.el("td", num ? { class: "num" } : {}, v);

function renderReport(node, r) {
  if (!r || typeof r !== "object" || !r.installed || !r.allocated) return generic(node, r);
  const share = (x) => `${permille(x.domestic_permille || 0)} (${S.ef(x.domestic_gflops || 0)} of ${S.ef(x.gflops || 0)} EF)`;
  const parts = [
    S.el("dl", { class: "kpis" },
      S.el("div", {}, S.el("dt", {}, "Domestic share, installed"), S.el("dd", { id: "cr-installed" }, permille(r.installed.domestic_permille || 0))),
      S.el("div", {}, S.el("dt", {}, "Domestic share, allocated"), S.el("dd", { id: "cr-allocated" }, permille(r.allocated.domestic_permille || 0))),
      S.el("div", {}, S.el("dt", {}, "Violations"), S.el("dd", { id: "cr-violations" }, S.int((r.violations || []).length))),
      S.el("div", {}, S.el("dt", {}, "Exempted"), S.el("dd", {}, S.int((r.exempted || []).length)))),
    S.el("p", { class: "muted" }, `Policy ${r.policy_name || ""} v${r.policy_version ?? "?"} · computed ${unix(r.at)} · installed ${share(r.installed)} · allocated ${share(r.allocated)}`),
  ];
  for (const [key, title] of [["by_operator", "By operator"], ["by_site", "By site"], ["by_tenant_class", "By tenant class"]]) {
    const gs = r[key] || [];
    if (!gs.length) continue;
    parts.push(S.el("h3", {}, title), table(title, ["Group", "Installed domestic ", "Allocated domestic ", "Allocated cards "],
      gs.map((g) => S.el("tr", {}, td(g.key), td(g.installed ? permille(g.installed.domestic_permille || 0) : "–", 1),
        td(permille(g.allocated.domestic_permille || 0), 1), td(cardsM(g.allocated.cards_milli), 1))), "none"));
  }
  const vrow = (v) => S.el("tr", {}, td(v.job ? S.jobLink(v.job) : "–"), td(v.tenant || "–"), td(v.classification || ""), td(S.el("code", {}, v.rule || "")),
    td(v.source || ""), td(cardsM(v.cards_milli), 1), td(v.explanation || v.note || ""), td(v.exemption ? `${v.exemption} until ${unix(v.exempt_until)}` : ""));
  const vhead = ["Job", "Tenant", "Class", "Rule", "Source", "Cards ", "Why", "Exemption"];
  parts.push(S.el("h3", {}, "Violations"), table("Placements that break a rule or an advisory", vhead, (r.violations || []).map(vrow), "no violations"));
  if ((r.exempted || []).length) parts.push(S.el("h3", {}, "Exempted"), table("Violations under an exemption", vhead, r.exempted.map(vrow), "none"));
  if ((r.advisories || []).length) {
    parts.push(S.el("h3", {}, "Advisories in force"), table("Advisories and the capacity they touch", ["Advisory", "Severity", "Action", "Cards ", "Running jobs ", "Summary"],
      r.advisories.map((a) => S.el("tr", {}, td(S.el("code", {}, a.id)), td(S.el("span", { class: "state " + sevClass(a.severity) }, a.severity)), td(a.action),
        td(S.int(a.cards), 1), td(S.int(a.running_jobs), 1), td(a.summary || ""))), "none"));
  }
  for (const w of r.warnings || []) parts.push(S.el("p", { class: "notice" }, w));
  node.replaceChildren(...parts);
}

function sevClass(s) { return s === "critical" || s === "high" ? "failed" : s === "medium" ? "pending" : "placed"; }

function renderAdvisories(node, body) {
  const list = Array.isArray(body) ? body : body && (body.advisories || body.items);
  if (!Array.isArray(list) || list.some((a) => !a || !a.id || !a.action)) return generic(node, body);
  node.replaceChildren(table("Advisories", ["Advisory", "Severity", "Action", "Applies to", "Filed", "Lifted", "Summary"],
    list.map((a) => S.el("tr", { "data-advisory": a.id }, td(S.el("code", {}, a.id)), td(S.el("span", { class: "state " + sevClass(a.severity) }, a.severity || "")), td(a.action),
      td([a.vendor, (a.models || []).join(", "), a.firmware && "firmware " + a.firmware, a.driver && "driver " + a.driver, (a.classes || []).length && "classes " + a.classes.join(", ")].filter(Boolean).join(" · ") || "everything"),
      td(`${unix(a.filed)}${a.filed_by ? " by " + a.filed_by : ""}`), td(a.lifted ? `${unix(a.lifted)}${a.lifted_by ? " by " + a.lifted_by : ""}` : "in force"), td(a.summary || ""))),
    "no advisories filed"));
}

async function panel(id, paths, render) {
  const node = S.$("#" + id);
  for (const p of paths) {
    if (await S.has(p)) {
      try { render(node, await S.api(p)); } catch (e) {
        node.replaceChildren(e.status === 403 ? S.el("p", { class: "notice" }, `${p} is for operators and admins; this token may not read it.`)
          : S.el("p", { class: "error" }, `${p}: ${e.message}`));
      }
      return;
    }
  }
  node.replaceChildren(S.el("p", { class: "notice" }, `This server does not serve ${paths.join(" or ")} yet; nothing to show.`));
}

S.run(async () => {
  const cap = await S.api("/v1/capacity");
  const ai = cap.ai;
  S.fill(S.$("#origin tbody"), (cap.breakdowns.origin || []).map((b) => S.el("tr", { "data-origin": b.key }, S.el("td", {}, b.key), S.el("td", { class: "num" }, S.int(b.cards)),
    S.el("td", { class: "num" }, S.ef(b.gflops) + " EF"), S.el("td", { class: "num" }, S.pct(b.gflops, ai.gflops)),
    S.el("td", { class: "num" }, S.ef(b.allocated_gflops) + " EF"), S.el("td", { class: "num" }, S.pct(b.allocated_gflops, ai.allocated_gflops)))), "no capacity", 6);
  await Promise.all([panel("compliance", ["/v1/compliance", "/v1/compliance/report"], renderReport), panel("advisories", ["/v1/advisories"], renderAdvisories)]);
});
