// Suanli dashboard: shared helpers. Every number comes from the /v1 API,
// read with the token kept in this tab's sessionStorage.
"use strict";

const S = (() => {
  const TOKEN = "suanli.token", WHO = "suanli.who", RING = "suanli.samples";
  const page = document.body.dataset.page, pageID = document.body.dataset.id;

  function token() { return sessionStorage.getItem(TOKEN) || ""; }

  function signOut() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(WHO);
    location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  class APIError extends Error {
    constructor(status, msg) { super(msg); this.status = status; }
  }

  // api GETs (or sends) a /v1 path with the token and returns the JSON body.
  async function api(path, opts = {}) {
    const headers = { Authorization: "Bearer " + token(), Accept: "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    if (r.status === 401 && !opts.quiet) { signOut(); throw new APIError(401, "the token was refused; sign in again"); }
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = text; }
    if (!r.ok) throw new APIError(r.status, (body && body.error) || `${path}: HTTP ${r.status}`);
    return body;
  }

  // whoami works out the token's role from what it may read: the API has
  // no whoami endpoint, and the roles are fixed.
  async function whoami(force) {
    const cached = sessionStorage.getItem(WHO);
    if (cached && !force) return JSON.parse(cached);
    let who;
    try {
      await api("/v1/tenants", { quiet: true });
      try { await api("/v1/tokens", { quiet: true }); who = { role: "admin" }; } catch { who = { role: "operator" }; }
    } catch (e) {
      if (e.status === 401) throw e;
      const u = await api("/v1/usage", { quiet: true });
      who = { role: "tenant", tenant: u.tenant };
    }
    sessionStorage.setItem(WHO, JSON.stringify(who));
    return who;
  }

  let openapiPaths = null;
  // has reports whether the server serves a path (from its OpenAPI
  // document), so panels appear as endpoints land.
  async function has(path) {
    if (!openapiPaths) {
      try { openapiPaths = Object.keys((await (await fetch("/v1/openapi.json")).json()).paths || {}); } catch { openapiPaths = []; }
    }
    return openapiPaths.includes(path);
  }

  // el builds an element: el("td", {class: "num"}, "text", child, …).
  // A style is set through the CSSOM: the Content-Security-Policy refuses
  // style attributes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "style") e.style.cssText = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function fill(tbody, rows, empty, cols) {
    tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: cols || 10, class: "muted" }, empty || "none"))]));
  }
  const $ = (sel) => document.querySelector(sel);

  function showError(e) {
    const box = $("#error");
    if (!box) return;
    box.textContent = (e && e.message) || String(e);
    box.hidden = false;
  }

  // Units: the API counts GFLOPS (integers); show EFLOPS and PFLOPS.
  const ef = (g) => (g / 1e9).toLocaleString("en", { minimumFractionDigits: 3, maximumFractionDigits: 3 });
  const pf = (g) => (g / 1e6).toLocaleString("en", { maximumFractionDigits: 1 });
  // A share is counted in thousandths rounded to the nearest, halves up,
  // as the server counts them (model.PerMille): 94.99% reads 95.0% on
  // every page and in every report.
  const perMille = (part, whole) => Math.floor((Number(part) * 1000 + Math.floor(Number(whole) / 2)) / Number(whole));
  const permilleText = (t) => (t / 10).toFixed(1) + "%";
  const pct = (part, whole) => (whole > 0 ? permilleText(perMille(part, whole)) : "–");
  const int = (n) => Number(n || 0).toLocaleString("en");
  const when = (t) => (t ? new Date(t).toLocaleString("en-GB", { hour12: false }) : "–");

  // One colour per vendor for the whole dashboard, by the vendor name's
  // first word; others get one of the spare colours.
  const fixed = { Huawei: "#ff6b6b", NVIDIA: "#8ce99a", Cambricon: "#4dabf7", MetaX: "#da77f2", Biren: "#9775fa",
    Alibaba: "#ffa94d", Hygon: "#ffd43b", Kunlunxin: "#3bc9db", Moore: "#f783ac", Iluvatar: "#63e6be", AMD: "#c0eb75", Enflame: "#e599f7" };
  const spare = ["#74c0fc", "#ffc078", "#b2f2bb", "#eebefa", "#a5d8ff", "#ffe066"];
  function vendorColor(v) {
    const key = String(v).split(/[\s(]/)[0];
    if (fixed[key]) return fixed[key];
    let h = 0;
    for (const c of String(v)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return spare[h % spare.length];
  }

  function stateBadge(s) { return el("span", { class: "state " + s }, s); }
  function jobLink(id) { return el("a", { href: "/ui/jobs/" + encodeURIComponent(id) }, id); }
  function shape(spec) {
    const w = spec.workers || 1;
    if (spec.share_milli) return `${w}× ${(spec.share_milli / 1000).toFixed(3)} card`;
    return `${w}×${spec.cards_per_worker || 1} cards` + (spec.kind ? ` (${spec.kind})` : "");
  }

  // jobs lists every job matching the query, page by page.
  async function jobs(query = {}, maxPages = 20) {
    const out = [];
    let after = "";
    for (let i = 0; i < maxPages; i++) {
      const q = new URLSearchParams({ limit: "1000", ...query });
      if (after) q.set("after", after);
      const page = await api("/v1/jobs?" + q);
      out.push(...(page.jobs || []));
      if (!page.next) break;
      after = page.next;
    }
    return out;
  }
  async function liveJobs() {
    const [a, b] = await Promise.all([jobs({ state: "placed" }), jobs({ state: "running" })]);
    return a.concat(b);
  }

  // nodes lists the network's nodes where the server serves /v1/nodes,
  // each as {id, site, domain, model, cards, allocMilli, healthy, state,
  // cpuMilli, cpuAllocMilli, memMiB, memAllocMiB} (host CPU and memory:
  // capacity and what placements hold; 0 capacity: the node gives none).
  async function nodes(site) {
    // Without each agent's device list: the views need the summary only
    // (on the default network the full listing is about 25 MB).
    const q = "?devices=false" + (site ? "&site=" + encodeURIComponent(site) : "");
    const body = await api("/v1/nodes" + q);
    const list = Array.isArray(body) ? body : body.nodes || body.items || [];
    const num = (...xs) => { for (const x of xs) if (typeof x === "number") return x; return 0; };
    return list.map((n) => {
      const cardList = Array.isArray(n.cards) ? n.cards : null;
      const cards = cardList ? cardList.length : num(n.cards, n.card_count, n.total_cards);
      const known = ["allocated_milli", "allocated_milli_cards", "used_milli"].find((k) => typeof n[k] === "number");
      const alloc = cardList ? cardList.reduce((a, c) => a + num(c.allocated_milli, c.share_milli, c.used_milli), 0)
        : known ? n[known] : null; // null: the server does not say; count placements
      const state = n.state || n.health || n.status || (n.healthy === false ? "unhealthy" : "ok");
      const healthy = n.healthy !== undefined ? !!n.healthy : !/lost|unhealthy|down|drain|quarant|fail/i.test(state);
      return { id: n.id || n.name, site: n.site, domain: n.domain || n.domain_id || "", model: n.model, cards, allocMilli: alloc, healthy, state, reason: n.reason || "",
        cpuMilli: num(n.cpu_milli), cpuAllocMilli: num(n.cpu_allocated_milli), memMiB: num(n.mem_mib), memAllocMiB: num(n.mem_allocated_mib) };
    }).filter((n) => !site || !n.site || n.site === site);
  }

  // metrics reads the public Prometheus text into {name: [{labels, value}]}.
  async function metrics() {
    const r = await fetch("/metrics");
    const out = {};
    for (const line of (await r.text()).split("\n")) {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      for (const p of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
      (out[m[1]] ||= []).push({ labels, value: Number(m[3]) });
    }
    return out;
  }
  const metricSum = (ms, name) => (ms[name] || []).reduce((a, s) => a + s.value, 0);

  // chart makes an ECharts instance that follows the window's size. Its
  // tooltips are drawn on the canvas (richText), never as HTML: no markup
  // from the data reaches the page, and no inline style, which the
  // Content-Security-Policy forbids.
  //
  // A chart whose box is empty (a window shrunk to nothing, the 1×1
  // viewport a full-page capture passes through) is neither resized nor
  // given options until it has a size again: ECharts lays a map out in
  // such a box with a singular transform and throws.
  function chart(node, option) {
    const c = echarts.init(node, null, { renderer: "canvas" });
    const set = c.setOption.bind(c);
    const sized = () => node.clientWidth > 0 && node.clientHeight > 0;
    let held = [];
    c.setOption = (o, ...rest) => {
      const args = [o && o.tooltip ? { ...o, tooltip: { ...o.tooltip, renderMode: "richText" } } : o, ...rest];
      if (!sized()) { held.push(args); return; }
      set(...args);
    };
    c.setOption({
      backgroundColor: "transparent",
      textStyle: { color: "#e8eef6", fontFamily: "inherit" },
      aria: { enabled: true },
      tooltip: { renderMode: "richText" },
      ...option,
    });
    const follow = () => {
      if (!sized()) return;
      c.resize();
      const h = held;
      held = [];
      for (const args of h) set(...args);
    };
    window.addEventListener("resize", follow);
    new ResizeObserver(follow).observe(node);
    return c;
  }
  const axis = (o) => ({ axisLine: { lineStyle: { color: "#5a6b82" } }, splitLine: { lineStyle: { color: "#2c3d55" } }, axisLabel: { color: "#a9b7c9" }, ...o });

  // Sampler: every PERIOD ms, one sample of allocation, queue and
  // decisions, kept in a ring in sessionStorage so history survives
  // moving between pages.
  const PERIOD = 5000, KEEP = 720;
  function samples() { try { return JSON.parse(sessionStorage.getItem(RING) || "[]"); } catch { return []; } }
  async function sample() {
    const [cap, ms, live] = await Promise.all([api("/v1/capacity"), metrics(), liveJobs()]);
    const byVendor = {}, byTenant = {};
    for (const b of cap.breakdowns.vendor || []) byVendor[b.key] = b.allocated_gflops;
    for (const j of live) byTenant[j.spec.tenant] = (byTenant[j.spec.tenant] || 0) + ((j.placement && j.placement.gflops) || 0);
    const s = { t: Date.now(), alloc: cap.ai.allocated_gflops, installed: cap.ai.gflops, byVendor, byTenant,
      queue: metricSum(ms, "suanli_queue_depth"), decisions: metricSum(ms, "suanli_decisions_total") };
    const ring = samples();
    ring.push(s);
    while (ring.length > KEEP) ring.shift();
    sessionStorage.setItem(RING, JSON.stringify(ring));
    document.dispatchEvent(new CustomEvent("suanli:sample", { detail: ring }));
    return ring;
  }
  function startSampler() {
    const tick = () => sample().catch(() => {});
    tick();
    setInterval(tick, PERIOD);
  }

  // events follows /v1/events (Server-Sent Events) over fetch, since
  // EventSource cannot send the token; it reconnects with Last-Event-ID and
  // dispatches each job change as a "suanli:job" DOM event.
  function follow() {
    const live = $("#live");
    let last = "";
    const set = (cls, text) => { if (live) { live.className = "live " + cls; live.textContent = text; } };
    async function once() {
      const headers = { Authorization: "Bearer " + token(), Accept: "text/event-stream" };
      if (last) headers["Last-Event-ID"] = last;
      const r = await fetch("/v1/events", { headers });
      if (r.status === 401) { signOut(); return; }
      if (r.status === 400) last = ""; // the revision is compacted: start from now
      if (!r.ok || !r.body) throw new Error("events: HTTP " + r.status);
      set("on", "live");
      const rd = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id = "", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) id = line.slice(3).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (id) last = id;
          if (!data) continue;
          try {
            const ev = JSON.parse(data);
            if (ev.job) document.dispatchEvent(new CustomEvent("suanli:job", { detail: ev }));
          } catch { /* a malformed event is skipped */ }
        }
      }
    }
    (async () => {
      for (let wait = 1000; ; wait = Math.min(wait * 2, 30000)) {
        try { await once(); wait = 1000; } catch { /* reconnect below */ }
        set("off", "reconnecting…");
        await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  // debounce coalesces bursts of events into one refresh.
  function debounce(fn, ms) {
    let t = null;
    return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  }
  function onJobs(fn, ms = 800) { document.addEventListener("suanli:job", debounce(fn, ms)); }

  // run starts a page: checks the token, labels the user, starts the
  // sampler and the live stream, then the page's own main().
  async function run(main) {
    if (page === "login") return main();
    if (!token()) { signOut(); return; }
    $("#logout").addEventListener("click", signOut);
    try {
      const who = await whoami();
      $("#whoami").textContent = who.role === "tenant" ? `tenant ${who.tenant}` : who.role;
      startSampler();
      follow();
      await main(who);
      document.body.dataset.ready = "1";
    } catch (e) {
      showError(e);
      document.body.dataset.ready = "error";
    }
  }

  return { token, api, whoami, has, el, fill, $, showError, ef, pf, pct, perMille, permilleText, int, when, vendorColor, stateBadge, jobLink, shape,
    jobs, liveJobs, nodes, metrics, metricSum, chart, axis, samples, onJobs, debounce, run, page, pageID, TOKEN, WHO, APIError };
})();
