"use strict";
// The throughput matrix (/v1/throughput): per workload class and model of
// the network, per card, the default figure, what progress reports taught
// and the rate the scheduler uses.

// A learned figure more than DRIFT thousandths off its default is marked.
const DRIFT = 100;
// fig writes a rate with four significant digits, as `suanli throughput
// learned` does.
const fig = (v) => (v > 0 ? Number(v).toLocaleString("en", { maximumSignificantDigits: 4 }) : "–");
// ratio is a over b in thousandths, rounded as the dashboard rounds shares
// (model.PerMille): the quotient in millionths first, then to the nearest
// thousandth, halves up.
const ratio = (a, b) => (a > 0 && b > 0 ? S.perMille(Math.round((a / b) * 1e6), 1e6) : null);
// drift is the learned figure against the default in thousandths (+500
// is half as fast again), null without both.
const drift = (e) => { const r = ratio(e.learned, e.default); return r === null ? null : r - 1000; };
const signed = (d) => (d > 0 ? "+" : d < 0 ? "−" : "±") + (Math.abs(d) / 10).toFixed(1) + "%";
const cue = (d) => (d === null || Math.abs(d) <= DRIFT ? "" : d > 0 ? "up" : "down");
// basis says what the rate used rests on: the default alone, the default
// still outweighing the reports, or the reports (conf turns observed).
const basis = (e) => (!e.reports ? "default" : e.reports < (e.prior_weight || 0) ? "default + reports" : "learned");

let entries = [];
let matrix = null;

function row(e) {
  const d = drift(e), c = cue(d);
  return S.el("tr", { "data-class": e.class, "data-model": e.model, "data-drift": c || null, class: c ? "drift" : null },
    S.el("td", {}, e.class), S.el("td", {}, e.model), S.el("td", {}, e.unit),
    S.el("td", { class: "num", "data-raw": e.default || 0 }, fig(e.default)), S.el("td", {}, e.default_conf || "–"),
    S.el("td", { class: "num", "data-raw": e.learned || 0 }, fig(e.learned)),
    S.el("td", { class: "num" + (c ? " drift " + c : ""), "data-milli": d === null ? null : d },
      d === null ? "–" : (c === "up" ? "▲ " : c === "down" ? "▼ " : "") + signed(d)),
    S.el("td", { class: "num" }, S.int(e.reports)), S.el("td", { class: "num" }, S.int(e.jobs)),
    S.el("td", { class: "num", "data-raw": e.rate }, fig(e.rate)), S.el("td", {}, e.conf),
    S.el("td", { title: e.reports ? `the default counts as ${e.prior_weight} reports` : null }, basis(e)),
    S.el("td", {}, e.updated_at ? S.when(e.updated_at) : "–"));
}

function render() {
  const cls = S.$("#tp-class").value, only = S.$("#tp-reported").checked;
  const shown = entries.filter((e) => (!cls || e.class === cls) && (!only || e.reports > 0));
  S.fill(S.$("#tp tbody"), shown.map(row), only ? "no progress reports yet" : "no entries", 13);
  S.$("#tp-count").textContent = `${S.int(shown.length)} of ${S.int(entries.length)} pairs`;
}

// drawMatrix: classes by models, each cell the rate used as a share of
// the class's fastest model, with the drift cue.
function drawMatrix() {
  const classes = [...new Set(entries.map((e) => e.class))], models = [...new Set(entries.map((e) => e.model))].sort();
  const fastest = {};
  for (const e of entries) fastest[e.class] = Math.max(fastest[e.class] || 0, e.rate);
  const data = entries.filter((e) => e.rate > 0).map((e) => ({
    value: [models.indexOf(e.model), classes.indexOf(e.class), ratio(e.rate, fastest[e.class]) / 10], cue: cue(drift(e)), e }))
    .map((d) => ({ ...d, label: { color: d.value[2] > 55 ? "#0e1621" : "#e8eef6" } })); // dark text on the light cells
  matrix ||= S.chart(S.$("#tp-chart"), {});
  matrix.setOption({
    tooltip: { formatter: (p) => { const e = p.data.e, d = drift(e);
      return `${e.class} on ${e.model}\n${fig(e.rate)} ${e.unit} per card (${e.conf}), ${p.data.value[2].toFixed(1)}% of the fastest` +
        (e.default ? `\ndefault ${fig(e.default)}` : "") + (d !== null ? `, learned ${fig(e.learned)} (${signed(d)}, ${S.int(e.reports)} reports)` : ""); } },
    grid: { left: 170, right: 20, top: 10, bottom: 120 },
    xAxis: S.axis({ type: "category", data: models, axisLabel: { color: "#a9b7c9", rotate: 40, interval: 0 } }),
    yAxis: S.axis({ type: "category", data: classes, inverse: true, axisLabel: { color: "#a9b7c9", width: 160, overflow: "truncate" } }),
    visualMap: { show: false, min: 0, max: 100, dimension: 2, inRange: { color: ["#1d2b3e", "#245a8c", "#5cb3ff"] } },
    series: [{ type: "heatmap", data, itemStyle: { borderColor: "#0e1621", borderWidth: 1 },
      label: { show: true, fontSize: 10, formatter: (p) => (p.data.cue === "up" ? "▲" : p.data.cue === "down" ? "▼" : "") + Math.round(p.data.value[2]) } }],
  }, true);
}

async function load() {
  const t = await S.api("/v1/throughput");
  entries = t.entries || [];
  const reported = entries.filter((e) => e.reports > 0);
  S.$("#t-pairs").textContent = S.int(entries.length);
  S.$("#t-reported").textContent = S.int(reported.length);
  S.$("#t-reports").textContent = S.int(reported.reduce((a, e) => a + e.reports, 0));
  S.$("#t-drift").textContent = S.int(entries.filter((e) => cue(drift(e))).length);
  const sel = S.$("#tp-class"), keep = sel.value;
  sel.replaceChildren(S.el("option", { value: "" }, "all classes"), ...[...new Set(entries.map((e) => e.class))].map((c) => S.el("option", { value: c }, c)));
  sel.value = keep;
  render();
  drawMatrix();
  S.$("#tp").dataset.loaded = "1";
}

S.run(async () => {
  const params = new URLSearchParams(location.search);
  await load();
  if (params.get("class")) S.$("#tp-class").value = params.get("class");
  S.$("#tp-reported").checked = params.get("reported") === "1";
  const sync = () => {
    const p = new URLSearchParams();
    if (S.$("#tp-class").value) p.set("class", S.$("#tp-class").value);
    if (S.$("#tp-reported").checked) p.set("reported", "1");
    history.replaceState(null, "", "/ui/throughput" + (p.toString() ? "?" + p : ""));
    render();
  };
  S.$("#tp-class").addEventListener("change", sync);
  S.$("#tp-reported").addEventListener("change", sync);
  render();
  // Reports arrive with the workers' state changes; a quiet matrix is
  // read again every 15 s.
  S.onJobs(() => load().catch(S.showError), 2000);
  setInterval(() => load().catch(() => {}), 15000);
});
