"use strict";
// Jobs: filter by state and tenant (server side), search (here), live.
let all = [];

function where(j) {
  if (!j.placement) return j.reason || "";
  const sites = [...new Set(j.placement.assignments.map((a) => a.site).filter(Boolean))];
  const models = [...new Set(j.placement.assignments.map((a) => a.model))];
  return `${sites.join(", ")} · ${models.join(", ")}`;
}

function render() {
  const q = S.$("#q").value.trim().toLowerCase();
  const shown = all.filter((j) => !q || [j.id, j.spec.name, j.spec.tenant, where(j), ...(j.spec.models || [])].join(" ").toLowerCase().includes(q));
  S.fill(S.$("#jobs tbody"), shown.slice(0, 1000).map((j) => S.el("tr", { "data-job": j.id },
    S.el("td", {}, S.jobLink(j.id)), S.el("td", {}, j.spec.name || ""), S.el("td", {}, j.spec.tenant), S.el("td", {}, S.stateBadge(j.state)),
    S.el("td", {}, S.shape(j.spec)), S.el("td", {}, where(j)),
    S.el("td", { class: "num" }, j.placement ? S.pf(j.placement.gflops) : "–"), S.el("td", {}, S.when(j.submitted_at)))), "no job matches", 8);
  S.$("#count").textContent = `${S.int(shown.length)} of ${S.int(all.length)} jobs` + (shown.length > 1000 ? " (first 1,000 shown)" : "");
}

async function load() {
  const query = {};
  if (S.$("#state").value) query.state = S.$("#state").value;
  if (S.$("#tenant").value) query.tenant = S.$("#tenant").value;
  all = (await S.jobs(query)).reverse(); // newest first
  render();
}

S.run(async (who) => {
  const params = new URLSearchParams(location.search);
  const tsel = S.$("#tenant");
  if (who.role === "tenant") {
    tsel.replaceChildren(S.el("option", { value: who.tenant }, who.tenant));
    tsel.disabled = true;
  } else {
    for (const t of await S.api("/v1/tenants")) tsel.append(S.el("option", { value: t.id }, t.id));
  }
  for (const k of ["q", "state", "tenant"]) if (params.get(k) && !S.$("#" + k).disabled) S.$("#" + k).value = params.get(k);
  const sync = () => {
    const p = new URLSearchParams();
    for (const k of ["q", "state", "tenant"]) if (S.$("#" + k).value && !S.$("#" + k).disabled) p.set(k, S.$("#" + k).value);
    history.replaceState(null, "", "/ui/jobs" + (p.toString() ? "?" + p : ""));
  };
  S.$("#q").addEventListener("input", S.debounce(() => { sync(); render(); }, 150));
  for (const k of ["state", "tenant"]) S.$("#" + k).addEventListener("change", () => { sync(); load().catch(S.showError); });
  S.$("#filters").addEventListener("submit", (e) => e.preventDefault());
  await load();
  S.onJobs(() => load().catch(S.showError), 1000);
});
