"use strict";
// Overview: totals, the map of sites and the breakdowns, all from
// /v1/network, /v1/capacity, /v1/catalog and /metrics.
const TARGET_GFLOPS = 100e9; // the 2028 target: 100 EFLOPS FP16

let geoLoaded = null;
function loadGeo() {
  geoLoaded ||= fetch("/ui/assets/vendor/geo/china.json").then((r) => r.json()).then((g) => echarts.registerMap("china", g));
  return geoLoaded;
}

// siteMix returns site → vendor → installed GFLOPS, from /v1/nodes.
async function siteMix(cap) {
  const mix = {};
  const [nodes, catalog] = await Promise.all([S.nodes(), S.api("/v1/catalog")]);
  const vendorOf = Object.fromEntries(catalog.map((m) => [m.id, m.vendor]));
  const perCard = Object.fromEntries((cap.breakdowns.model || []).map((b) => [b.key, b.cards ? b.gflops / b.cards : 0]));
  for (const n of nodes) {
    const v = vendorOf[n.model] || n.model;
    ((mix[n.site] ||= {})[v] = (mix[n.site][v] || 0) + n.cards * (perCard[n.model] || 0));
  }
  return { mix, nodes };
}

function nodeKPI(nodes) {
  const up = nodes.filter((n) => n.healthy).length;
  S.$("#k-nodes").replaceChildren(`${S.int(up)} / ${S.int(nodes.length)}`, S.el("small", {}, ` ${S.int(nodes.length - up)} out of service`));
  S.$("#k-nodes").dataset.healthy = up;
}

function kpis(cap, ms) {
  const ai = cap.ai, bd = cap.breakdowns;
  const find = (dim, key) => (bd[dim] || []).find((b) => b.key === key) || { gflops: 0, cards: 0, allocated_gflops: 0 };
  const self = find("ownership", "self-built"), leased = find("ownership", "leased"), dom = find("origin", "domestic");
  const set = (id, ...kids) => S.$(id).replaceChildren(...kids);
  set("#k-installed", S.ef(ai.gflops) + " EF", S.el("small", {}, ` ${S.int(ai.cards)} cards`));
  set("#k-allocated", S.ef(ai.allocated_gflops) + " EF", S.el("small", {}, ` ${S.pct(ai.allocated_gflops, ai.gflops)}`));
  // Capacity of nodes the server no longer hears from (a lost agent, an
  // unreachable Kubernetes site) is unknown, not free.
  const unk = cap.unknown || { gflops: 0, cards: 0, nodes: 0, sites: [] };
  S.$("#k-free").dataset.unknownGflops = unk.gflops;
  set("#k-free", S.ef(Math.max(0, ai.gflops - ai.allocated_gflops - unk.gflops)) + " EF",
    ...(unk.nodes ? [S.el("small", { class: "unknown" }, ` + ${S.ef(unk.gflops)} EF unknown: ${S.int(unk.nodes)} nodes, ${S.int(unk.cards)} cards not heard from`)] : []));
  set("#k-ownership", `${S.ef(self.gflops)} / ${S.ef(leased.gflops)}`, S.el("small", {}, " EF"));
  set("#k-domestic", S.pct(dom.gflops, ai.gflops), S.el("small", {}, ` installed · ${S.pct(dom.allocated_gflops, ai.allocated_gflops)} allocated`));
  set("#k-queue", S.int(S.metricSum(ms, "suanli_queue_depth")), S.el("small", {}, " pending or blocked"));
  const p = S.$("#target");
  p.value = Math.min(100, (100 * ai.gflops) / TARGET_GFLOPS);
  p.textContent = S.pct(ai.gflops, TARGET_GFLOPS);
  const years = 2028 - new Date().getUTCFullYear();
  const growth = years > 0 && ai.gflops > 0 && ai.gflops < TARGET_GFLOPS ? `; needs +${((Math.pow(TARGET_GFLOPS / ai.gflops, 1 / years) - 1) * 100).toFixed(1)}% a year to 2028` : "";
  S.$("#target-text").textContent = `${S.ef(ai.gflops)} of 100 EF (${S.pct(ai.gflops, TARGET_GFLOPS)}); ${S.ef(Math.max(0, TARGET_GFLOPS - ai.gflops))} EF to go${growth}`;
}

