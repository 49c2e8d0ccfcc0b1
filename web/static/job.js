"use strict";
// Job detail: spec, placement, events and the scheduler's explanation.
const id = S.pageID;
const seen = new Set();

function addEvent(t, text) {
  const key = t + text;
  if (seen.has(key)) return;
  seen.add(key);
  S.$("#events").append(S.el("li", {}, S.el("time", { datetime: t || "" }, S.when(t)), text));
}

const domainOf = {}; // node → high-bandwidth domain, where the server lists nodes

// learnDomains looks up the domains of the job's nodes in /v1/nodes.
async function learnDomains(j) {
  const sites = [...new Set(((j.placement && j.placement.assignments) || []).map((a) => a.site).filter((s) => s && !(("site:" + s) in domainOf)))];
  if (!sites.length || !(await S.has("/v1/nodes"))) return false;
  for (const site of sites) {
    domainOf["site:" + site] = true;
    for (const n of await S.nodes(site)) domainOf[n.id] = n.domain;
  }
  return true;
}

function show(j) {
  S.$("#job-state").replaceChildren(S.stateBadge(j.state));
  S.$("#job-summary").textContent = `${j.spec.name ? j.spec.name + " · " : ""}tenant ${j.spec.tenant} · ${S.shape(j.spec)}` + (j.reason ? ` · ${j.reason}` : "");
  const sp = j.spec, pairs = [["Tenant", sp.tenant], ["Kind", sp.kind], ["Priority", sp.priority || 0], ["Workers", sp.workers],
    ["Cards per worker", sp.cards_per_worker], ["Share", sp.share_milli ? (sp.share_milli / 1000).toFixed(3) + " card" : ""],
    ["Memory", sp.mem_mib ? S.int(sp.mem_mib) + " MiB" : ""], ["Models", (sp.models || []).join(", ")], ["Stacks", (sp.stacks || []).join(", ")],
    ["Regions", (sp.regions || []).join(", ")], ["Sites", (sp.sites || []).join(", ")], ["Topology", sp.topology ? sp.topology + (sp.topology_required ? " (required)" : "") : ""],
    ["Workload class", sp.workload_class], ["Classification", sp.classification], ["Runtime", sp.runtime_sec ? sp.runtime_sec + " s" : ""], ["Revision", j.revision]];
  S.$("#spec").replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== "" && v !== null).flatMap(([k, v]) => [S.el("dt", {}, k), S.el("dd", {}, String(v))]));
  const as = (j.placement && j.placement.assignments) || [];
  S.fill(S.$("#placement tbody"), as.map((a) => S.el("tr", {}, S.el("td", { class: "num" }, a.worker),
    S.el("td", {}, a.site ? S.el("a", { href: "/ui/sites/" + encodeURIComponent(a.site) }, a.site) : "–"), S.el("td", {}, domainOf[a.node] || "–"), S.el("td", {}, a.node), S.el("td", {}, a.model),
    S.el("td", {}, a.cards.join(", ")), S.el("td", { class: "num" }, a.share_milli ? (a.share_milli / 1000).toFixed(3) : "whole"))),
  j.state === "pending" || j.state === "blocked" ? "not placed yet: see the explanation below" : "no placement", 7);
  if (j.placement) S.$("#pl-h").textContent = `Placement · ${S.pf(j.placement.gflops)} PFLOPS FP16 held`;
  addEvent(j.submitted_at, "submitted");
  if (j.placed_at) addEvent(j.placed_at, `placed on ${as.length} worker${as.length === 1 ? "" : "s"}`);
  if (j.ended_at) addEvent(j.ended_at, j.state + (j.reason ? `: ${j.reason}` : ""));
  S.$("#cancel").hidden = !["pending", "blocked", "placed", "running"].includes(j.state);
  showRates(j);
}

// classRates is the job's workload class in /v1/throughput, by model
// (read once, when the job has reported progress).
let classRates = null;
async function learnClass(j) {
  if (classRates || !j.spec.workload_class || !(j.throughput || []).length) return false;
  classRates = {};
  for (const e of (await S.api("/v1/throughput")).entries || []) if (e.class === j.spec.workload_class) classRates[e.model] = e;
  return true;
}

