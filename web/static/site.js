"use strict";
// Site page: the site's capacity, its nodes as a heat map of card
// allocation and health (where the server lists nodes) and its live jobs.
let heatChart = null;

async function heat(site, live) {
  const note = S.$("#heat-note");
  const nodes = (await S.nodes(site)).sort((a, b) => a.domain.localeCompare(b.domain, "en", { numeric: true }) || a.id.localeCompare(b.id, "en", { numeric: true }));
  const held = {}; // node → thousandths of a card held by live placements
  for (const j of live) for (const a of (j.placement && j.placement.assignments) || []) held[a.node] = (held[a.node] || 0) + (a.share_milli || 1000 * a.cards.length);
  for (const n of nodes) if (n.allocMilli === null) n.allocMilli = held[n.id] || 0;
  // Lay nodes out in rows of up to COLS, grouped by domain: a domain of
  // eight or more nodes (a rack, a supernode) starts its own row; smaller
  // ones (one server each) pack together.
  const sizes = {};
  for (const n of nodes) sizes[n.domain || "(none)"] = (sizes[n.domain || "(none)"] || 0) + 1;
  const domains = Object.keys(sizes);
  const biggest = Math.max(...Object.values(sizes));
  const COLS = biggest >= 8 ? Math.min(64, biggest) : Math.min(64, Math.max(8, nodes.length));
  const data = [], rowLabels = [];
  let x = 0, y = -1, prev = null;
  for (const n of nodes) {
    const d = n.domain || "(none)";
    const size = sizes[d];
    if (y < 0 || x >= COLS || (d !== prev && (size >= 8 || sizes[prev] >= 8))) {
      y++; x = 0; rowLabels.push(d !== prev || size >= 8 ? d : "");
    }
    prev = d;
    const used = n.cards ? n.allocMilli / (10 * n.cards) : 0; // percent
    data.push({ value: [x++, y, n.healthy ? Math.round(used) : -1], node: n });
  }
  const unhealthy = nodes.filter((n) => !n.healthy).length;
  const busy = nodes.filter((n) => n.allocMilli > 0).length;
  note.textContent = `${S.int(nodes.length)} nodes in ${S.int(domains.length)} domains; ${S.int(busy)} with cards allocated; ${unhealthy} unhealthy. Colour: share of each node's cards allocated.`;
  S.$("#heat").hidden = false;
  S.$("#heat").style.height = Math.max(220, Math.min(1800, 80 + rowLabels.length * 16)) + "px";
  heatChart ||= S.chart(S.$("#heat"), {});
  heatChart.resize();
  heatChart.setOption({
    tooltip: { formatter: (p) => { const n = p.data.node; return `${n.id} · ${n.domain}\n${n.model}, ${n.cards} cards\n${(n.allocMilli / 1000).toFixed(3)} cards allocated${n.cpuMilli ? `\nhost CPU ${(n.cpuAllocMilli / 1000).toFixed(1)} of ${n.cpuMilli / 1000} cores, memory ${(n.memAllocMiB / 1024).toFixed(0)} of ${(n.memMiB / 1024).toFixed(0)} GiB held` : ""}\nstate: ${n.state}${n.reason ? " (" + n.reason + ")" : ""}`; } },
    grid: { left: 150, right: 20, top: 10, bottom: 50 },
    xAxis: S.axis({ type: "category", data: [...Array(COLS).keys()].map(String), axisLabel: { show: false }, axisTick: { show: false }, splitArea: { show: false } }),
    yAxis: S.axis({ type: "category", inverse: true, data: rowLabels, axisTick: { show: false }, axisLabel: { color: "#a9b7c9", fontSize: 10, width: 140, overflow: "truncate", interval: 0 } }),
    visualMap: { type: "piecewise", orient: "horizontal", left: "center", bottom: 0, textStyle: { color: "#a9b7c9" }, dimension: 2,
      pieces: [{ value: -1, label: "unhealthy", color: "#ff7b72" }, { min: 0, max: 0, label: "idle", color: "#24364d" },
        { gt: 0, lte: 50, label: "≤50%", color: "#2f7fc1" }, { gt: 50, lt: 100, label: "50–99%", color: "#5cb3ff" }, { min: 100, label: "full", color: "#ffd166" }] },
    series: [{ type: "heatmap", data, itemStyle: { borderColor: "#0e1621", borderWidth: 1 }, progressive: 5000 }],
  }, true);
}

async function jobsHere(site, live) {
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
  const u = ((cap.unknown || {}).sites || []).find((x) => x.site === site);
  const note = S.$("#s-unknown");
  note.hidden = !u;
  if (u) note.textContent = `Capacity unknown: ${S.int(u.nodes)} node${u.nodes === 1 ? "" : "s"} (${S.int(u.cards)} cards, ${S.ef(u.gflops)} EF) have not been heard from — a lost agent or an unreachable Kubernetes API server. Their cards are neither free nor allocated until they report again; their jobs were requeued.`;
  S.$("#s-vendors").textContent = [...new Set((ms.suanli_allocated_eflops || []).filter((m) => m.labels.site === site).map((m) => m.labels.vendor))].sort().join(", ") || "–";
  const both = async () => { const live = await S.liveJobs(); await Promise.all([heat(site, live), jobsHere(site, live)]); };
  await both();
  S.onJobs(() => both().catch(S.showError), 1500);
});