function siteTable(net, cap) {
  const bySite = Object.fromEntries((cap.breakdowns.site || []).map((b) => [b.key, b]));
  const unknown = Object.fromEntries(((cap.unknown || {}).sites || []).map((u) => [u.site, u]));
  const rows = [...net.sites].sort((a, b) => (bySite[b.id]?.gflops || 0) - (bySite[a.id]?.gflops || 0)).map((s) => {
    const b = bySite[s.id] || { cards: 0, gflops: 0, allocated_gflops: 0 };
    const u = unknown[s.id];
    const mark = u ? [S.el("span", { class: "unknown", title: "nodes not heard from: their capacity is unknown, not free" }, ` capacity unknown: ${S.int(u.cards)} cards`)] : [];
    return S.el("tr", { "data-site": s.id }, S.el("td", {}, S.el("a", { href: "/ui/sites/" + encodeURIComponent(s.id) }, s.name), ...mark),
      S.el("td", {}, s.province), S.el("td", {}, s.ownership),
      S.el("td", { class: "num" }, S.int(b.cards)), S.el("td", { class: "num" }, S.ef(b.gflops)),
      S.el("td", { class: "num" }, S.pct(b.allocated_gflops, b.gflops)));
  });
  S.fill(S.$("#sites tbody"), rows, "no sites", 6);
}

function groupTable(cap) {
  const rows = [];
  for (const dim of ["operator", "origin"]) {
    for (const b of cap.breakdowns[dim] || []) {
      rows.push(S.el("tr", {}, S.el("td", {}, `${b.key}`, S.el("span", { class: "muted" }, ` (${dim})`)),
        S.el("td", { class: "num" }, S.int(b.cards)), S.el("td", { class: "num" }, S.ef(b.gflops)),
        S.el("td", { class: "num" }, S.ef(b.allocated_gflops))));
    }
  }
  S.fill(S.$("#operators tbody"), rows, "no capacity", 4);
}

let mapChart = null, vendorChart = null;

// siteLabels names each site by its city, and a city with more than one
// site by city and operator or ownership.
function siteLabels(sites) {
  const count = {};
  for (const s of sites) count[s.city] = (count[s.city] || 0) + 1;
  return sites.map((s) => (count[s.city] > 1 ? `${s.city} (${s.ownership === "leased" ? "leased" : s.operator.replace(/^China /, "")})` : s.city));
}

