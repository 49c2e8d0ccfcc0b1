"use strict";
// Capacity over time, from the samples app.js takes every few seconds.
const charts = {};
function lines(id, series, unit) {
  charts[id] ||= S.chart(S.$("#" + id), {});
  charts[id].setOption({
    tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "–" : unit === "EF" ? v.toFixed(3) + " EF" : v.toFixed(unit === "/s" ? 2 : 0) + (unit === "/s" ? "/s" : "")) },
    legend: { type: "scroll", top: 0, left: "center", textStyle: { color: "#a9b7c9" }, pageTextStyle: { color: "#a9b7c9" } },
    grid: { left: 60, right: 20, top: 40, bottom: 30 },
    animation: false,
    xAxis: S.axis({ type: "time", axisLabel: { color: "#a9b7c9", hideOverlap: true, formatter: "{HH}:{mm}:{ss}" } }),
    yAxis: S.axis({ type: "value" }),
    series,
  }, true);
}

function draw(ring) {
  // Series for the keys that held capacity at some point in the window.
  const keys = (f) => [...new Set(ring.flatMap((s) => Object.entries(f(s)).filter(([, v]) => v > 0).map(([k]) => k)))].sort();
  const area = (name, color, pts) => ({ name, type: "line", stack: "a", areaStyle: { opacity: 0.5 }, symbol: "none", color, data: pts });
  lines("by-vendor", keys((s) => s.byVendor).map((v) => area(v, S.vendorColor(v), ring.map((s) => [s.t, (s.byVendor[v] || 0) / 1e9]))), "EF");
  lines("by-tenant", keys((s) => s.byTenant).map((t) => area(t, undefined, ring.map((s) => [s.t, (s.byTenant[t] || 0) / 1e9]))), "EF");
  lines("queue", [{ name: "pending or blocked", type: "line", step: "end", symbol: "none", areaStyle: { opacity: 0.3 }, color: "#ffd166", data: ring.map((s) => [s.t, s.queue]) }], "");
  const rate = [];
  for (let i = 1; i < ring.length; i++) {
    const dt = (ring[i].t - ring[i - 1].t) / 1000, dd = ring[i].decisions - ring[i - 1].decisions;
    rate.push([ring[i].t, dt > 0 && dd >= 0 ? dd / dt : null]);
  }
  lines("rate", [{ name: "decisions/s", type: "line", symbol: "none", color: "#4fd18b", data: rate }], "/s");
  const last = ring[ring.length - 1];
  if (!last) return;
  S.$("#c-alloc").textContent = `${S.ef(last.alloc)} EF (${S.pct(last.alloc, last.installed)})`;
  S.$("#c-alloc").dataset.gflops = last.alloc;
  S.$("#c-queue").textContent = S.int(last.queue);
  S.$("#c-rate").textContent = rate.length && rate[rate.length - 1][1] != null ? rate[rate.length - 1][1].toFixed(2) : "–";
  S.$("#c-samples").textContent = S.int(ring.length);
}

// The learned task mix: every shape kept with its decayed weight (or the
// prior's shapes and popularity before one is learned), heaviest first;
// the typical ones (95% of the weight) are those the scheduler scores
// against.
const shapeKey = (t) => JSON.stringify([t.cards || 0, t.share_milli || 0, t.cpu_milli || 0, t.host_mem_mib || 0, t.models || []]);
const shapeText = (t) => (t.share_milli ? `${(t.share_milli / 1000).toFixed(3)} card` : `${S.int(t.cards || 1)} card${t.cards === 1 ? "" : "s"}`);
let mixChart = null;
async function drawMix() {
  const m = await S.api("/v1/scheduler/workload");
  const typical = new Set((m.typical || []).map(shapeKey));
  const rows = (m.shapes || []).length ? m.shapes.map((x) => ({ ...x, weight: x.weight }))
    : (m.typical || []).map((x) => ({ ...x, weight: (x.popularity_milli || 0) / 1000 }));
  rows.sort((a, b) => b.weight - a.weight);
  const total = rows.reduce((a, x) => a + x.weight, 0);
  S.$("#mix-note").textContent = m.learned
    ? `Learned from ${S.int(m.observed)} worker arrivals (a shape's weight halves every ${S.int(m.half_life_workers)} arrivals); ${S.int(rows.length)} shapes kept, ${S.int(typical.size)} typical. From /v1/scheduler/workload.`
    : `Nothing learned yet: the scheduler uses its prior mix (${S.int(rows.length)} shapes) until jobs arrive. From /v1/scheduler/workload.`;
  const host = (t) => [t.cpu_milli ? `${(t.cpu_milli / 1000).toLocaleString("en")} core${t.cpu_milli === 1000 ? "" : "s"}` : "", t.host_mem_mib ? `${(t.host_mem_mib / 1024).toLocaleString("en", { maximumFractionDigits: 1 })} GiB` : ""].filter(Boolean).join(", ") || "–";
  S.fill(S.$("#mix tbody"), rows.slice(0, 50).map((t) => S.el("tr", { "data-shape": shapeKey(t) }, S.el("td", {}, shapeText(t)),
    S.el("td", {}, (t.models || []).join(", ") || "any"), S.el("td", { class: "num" }, host(t)),
    S.el("td", { class: "num" }, t.weight.toLocaleString("en", { maximumFractionDigits: 1 })), S.el("td", { class: "num" }, S.pct(t.weight, total)),
    S.el("td", {}, typical.has(shapeKey(t)) ? "yes" : ""))), "no task shapes", 6);
  const top = rows.slice(0, 12).reverse();
  mixChart ||= S.chart(S.$("#mix-chart"), {});
  mixChart.setOption({
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => v.toFixed(1) + "%" },
    grid: { left: 190, right: 30, top: 10, bottom: 40 },
    xAxis: S.axis({ type: "value", name: "share of the mix, %", nameLocation: "middle", nameGap: 24 }),
    yAxis: S.axis({ type: "category", data: top.map((t) => `${shapeText(t)} · ${(t.models || []).join(", ") || "any"}`), axisLabel: { color: "#a9b7c9", width: 180, overflow: "truncate" } }),
    series: [{ name: "share", type: "bar", data: top.map((t) => ({ value: total ? (100 * t.weight) / total : 0, itemStyle: { color: typical.has(shapeKey(t)) ? "#5cb3ff" : "#5a6b82" } })) }],
  }, true);
  S.$("#mix").dataset.loaded = "1";
}

S.run(async () => {
  await drawMix();
  S.onJobs(() => drawMix().catch(S.showError), 5000);
  draw(S.samples());
  document.addEventListener("suanli:sample", (e) => draw(e.detail));
});