// showRates: the job's observed rate per card on each model, beside its
// class's default and the rate the scheduler uses.
function showRates(j) {
  const rs = j.throughput || [];
  S.$("#rates-card").hidden = !rs.length;
  const fig = (v) => (v > 0 ? Number(v).toLocaleString("en", { maximumSignificantDigits: 4 }) : "–");
  S.fill(S.$("#rates tbody"), rs.map((r) => {
    const c = (classRates || {})[r.model] || {};
    return S.el("tr", { "data-model": r.model }, S.el("td", {}, r.model), S.el("td", { class: "num", "data-raw": r.rate }, fig(r.rate)),
      S.el("td", {}, c.unit ? c.unit : "units/s"), S.el("td", { class: "num" }, S.int(r.reports)), S.el("td", { class: "num" }, fig(r.work)),
      S.el("td", { class: "num" }, fig(r.seconds)), S.el("td", { class: "num" }, fig(c.default)), S.el("td", { class: "num" }, fig(c.rate)));
  }), "no progress reported", 8);
  S.$("#rates-note").textContent = "What the job's workers reported of their progress, per card on each model (the geometric mean of the reports)" +
    (j.spec.workload_class ? `, beside its workload class ${j.spec.workload_class} in /v1/throughput.` : "; the job names no workload class, so its reports teach only its own rate.");
}

// readable turns an explanation line into text: the API may send plain
// text or a JSON object (with a "text" field, or fields to list).
function readable(v) {
  if (typeof v !== "string" || !v.startsWith("{")) return typeof v === "string" ? v : JSON.stringify(v);
  try {
    const o = JSON.parse(v);
    if (o.text) return o.text;
    return Object.entries(o).map(([k, x]) => `${k.replaceAll("_", " ")}: ${typeof x === "object" ? JSON.stringify(x) : x}`).join(" · ");
  } catch { return v; }
}

let rejChart = null;
async function explain() {
  const e = await S.api(`/v1/jobs/${encodeURIComponent(id)}/explain`);
  S.$("#ex-summary").textContent = e.summary || `${e.job} is ${e.state}`;
  const rej = Object.entries(e.rejections || {}).sort((a, b) => b[1] - a[1]);
  S.fill(S.$("#rejections tbody"), rej.map(([r, n]) => S.el("tr", {}, S.el("td", {}, S.el("code", {}, r)), S.el("td", { class: "num" }, S.int(n)))), "no candidate was rejected", 2);
  S.$("#rej-chart").hidden = !rej.length;
  if (rej.length) {
    rejChart ||= S.chart(S.$("#rej-chart"), {});
    rejChart.resize();
    rejChart.setOption({ grid: { left: 170, right: 30, top: 10, bottom: 30 }, tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: S.axis({ type: "value" }), yAxis: S.axis({ type: "category", inverse: true, data: rej.map((r) => r[0]) }),
      series: [{ type: "bar", data: rej.map((r) => r[1]), itemStyle: { color: "#ff9f68" } }] }, true);
  }
  S.$("#ex-best").textContent = e.best ? readable(e.best) : "no partial candidate";
  S.fill(S.$("#ex-unblock"), (e.unblock || []).map((u) => S.el("li", {}, readable(u))), "nothing: it is not waiting");
  S.fill(S.$("#ex-details"), (e.details || []).map((u) => S.el("li", {}, readable(u))), "no details");
}

S.run(async (who) => {
  const j = await S.api("/v1/jobs/" + encodeURIComponent(id));
  show(j);
  if (await learnDomains(j).catch(() => false)) show(j);
  if (await learnClass(j).catch(() => false)) show(j);
  const btn = S.$("#explain"), box = S.$("#explanation");
  btn.addEventListener("click", async () => {
    const open = box.hidden;
    box.hidden = !open;
    btn.setAttribute("aria-expanded", String(open));
    btn.textContent = open ? "Hide explanation" : "Explain";
    if (open) { try { await explain(); box.dataset.loaded = "1"; } catch (e) { S.showError(e); } }
  });
  if (j.state === "pending" || j.state === "blocked") btn.click();
  S.$("#cancel").addEventListener("click", async () => {
    if (!confirm(`Cancel job ${id}? Its cards are freed.`)) return;
    try { show(await S.api(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" })); } catch (e) { S.showError(e); }
  });
  document.addEventListener("suanli:job", (ev) => {
    const nj = ev.detail.job;
    if (nj.id !== id) return;
    addEvent(new Date().toISOString(), `${nj.state}${nj.reason ? ": " + nj.reason : ""} (revision ${ev.detail.revision})`);
    show(nj);
    learnDomains(nj).then((more) => more && show(nj)).catch(() => {});
    learnClass(nj).then((more) => more && show(nj)).catch(() => {});
    if (!box.hidden) explain().catch(S.showError);
  });
});