// placeLabels returns an ECharts labelLayout callback that puts the label
// of sites[i] (the series' data index) beside its circle: below, above,
// right, left or on a diagonal, then the same a step or two farther out,
// taking the first place that overlaps no label placed
// before it and no other site's circle, else the place that overlaps
// least. ECharts calls it for every label in data order on each layout
// (zoom, pan, resize), so index 0 starts afresh.
function placeLabels(sites, radiusOf) {
  let placed = [], circles = [];
  const dirs = [[0, 1], [0, -1], [1, 0], [-1, 0], [1, 1], [-1, 1], [1, -1], [-1, -1]];
  const area = (a, b) => Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)) *
    Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return (p) => {
    if (!mapChart || !p.labelRect) return {};
    if (p.dataIndex === 0) {
      placed = [];
      circles = sites.map((s) => { const [x, y] = mapChart.convertToPixel({ geoIndex: 0 }, [s.lon, s.lat]); return { x, y, r: radiusOf(s) }; });
    }
    const me = circles[p.dataIndex];
    if (!me) return {};
    const w = p.labelRect.width + 2, h = p.labelRect.height + 2;
    let best = null;
    for (const step of [2, 14, 30]) {
      for (const [dx, dy] of dirs) {
        const d = me.r + step, k = dx && dy ? Math.SQRT1_2 : 1;
        const ax = me.x + dx * d * k, ay = me.y + dy * d * k;
        const rect = { x: dx > 0 ? ax : dx < 0 ? ax - w : ax - w / 2, y: dy > 0 ? ay : dy < 0 ? ay - h : ay - h / 2, width: w, height: h };
        let cost = 0;
        for (const q of placed) cost += 4 * area(rect, q);
        circles.forEach((c, i) => { if (i !== p.dataIndex) cost += area(rect, { x: c.x - c.r, y: c.y - c.r, width: 2 * c.r, height: 2 * c.r }); });
        if (!best || cost < best.cost) best = { cost, rect };
        if (cost === 0) break;
      }
      if (best.cost === 0) break;
    }
    placed.push(best.rect);
    return { x: best.rect.x + 1, y: best.rect.y + 1, align: "left", verticalAlign: "top", hideOverlap: false, moveOverlap: null };
  };
}
function drawMap(net, cap, mixInfo) {
  const bySite = Object.fromEntries((cap.breakdowns.site || []).map((b) => [b.key, b]));
  const maxG = Math.max(...(cap.breakdowns.site || []).map((b) => b.gflops), 1);
  const radius = (g) => 6 + 22 * Math.sqrt(g / maxG);
  const series = [];
  for (const s of net.sites) {
    const b = bySite[s.id] || { gflops: 0, allocated_gflops: 0, cards: 0 };
    const mix = mixInfo.mix[s.id] || {};
    const vendors = Object.keys(mix).sort();
    const tip = `${s.name}\n${s.city}, ${s.province} · ${s.operator} · ${s.ownership}\n${S.ef(b.gflops)} EF FP16 on ${S.int(b.cards)} cards, ${S.pct(b.allocated_gflops, b.gflops)} allocated\n`;
    series.push({ type: "pie", coordinateSystem: "geo", center: [s.lon, s.lat], radius: radius(b.gflops), name: s.id,
      label: { show: false }, itemStyle: { borderColor: "#0e1621", borderWidth: 1 },
      tooltip: { formatter: (p) => tip + `${p.name}: ${S.ef(p.value)} EF (${p.percent}%)` },
      data: vendors.map((v) => ({ name: v, value: mix[v], itemStyle: { color: S.vendorColor(v) } })) });
  }
  // One label per site, the biggest sites first: each takes the first
  // place around its circle that no earlier label and no other circle
  // covers (see placeLabels).
  const bySize = [...net.sites].sort((a, b) => (bySite[b.id]?.gflops || 0) - (bySite[a.id]?.gflops || 0));
  const names = siteLabels(bySize);
  series.push({ type: "scatter", coordinateSystem: "geo", symbolSize: 0, silent: true, z: 5,
    labelLayout: placeLabels(bySize, (s) => radius(bySite[s.id]?.gflops || 0)),
    label: { show: true, formatter: (p) => p.name, color: "#e8eef6", fontSize: 11, textBorderColor: "#0e1621", textBorderWidth: 3 },
    data: bySize.map((s, i) => ({ name: names[i], value: [s.lon, s.lat], site: s.id })) });
  const option = {
    tooltip: { trigger: "item", backgroundColor: "#162232", borderColor: "#2c3d55", textStyle: { color: "#e8eef6" } },
    geo: { map: "china", roam: true, boundingCoords: [[73, 54], [135, 16]], aspectScale: 0.85, layoutCenter: ["50%", "50%"], layoutSize: "104%",
      itemStyle: { areaColor: "#1a2636", borderColor: "#34465e" }, emphasis: { disabled: true },
      regions: [{ name: "CN", itemStyle: { areaColor: "#22344b", borderColor: "#5b7799", borderWidth: 1.2 } }],
      label: { show: false } },
    series,
  };
  // The first drawing sets up the map; later ones only update the series
  // (replacing the geo component under live pies trips ECharts).
  if (!mapChart) {
    mapChart = S.chart(S.$("#map"), {});
    mapChart.setOption(option);
  } else {
    mapChart.setOption({ series });
  }
  mapChart.off("click");
  mapChart.on("click", (p) => {
    const id = p.seriesType === "pie" ? p.seriesName : null;
    if (id) location.assign("/ui/sites/" + encodeURIComponent(id));
  });
  const all = [...new Set(Object.values(mixInfo.mix).flatMap((m) => Object.keys(m)))].sort();
  const note = S.$("#map-note");
  note.replaceChildren("Circle area: installed FP16 EFLOPS; slices: each vendor's share of it. Click a site to open it.",
  S.el("span", { class: "legend" }, all.map((v) => S.el("span", {}, S.el("i", { style: `background:${S.vendorColor(v)}` }), v))));
}

function drawVendors(cap) {
  const vs = [...(cap.breakdowns.vendor || [])].sort((a, b) => a.gflops - b.gflops);
  vendorChart ||= S.chart(S.$("#vendors"), {});
  vendorChart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => v.toFixed(3) + " EF" },
    grid: { left: 170, right: 30, top: 10, bottom: 40 },
    xAxis: S.axis({ type: "value", name: "EFLOPS", nameLocation: "middle", nameGap: 24 }),
    yAxis: S.axis({ type: "category", data: vs.map((b) => b.key), axisLabel: { color: "#a9b7c9", width: 160, overflow: "truncate" } }),
    series: [
      { name: "allocated", type: "bar", stack: "t", data: vs.map((b) => ({ value: b.allocated_gflops / 1e9, itemStyle: { color: S.vendorColor(b.key) } })) },
      { name: "free", type: "bar", stack: "t", data: vs.map((b) => ({ value: (b.gflops - b.allocated_gflops) / 1e9, itemStyle: { color: S.vendorColor(b.key), opacity: 0.35 } })) },
    ],
  }, true);
}

