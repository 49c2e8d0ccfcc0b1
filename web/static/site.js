"use strict";
// Site page: the site's capacity, its nodes as a heat map of card
// allocation and health (where the server lists nodes) and its live jobs.
let heatChart = null;

async function heat(site) {
  const note = S.$("#heat-note");
  if (!(await S.has("/v1/nodes"))) {
    S.$("#heat").hidden = true;
    note.replaceChildren(S.el("span", { class: "notice" }, "This server does not list nodes (no /v1/nodes endpoint), so the per-node heat map is not available. Capacity and jobs below come from /v1/capacity and /v1/jobs."));
    return;
  }
  const nodes = (await S.nodes(site)).sort((a, b) => (a.domain + a.id).localeCompare(b.domain + b.id));
  const domains = [...new Set(nodes.map((n) => n.domain || "(none)"))];
  const cols = Math.max(1, ...domains.map((d) => nodes.filter((n) => (n.domain || "(none)") === d).length));
  const data = [], idx = {};
  for (const n of nodes) {
    const d = n.domain || "(none)";
    const x = (idx[d] = (idx[d] ?? -1) + 1);
    const used = n.cards ? n.allocMilli / (10 * n.cards) : 0; // percent
    data.push({ value: [x, domains.indexOf(d), n.healthy ? Math.round(used) : -1], node: n });
  }
  const unhealthy = nodes.filter((n) => !n.healthy).length;
  note.textContent = `${S.int(nodes.length)} nodes in ${S.int(domains.length)} domains; ${unhealthy} unhealthy. Colour: share of each node's cards allocated; red outline: unhealthy.`;
  const rows = Math.min(domains.length, 400);
  S.$("#heat").style.height = Math.max(240, Math.min(1600, 40 + rows * 14)) + "px";
  heatChart ||= S.chart(S.$("#heat"), {});
  heatChart.resize();
  heatChart.setOption({
    tooltip: { formatter: (p) => { const n = p.data.node; return `${n.id} · ${n.domain}<br>${n.model}, ${n.cards} cards<br>${(n.allocMilli / 1000).toFixed(3)} cards allocated<br>state: ${n.state}`; } },
    grid: { left: 150, right: 20, top: 10, bottom: 60 },
    xAxis: S.axis({ type: "category", data: [...Array(cols).keys()].map(String), name: "node in domain", nameLocation: "middle", nameGap: 28, splitArea: { show: false } }),
    yAxis: S.axis({ type: "category", data: domains, axisLabel: { color: "#a9b7c9", fontSize: 10, width: 140, overflow: "truncate" } }),
    visualMap: { type: "piecewise", orient: "horizontal", left: "center", bottom: 0, textStyle: { color: "#a9b7c9" }, dimension: 2,
      pieces: [{ value: -1, label: "unhealthy", color: "#ff7b72" }, { min: 0, max: 0, label: "idle", color: "#24364d" },
        { gt: 0, lte: 50, label: "≤50%", color: "#2f7fc1" }, { gt: 50, lt: 100, label: "50–99%", color: "#5cb3ff" }, { min: 100, label: "full", color: "#ffd166" }] },
    series: [{ type: "heatmap", data, itemStyle: { borderColor: "#0e1621", borderWidth: 1 }, progressive: 5000 }],
  }, true);
}

async function jobsHere(site) {
  const live = await S.liveJobs();
  const here = live.filter((j) => j.placement && j.placement.assignments.some((a) => a.site === site));
  const rows = here.map((j) => {
    const as = j.placement.assignments.filter((a) => a.site === site);
    const cards = as.reduce((n, a) => n + (a.share_milli ? a.share_milli / 1000 : a.cards.length), 0);
    return S.el("tr", {}, S.el("td", {}, S.jobLink(j.id)), S.el("td", {}, j.spec.tenant), S.el("td", {}, S.stateBadge(j.state)),
      S.el("td", {}, [...new Set(as.map((a) => a.model))].join(", ")), S.el("td", { class: "num" }, cards),
      S.el("td", {}, [...new Set(as.map((a) => a.node))].slice(0, 6).join(", ") + (as.length > 6 ? " …" : "")));
  });
  S.fill(S.$("#site-jobs tbody"), rows, "no live jobs at this site", 6);
  S.$("#s-jobs").textContent = S.int(here.length);
}

S.run(async () => {
  const site = S.pageID;
  const [net, cap, ms] = await Promise.all([S.api("/v1/network"), S.api("/v1/capacity"), S.metrics()]);
  const s = net.sites.find((x) => x.id === site);
  if (!s) throw new Error(`no site ${site} in the network; pick one on the overview`);
  document.title = `${s.name} · Suanli`;
  S.$("#site-name").textContent = s.name;
  S.$("#site-meta").textContent = `${s.id} · ${s.operator} · ${s.city}, ${s.province} (${s.region}) · ${s.ownership} · PUE ${(s.pue_milli / 1000).toFixed(2)} · power ${(s.power_fen_per_kwh / 100).toFixed(2)} CNY/kWh`;
  const b = (cap.breakdowns.site || []).find((x) => x.key === site) || { gflops: 0, allocated_gflops: 0, cards: 0 };
  S.$("#s-installed").textContent = S.ef(b.gflops) + " EF";
  S.$("#s-installed").dataset.gflops = b.gflops;
  S.$("#s-allocated").textContent = `${S.ef(b.allocated_gflops)} EF (${S.pct(b.allocated_gflops, b.gflops)})`;
  S.$("#s-cards").textContent = S.int(b.cards);
  S.$("#s-vendors").textContent = [...new Set((ms.suanli_allocated_eflops || []).filter((m) => m.labels.site === site).map((m) => m.labels.vendor))].sort().join(", ") || "–";
  await Promise.all([heat(site), jobsHere(site)]);
  S.onJobs(() => Promise.all([jobsHere(site), heat(site)]).catch(S.showError), 1500);
});
