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

S.run(async () => {
  draw(S.samples());
  document.addEventListener("suanli:sample", (e) => draw(e.detail));
});