// drawPlan shows the capacity plan (staff only: a tenant's token may not
// read it, and the card says so): planned EF per year as bars, the target
// path as a line, the target as a horizontal line; the same numbers in a
// table, and what binds the plan.
let planChart = null;
async function drawPlan() {
  let p;
  try { p = await S.api("/v1/capacity/plan"); } catch (e) {
    if (e.status !== 403 && e.status !== 404) throw e;
    S.$("#plan-note").textContent = e.status === 403 ? "The capacity plan is for operators and admins; this token may not read it." : "This server does not plan capacity.";
    S.$("#plan-card").dataset.loaded = "denied";
    S.$("#plan-chart").hidden = true;
    return;
  }
  const card = S.$("#plan-card");
  if (!p.plan) {
    S.$("#plan-note").textContent = `No plan to ${p.target_ef} EF by ${p.by}: ${p.infeasible}`;
    card.dataset.loaded = "infeasible";
    return;
  }
  const years = [{ year: p.from, ef: p.installed_ef, target_ef: p.installed_ef, now: true }, ...p.plan.years];
  const ef = (v) => v.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  S.fill(S.$("#plan tbody"), years.map((y) => S.el("tr", { "data-year": y.year }, S.el("td", {}, `${y.year}${y.now ? " (now)" : ""}`),
    S.el("td", { class: "num" }, ef(y.ef)), S.el("td", { class: "num" }, ef(y.target_ef)),
    S.el("td", { class: "num" }, y.now ? "–" : (100 * y.domestic_share).toFixed(1) + "%"),
    S.el("td", { class: "num" }, y.now ? "–" : (y.capex_cny / 1e9).toFixed(2)), S.el("td", { class: "num" }, y.now ? "–" : y.mw.toFixed(1)))), "no years", 6);
  S.$("#plan-binding").replaceChildren(...(p.plan.binding || []).slice(0, 4).map((b) =>
    S.el("li", {}, `${b.constraint}${b.year ? " (" + b.year + ")" : ""}: relaxing it ${b.relax} saves ${Math.round(b.saves).toLocaleString("en")} ${b.unit}`)));
  S.$("#plan-note").textContent = `Least-cost build-out from ${ef(p.installed_ef)} EF (${p.from}) to ${p.target_ef} EF by ${p.by} on the network as it stands, ` +
    `adding ${S.int(p.plan.adds.reduce((a, x) => a + x.cards, 0))} cards; gap to the best bound ${p.plan.gap_percent.toFixed(3)}%. From /v1/capacity/plan (suanli plan's defaults).`;
  planChart ||= S.chart(S.$("#plan-chart"), {});
  planChart.setOption({
    tooltip: { trigger: "axis", valueFormatter: (v) => ef(v) + " EF" },
    legend: { top: 0, textStyle: { color: "#a9b7c9" } },
    grid: { left: 50, right: 20, top: 40, bottom: 30 },
    xAxis: S.axis({ type: "category", data: years.map((y) => String(y.year)) }),
    yAxis: S.axis({ type: "value", name: "EFLOPS", max: (v) => Math.max(v.max, p.target_ef) * 1.1, axisLabel: { color: "#a9b7c9", formatter: (v) => v.toFixed(0) } }),
    series: [
      { name: "planned", type: "bar", barMaxWidth: 48, color: "#5cb3ff", data: years.map((y) => y.ef),
        markLine: { symbol: "none", silent: true, lineStyle: { color: "#ff7b72", type: "dashed" }, label: { color: "#ffd7d4", formatter: `target ${p.target_ef} EF by ${p.by}`, position: "insideStartTop" },
          data: [{ yAxis: p.target_ef }] } },
      { name: "target path", type: "line", color: "#ffd166", symbolSize: 7, data: years.map((y) => y.target_ef) },
    ],
  }, true);
  card.dataset.loaded = "1";
}

async function refresh(net, mixInfo) {
  const [cap, ms] = await Promise.all([S.api("/v1/capacity"), S.metrics()]);
  kpis(cap, ms);
  siteTable(net, cap);
  groupTable(cap);
  drawVendors(cap);
  drawMap(net, cap, mixInfo);
  S.$("#k-installed").dataset.gflops = cap.ai.gflops;
  S.$("#k-allocated").dataset.gflops = cap.ai.allocated_gflops;
}

S.run(async () => {
  const [net, cap] = await Promise.all([S.api("/v1/network"), S.api("/v1/capacity"), loadGeo()]);
  S.$("#netname").textContent = `${net.name}: ${net.sites.length} sites, ${S.int(net.domains)} high-bandwidth domains, ${S.int(net.nodes)} nodes, ${S.int(net.cards)} cards.`;
  const mixInfo = await siteMix(cap);
  nodeKPI(mixInfo.nodes);
  await Promise.all([refresh(net, mixInfo), drawPlan()]);
  setInterval(() => S.nodes().then(nodeKPI).catch(() => {}), 30000);
  S.onJobs(() => refresh(net, mixInfo).catch(S.showError), 1500);
});
