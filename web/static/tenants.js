"use strict";
// Queues and tenants: quota, allocation, fair share and waiting jobs.
async function load(who) {
  const [cap, all] = await Promise.all([S.api("/v1/capacity"), S.jobs()]);
  let tenants;
  if (who.role === "tenant") tenants = [await S.api("/v1/tenants/" + encodeURIComponent(who.tenant))];
  else tenants = await S.api("/v1/tenants");
  const totalWeight = tenants.reduce((a, t) => a + (t.weight || 1), 0);
  const per = {};
  for (const j of all) {
    const p = (per[j.spec.tenant] ||= { alloc: 0, running: 0, waiting: 0 });
    if (j.state === "placed" || j.state === "running") { p.alloc += (j.placement && j.placement.gflops) || 0; p.running++; }
    if (j.state === "pending" || j.state === "blocked") p.waiting++;
  }
  const month = new Date().toISOString().slice(0, 7);
  const usage = await Promise.all(tenants.map((t) => S.api(`/v1/usage?tenant=${encodeURIComponent(t.id)}&month=${month}`).catch(() => null)));
  const rows = tenants.map((t, i) => {
    const p = per[t.id] || { alloc: 0, running: 0, waiting: 0 };
    const share = (t.weight || 1) / totalWeight;
    const of = t.quota_gflops ? p.alloc / t.quota_gflops : 0;
    const bar = t.quota_gflops ? S.el("span", {}, S.el("span", { class: "bar" + (of > 1 ? " over" : ""), role: "img", "aria-label": `${(100 * of).toFixed(1)}% of quota` },
      S.el("i", { style: `width:${Math.min(100, 100 * of).toFixed(1)}%` })), `${(100 * of).toFixed(1)}%`) : S.el("span", { class: "muted" }, "no quota");
    const u = usage[i];
    return S.el("tr", { "data-tenant": t.id }, S.el("td", {}, t.name ? `${t.name} ` : "", S.el("code", {}, t.id)), S.el("td", {}, t.class),
      S.el("td", { class: "num" }, t.weight || 1), S.el("td", { class: "num" }, t.quota_gflops ? S.pf(t.quota_gflops) + " PF" : "–"),
      S.el("td", { class: "num alloc" }, S.pf(p.alloc) + " PF"), S.el("td", {}, bar),
      S.el("td", { class: "num" }, `${(100 * share).toFixed(1)}% · ${S.pf(share * cap.ai.gflops)} PF`),
      S.el("td", { class: "num" }, p.running), S.el("td", { class: "num" }, p.waiting),
      S.el("td", { class: "num" }, u ? (u.pflop_hours_milli / 1000).toFixed(3) : "–"));
  });
  S.fill(S.$("#tenants tbody"), rows, "no tenants", 10);
  costTables(tenants, usage);
  const waiting = all.filter((j) => j.state === "pending" || j.state === "blocked").sort((a, b) => a.submitted_at.localeCompare(b.submitted_at));
  S.fill(S.$("#waiting tbody"), waiting.slice(0, 500).map((j) => S.el("tr", {}, S.el("td", {}, S.jobLink(j.id)), S.el("td", {}, j.spec.tenant),
    S.el("td", {}, S.stateBadge(j.state)), S.el("td", { class: "num" }, j.spec.priority || 0), S.el("td", {}, S.shape(j.spec)),
    S.el("td", {}, S.when(j.submitted_at)), S.el("td", {}, j.reason || ""))), "no job is waiting", 7);
}

// costTables puts each tenant's metered use beside what it cost, and the
// same summed by site. Every figure is the API's integer in thousandths
// (card_hours_milli, kwh_milli …) or fen; each cell keeps it in
// data-raw.
const USE = [["card_hours_milli", 1000, 1], ["pflop_hours_milli", 1000, 3], ["kwh_milli", 1000, 1], ["kg_co2_milli", 1000, 1], ["energy_fen", 100, 2], ["cost_fen", 100, 2]];
function costRow(key, attrs, label, u) {
  const cells = USE.map(([f, div, dp]) => S.el("td", { class: "num", "data-field": f, "data-raw": u[f] || 0 },
    ((u[f] || 0) / div).toLocaleString("en", { minimumFractionDigits: dp, maximumFractionDigits: dp })));
  const per = u.pflop_hours_milli > 0 ? (u.cost_fen / 100 / (u.pflop_hours_milli / 1000)).toFixed(2) : "–";
  return S.el("tr", { [key]: attrs }, S.el("td", {}, label), ...cells, S.el("td", { class: "num" }, per));
}
function costTables(tenants, usage) {
  const rows = [], sites = {};
  tenants.forEach((t, i) => {
    const u = usage[i];
    if (!u) return;
    rows.push(costRow("data-tenant", t.id, S.el("code", {}, t.id), u));
    for (const l of u.lines || []) {
      const s = (sites[l.site] ||= {});
      for (const [f] of USE) s[f] = (s[f] || 0) + (l[f] || 0);
    }
  });
  S.fill(S.$("#cost tbody"), rows, "no usage this month", 8);
  S.fill(S.$("#cost-sites tbody"), Object.keys(sites).sort().map((id) => costRow("data-site", id, S.el("a", { href: "/ui/sites/" + encodeURIComponent(id) }, id), sites[id])),
    "no usage this month", 8);
  S.$("#cost").dataset.loaded = "1";
}

S.run(async (who) => {
  await load(who);
  S.onJobs(() => load(who).catch(S.showError), 1500);
});
