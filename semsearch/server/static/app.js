"use strict";
// The semsearch web page: plain DOM, the JSON API, no third-party code. Every piece of
// text from the index is inserted as a text node (never as HTML), <mark>s included.

const API = "/api/v1";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// -- the API ----------------------------------------------------------------------------------
function token() { return sessionStorage.getItem("semsearch-token") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(API + path, {method: options.method || "GET", headers, body: options.body,
                                             signal: options.signal});
  let data = null;
  try { data = await response.json(); } catch (e) { data = {error: response.statusText, status: response.status}; }
  if (!response.ok) {
    const error = new Error(data && data.error ? data.error : response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function toast(message, ok) {
  const box = $("toast");
  box.textContent = message;
  box.className = ok ? "toast ok" : "toast";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => search.append(k, x));
    else if (v !== null && v !== undefined && v !== "") search.append(k, v);
  }
  return search.toString();
}

// Text with <mark> around [start, end) spans, built from text nodes: safe for any text.
function marked(text, spans) {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const [start, end] of spans || []) {
    if (start < at) continue;
    out.append(text.slice(at, start), el("mark", {}, text.slice(start, end)));
    at = end;
  }
  out.append(text.slice(at));
  return out;
}

// A window of about ``width`` characters around the first marked word, on word boundaries.
function snippet(text, spans, width = 360) {
  if (text.length <= width) return marked(text, spans);
  const first = spans && spans.length ? spans[0][0] : 0;
  let start = Math.max(0, first - Math.floor(width / 3));
  if (start > 0) { const space = text.indexOf(" ", start); start = space >= 0 && space < first ? space + 1 : start; }
  let end = Math.min(text.length, start + width);
  if (end < text.length) { const space = text.lastIndexOf(" ", end); end = space > start ? space : end; }
  const inside = (spans || []).filter(([a, b]) => a >= start && b <= end).map(([a, b]) => [a - start, b - start]);
  const out = document.createDocumentFragment();
  if (start > 0) out.append("… ");
  out.append(marked(text.slice(start, end), inside));
  if (end < text.length) out.append(" …");
  return out;
}

const fmt = (x, digits = 4) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

// -- routing (hash) -----------------------------------------------------------------------------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = hash.split("?");
  const params = new URLSearchParams(qs || "");
  let page = "search";
  if (path.startsWith("/doc/")) page = "doc";
  else if (path === "/map") page = "map";
  else if (path === "/index") page = "index";
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== "page-" + page;
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (page === "search") Search.show(params);
  else if (page === "doc") DocView.show(decodeURIComponent(path.slice(5)), params);
  else if (page === "map") MapView.show(params);
  else IndexView.show();
}

// -- search ----------------------------------------------------------------------------------------
const Search = {
  filters: {},  // field -> value (metadata equality filters: AND)
  timer: null,
  controller: null,
  facetsLoaded: false,

  state() {
    return {q: $("q").value.trim(), mode: document.querySelector("input[name=mode]:checked").value,
            k: $("k").value};
  },

  where() { return Object.entries(this.filters).map(([f, v]) => `${f}=${v}`); },

  show(params) {
    if (params.has("q") && params.get("q") !== $("q").value) $("q").value = params.get("q");
    if (params.has("mode")) {
      const radio = document.querySelector(`input[name=mode][value="${CSS.escape(params.get("mode"))}"]`);
      if (radio) radio.checked = true;
    }
    if (!this.facetsLoaded) this.loadFacets();
    this.run();
    if (!params.has("q")) $("q").focus();
  },

  schedule() {  // search as you type, debounced
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(true), 200);
  },

  async loadFacets() {
    this.facetsLoaded = true;
    const box = $("facets");
    try {
      const data = await api("/facets");
      box.textContent = "";
      if (!data.facets.length) return;
      box.append(el("h2", {class: "small"}, "Filters"));
      for (const facet of data.facets) {
        box.append(el("h3", {}, facet.field));
        for (const value of facet.values) {
          const pressed = this.filters[facet.field] === value.value;
          box.append(el("button", {type: "button", "aria-pressed": pressed ? "true" : "false",
                                   "data-field": facet.field, "data-value": value.value,
                                   onclick: (e) => this.toggle(facet.field, value.value, e.currentTarget)},
                        el("span", {}, value.value), el("span", {class: "count"}, String(value.count))));
        }
      }
    } catch (e) { box.textContent = ""; this.facetsLoaded = e.status !== 401 ? true : false; }
  },

  toggle(field, value, button) {
    if (this.filters[field] === value) delete this.filters[field];
    else this.filters[field] = value;
    for (const b of document.querySelectorAll("#facets button")) {
      b.setAttribute("aria-pressed", this.filters[b.dataset.field] === b.dataset.value ? "true" : "false");
    }
    this.run();
  },

  async run(fromTyping) {
    const {q, mode, k} = this.state();
    const status = $("search-status"), results = $("results");
    if (fromTyping) history.replaceState(null, "", "#/?" + query({q, mode}));
    if (!q) { results.textContent = ""; status.textContent = "Type to search."; return; }
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    const signal = this.controller.signal;
    const modes = mode === "compare" ? ["dense", "keyword", "hybrid"] : [mode];
    try {
      const answers = await Promise.all(modes.map((m) =>
        api("/search?" + query({q, k, mode: m, where: this.where()}), {signal})));
      results.textContent = "";
      if (mode === "compare") {
        const grid = el("div", {class: "compare"});
        answers.forEach((a, i) => grid.append(el("section", {}, el("h2", {}, modes[i]), this.list(a.hits, q))));
        results.append(grid);
      } else {
        results.append(this.list(answers[0].hits, q));
      }
      const n = answers[answers.length - 1].hits.length;
      status.textContent = `${n} result${n === 1 ? "" : "s"} in ${Math.max(...answers.map((a) => a.took_ms)).toFixed(0)} ms`;
    } catch (e) {
      if (e.name === "AbortError") return;
      status.textContent = e.message;
      results.textContent = "";
    }
  },

  list(hits, q) {
    if (!hits.length) return el("p", {class: "status"}, "No results.");
    const list = el("ol", {class: "hits"});
    hits.forEach((hit) => {
      const href = "#/doc/" + encodeURIComponent(hit.id) + "?" + query({q, chunk: hit.chunk});
      const badges = el("div", {class: "badges"});
      for (const [key, value] of Object.entries(hit.metadata || {})) {
        if (typeof value !== "object") badges.append(el("span", {}, `${key}: ${value}`));
      }
      list.append(el("li", {class: "hit"},
        el("h3", {}, el("a", {href}, hit.title || hit.id),
           el("span", {class: "score", tabindex: "0", "aria-label": "score " + fmt(hit.score) + ", explain"},
              fmt(hit.score)),
           this.explain(hit)),
        el("p", {class: "snippet"}, snippet(hit.text, hit.highlights)),
        badges));
    });
    return list;
  },

  explain(hit) {
    const x = hit.explain;
    if (!x) return null;
    const table = el("table", {},
      el("tr", {}, el("th", {}, ""), el("th", {}, "rank"), el("th", {}, "score")),
      el("tr", {}, el("td", {}, "dense (" + x.dense.metric + ")"), el("td", {}, x.dense.rank ?? "–"),
         el("td", {}, fmt(x.dense.score))),
      el("tr", {}, el("td", {}, "keyword (BM25)"), el("td", {}, x.keyword.rank ?? "–"),
         el("td", {}, fmt(x.keyword.bm25, 3))));
    const fused = x.fused === null ? "" :
      `fused: 1/(${x.rrf_k}+${x.dense.rank ?? "∞"}) + 1/(${x.rrf_k}+${x.keyword.rank ?? "∞"}) = ${fmt(x.fused)}`;
    return el("div", {class: "explain", role: "tooltip"}, table, fused ? el("div", {}, fused) : null);
  },

  copy(kind) {
    const {q, mode, k} = this.state();
    const params = {q, k, mode: mode === "compare" ? "hybrid" : mode, where: this.where()};
    const url = location.origin + API + "/search?" + query(params);
    const auth = token() ? ' -H "Authorization: Bearer $SEMSEARCH_TOKEN"' : "";
    const text = kind === "curl"
      ? `curl -s${auth} '${url.replace(/'/g, "'\\''")}'`
      : ["import os, httpx", "", `params = ${JSON.stringify(params)}`,
         `headers = {"Authorization": "Bearer " + os.environ["SEMSEARCH_TOKEN"]}` + (token() ? "" : "  # if the index has tokens"),
         `hits = httpx.get("${location.origin + API}/search", params=params${token() ? ", headers=headers" : ""}).json()["hits"]`,
         'for hit in hits:', '    print(f"{hit[\'score\']:.4f}  {hit[\'id\']}  {hit[\'title\']}")'].join("\n");
    const box = $("copy-text");
    box.textContent = text;
    box.hidden = false;
    if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => toast("Copied.", true), () => {});
  },
};

// -- document view ---------------------------------------------------------------------------------
const DocView = {
  async show(id, params) {
    const q = params.get("q") || "";
    $("doc-back").href = "#/?" + query({q});
    $("doc-title").textContent = "Loading…";
    $("doc-meta").textContent = "";
    $("doc-text").textContent = "";
    $("doc-keywords").textContent = "";
    $("doc-similar").textContent = "";
    const enc = encodeURIComponent(id);
    let doc;
    try { doc = await api("/documents/" + enc); } catch (e) { $("doc-title").textContent = e.message; return; }
    $("doc-title").textContent = doc.title || doc.id;
    const meta = [`id ${doc.id}`, doc.source ? `source ${doc.source}` : null, `${doc.chunks} chunk(s)`,
                  ...Object.entries(doc.metadata || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)];
    $("doc-meta").textContent = meta.filter(Boolean).join(" · ");
    const chunk = params.has("chunk") && params.get("chunk") !== "" ? Number(params.get("chunk")) : null;
    const span = doc.chunk_spans.find((s) => s.chunk === chunk);
    const text = $("doc-text");
    if (span) {
      const best = el("span", {class: "best", id: "best-chunk"}, doc.text.slice(span.start, span.end));
      text.append(doc.text.slice(0, span.start), best, doc.text.slice(span.end));
      requestAnimationFrame(() => best.scrollIntoView({block: "center"}));
    } else {
      text.append(doc.text);
    }
    api(`/documents/${enc}/keywords?n=10`).then((data) => {
      for (const k of data.keywords) $("doc-keywords").append(el("li", {}, k.phrase + " ", el("span", {class: "small"}, fmt(k.score, 3))));
    }).catch(() => {});
    api(`/documents/${enc}/similar?k=8`).then((data) => {
      for (const h of data.hits) {
        $("doc-similar").append(el("li", {}, el("a", {href: "#/doc/" + encodeURIComponent(h.id) + "?" + query({chunk: h.chunk})},
          h.title || h.id), " ", el("span", {class: "small"}, fmt(h.score, 3))));
      }
    }).catch(() => {});
  },
};

// -- map ----------------------------------------------------------------------------------------------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d", "#31a354"];
const colour = (label) => (label < 0 ? "#c4c9cd" : PALETTE[label % PALETTE.length]);

const MapView = {
  data: null, view: {x: 0, y: 0, scale: 1}, grid: null, lasso: null, lassoMode: false, query: null,
  selected: null, hover: -1, loadedName: null,

  async show(params) {
    const select = $("map-name");
    try {
      const runs = (await api("/clusterings")).clusterings;
      select.textContent = "";
      for (const r of runs) select.append(el("option", {value: r.name}, `${r.name} (${r.clusters} clusters)`));
      if (!runs.length) { $("map-status").textContent = "No stored clustering: run `semsearch cluster` or use the Index page."; return; }
      const wanted = params.get("name");
      if (wanted && runs.some((r) => r.name === wanted)) select.value = wanted;
      if (params.get("projection")) $("map-projection").value = params.get("projection");
      if (this.loadedName !== select.value + "/" + $("map-projection").value) await this.load(select.value);
      else this.draw();
      if (params.get("q")) { $("map-q").value = params.get("q"); this.placeQuery(); }
    } catch (e) { $("map-status").textContent = e.message; }
  },

  async load(name) {
    $("map-status").textContent = "Projecting the documents…";
    const projection = $("map-projection").value;
    let run = null;
    // A first UMAP projection can outlast the request deadline (504); it goes on in the
    // server and is cached, so ask again.
    for (let attempt = 1; run === null; attempt++) {
      try { run = await api("/clusterings/" + encodeURIComponent(name) + "?" + query({projection})); } catch (e) {
        if (e.status !== 504 || attempt >= 30) throw e;
        $("map-status").textContent = `Projecting the documents… (still working, ${attempt})`;
      }
    }
    this.loadedName = name + "/" + projection;
    this.data = run.map;
    this.selected = null; this.query = null;
    const n = this.data.points;
    this.xs = Float32Array.from(this.data.x);
    this.ys = Float32Array.from(this.data.y);
    this.buildGrid();
    const legend = $("map-legend");
    legend.textContent = "";
    for (const c of run.clusters) {
      legend.append(el("li", {}, el("span", {class: "swatch", style: `background:${colour(c.label)}`}),
                       `${c.label < 0 ? "noise" : c.label}: ${c.title} (${c.size})`));
    }
    $("map-status").textContent = `${n} documents, ${run.map.projection.toUpperCase()} projection`;
    this.reset();
  },

  buildGrid() {  // a 64x64 bucket grid over [0,1]^2 for hover and click
    const G = 64, grid = new Map();
    for (let i = 0; i < this.xs.length; i++) {
      const key = Math.min(G - 1, Math.floor(this.xs[i] * G)) * G + Math.min(G - 1, Math.floor(this.ys[i] * G));
      if (!grid.has(key)) grid.set(key, []);
      grid.get(key).push(i);
    }
    this.grid = {G, cells: grid};
  },

  canvas() { return $("map"); },

  resize() {
    const c = this.canvas(), ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio); c.height = Math.round(h * ratio);
    }
    return {w, h, ratio};
  },

  reset() {
    const {w, h} = this.resize();
    const size = Math.min(w, h) * 0.9;
    this.view = {scale: size, x: (w - size) / 2, y: (h - size) / 2};
    this.draw();
  },

  toScreen(i) { return [this.view.x + this.xs[i] * this.view.scale, this.view.y + (1 - this.ys[i]) * this.view.scale]; },
  toData(px, py) { return [(px - this.view.x) / this.view.scale, 1 - (py - this.view.y) / this.view.scale]; },

  draw() {
    if (!this.data) return;
    const c = this.canvas(), ctx = c.getContext("2d");
    const {w, h, ratio} = this.resize();
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const labels = this.data.labels, n = this.xs.length;
    const r = n > 20000 ? 1.2 : n > 2000 ? 2 : 3.5;
    const byColour = new Map();
    for (let i = 0; i < n; i++) {
      const col = colour(labels[i]);
      if (!byColour.has(col)) byColour.set(col, []);
      byColour.get(col).push(i);
    }
    ctx.globalAlpha = this.selected ? 0.35 : 0.85;
    for (const [col, members] of byColour) {
      ctx.fillStyle = col;
      ctx.beginPath();
      const squares = n > 20000;  // at this density a square is as good as a disc, and cheaper
      for (const i of members) {
        const [sx, sy] = this.toScreen(i);
        if (sx < -5 || sy < -5 || sx > w + 5 || sy > h + 5) continue;
        if (squares) { ctx.rect(sx - r, sy - r, 2 * r, 2 * r); continue; }
        ctx.moveTo(sx + r, sy);
        ctx.arc(sx, sy, r, 0, 6.2832);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    if (this.selected) {
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5;
      for (const i of this.selected) { const [sx, sy] = this.toScreen(i); ctx.strokeRect(sx - r - 1, sy - r - 1, 2 * r + 2, 2 * r + 2); }
    }
    if (this.query) {
      const [qx, qy] = [this.view.x + this.query.x * this.view.scale, this.view.y + (1 - this.query.y) * this.view.scale];
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1;
      for (const i of this.query.near) { const [sx, sy] = this.toScreen(i); ctx.beginPath(); ctx.moveTo(qx, qy); ctx.lineTo(sx, sy); ctx.stroke(); }
      ctx.fillStyle = "#111"; ctx.beginPath(); ctx.arc(qx, qy, 7, 0, 6.2832); ctx.fill();
      ctx.fillStyle = "#fff"; ctx.beginPath(); ctx.arc(qx, qy, 3, 0, 6.2832); ctx.fill();
    }
    if (this.hover >= 0) {
      const [sx, sy] = this.toScreen(this.hover);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(sx, sy, r + 3, 0, 6.2832); ctx.stroke();
    }
    if (this.lasso && this.lasso.length > 1) {
      ctx.strokeStyle = "#f0a000"; ctx.lineWidth = 2; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(...this.lasso[0]); for (const p of this.lasso) ctx.lineTo(...p); ctx.closePath(); ctx.stroke();
      ctx.setLineDash([]);
    }
  },

  nearest(px, py, radius = 8) {
    if (!this.data) return -1;
    const [dx, dy] = this.toData(px, py), G = this.grid.G;
    const reach = Math.ceil((radius / this.view.scale) * G) + 1;
    const cx = Math.floor(dx * G), cy = Math.floor(dy * G);
    let best = -1, bestD = radius * radius;
    for (let gx = cx - reach; gx <= cx + reach; gx++) {
      for (let gy = cy - reach; gy <= cy + reach; gy++) {
        if (gx < 0 || gy < 0 || gx >= G || gy >= G) continue;
        for (const i of this.grid.cells.get(gx * G + gy) || []) {
          const [sx, sy] = this.toScreen(i), d = (sx - px) ** 2 + (sy - py) ** 2;
          if (d < bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  },

  zoom(factor, px, py) {
    const c = this.canvas();
    if (px === undefined) { px = c.clientWidth / 2; py = c.clientHeight / 2; }
    this.view.x = px - (px - this.view.x) * factor;
    this.view.y = py - (py - this.view.y) * factor;
    this.view.scale *= factor;
    this.draw();
  },

  async select(polygon) {
    const inside = (x, y) => {
      let hit = false;
      for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
        const [xi, yi] = polygon[i], [xj, yj] = polygon[j];
        if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
      }
      return hit;
    };
    const chosen = [];
    for (let i = 0; i < this.xs.length; i++) { const [sx, sy] = this.toScreen(i); if (inside(sx, sy)) chosen.push(i); }
    this.selected = chosen.length ? chosen : null;
    this.draw();
    const box = $("map-selection");
    box.textContent = "";
    if (!chosen.length) { box.textContent = "No documents inside the lasso."; return; }
    box.append(el("p", {}, `${chosen.length} documents selected. Key phrases:`));
    try {
      const data = await api("/keywords", {method: "POST", json: {ids: chosen.map((i) => this.data.ids[i]), n: 10}});
      const list = el("ol", {class: "keywords", id: "selection-keywords"});
      for (const k of data.keywords) list.append(el("li", {}, k.phrase));
      box.append(list);
      const docs = el("ul", {});
      for (const i of chosen.slice(0, 10)) docs.append(el("li", {}, el("a", {href: "#/doc/" + encodeURIComponent(this.data.ids[i])}, this.data.titles[i] || this.data.ids[i])));
      box.append(el("p", {class: "small"}, "First documents:"), docs);
    } catch (e) { box.append(el("p", {}, e.message)); }
  },

  async placeQuery() {
    const q = $("map-q").value.trim();
    if (!q || !this.data) { this.query = null; this.draw(); return; }
    // Dense neighbours: the map is drawn from the vectors, so the query joins them by its vector.
    const hits = (await api("/search?" + query({q, k: 10, mode: "dense", explain: "false", highlight: "false"}))).hits;
    const position = new Map(this.data.ids.map((id, i) => [id, i]));
    const near = hits.map((h) => position.get(h.id)).filter((i) => i !== undefined);
    if (!near.length) { this.query = null; this.draw(); return; }
    // The query sits at the rank-weighted mean of its nearest documents' places.
    let sx = 0, sy = 0, sw = 0;
    near.forEach((i, rank) => { const wgt = 1 / (rank + 1); sx += wgt * this.xs[i]; sy += wgt * this.ys[i]; sw += wgt; });
    this.query = {x: sx / sw, y: sy / sw, near};
    $("map-status").textContent = `"${q}": placed among its ${near.length} nearest documents`;
    this.draw();
  },

  init() {
    const c = this.canvas();
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      c.setPointerCapture(e.pointerId);
      const p = [e.offsetX, e.offsetY];
      if (this.lassoMode || e.shiftKey) { this.lasso = [p]; drag = {lasso: true}; }
      else drag = {x: e.offsetX, y: e.offsetY, vx: this.view.x, vy: this.view.y, moved: false};
    });
    c.addEventListener("pointermove", (e) => {
      if (drag && drag.lasso) { this.lasso.push([e.offsetX, e.offsetY]); this.draw(); return; }
      if (drag) {
        const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        this.view.x = drag.vx + dx; this.view.y = drag.vy + dy; this.draw(); return;
      }
      const i = this.nearest(e.offsetX, e.offsetY);
      const tip = $("map-tip");
      if (i !== this.hover) { this.hover = i; this.draw(); }
      if (i >= 0) {
        tip.textContent = this.data.titles[i] || this.data.ids[i];
        tip.style.left = Math.min(e.offsetX + 12, c.clientWidth - 150) + "px"; tip.style.top = (e.offsetY + 12) + "px";
        tip.hidden = false; c.style.cursor = "pointer";
      } else { tip.hidden = true; c.style.cursor = "grab"; }
    });
    c.addEventListener("pointerup", (e) => {
      if (drag && drag.lasso) {
        const polygon = this.lasso; this.lasso = null; drag = null;
        if (polygon.length > 2) this.select(polygon); else this.draw();
        return;
      }
      const moved = drag && drag.moved; drag = null;
      if (!moved) {
        const i = this.nearest(e.offsetX, e.offsetY);
        if (i >= 0) location.hash = "#/doc/" + encodeURIComponent(this.data.ids[i]);
      }
    });
    c.addEventListener("pointerleave", () => { $("map-tip").hidden = true; if (this.hover >= 0) { this.hover = -1; this.draw(); } });
    c.addEventListener("wheel", (e) => { e.preventDefault(); this.zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.offsetX, e.offsetY); }, {passive: false});
    c.addEventListener("keydown", (e) => {
      const step = 40, moves = {ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step]};
      if (moves[e.key]) { this.view.x += moves[e.key][0]; this.view.y += moves[e.key][1]; this.draw(); e.preventDefault(); }
      else if (e.key === "+" || e.key === "=") this.zoom(1.25);
      else if (e.key === "-") this.zoom(0.8);
      else if (e.key === "0") this.reset();
    });
    $("map-zoom-in").addEventListener("click", () => this.zoom(1.25));
    $("map-zoom-out").addEventListener("click", () => this.zoom(0.8));
    $("map-reset").addEventListener("click", () => this.reset());
    $("map-lasso").addEventListener("click", (e) => {
      this.lassoMode = !this.lassoMode;
      e.currentTarget.setAttribute("aria-pressed", this.lassoMode ? "true" : "false");
    });
    $("map-name").addEventListener("change", () => this.load($("map-name").value).catch((e) => toast(e.message)));
    $("map-projection").addEventListener("change", () => this.load($("map-name").value).catch((e) => toast(e.message)));
    let timer = null;
    $("map-q").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => this.placeQuery().catch((e) => toast(e.message)), 300); });
    $("map-form").addEventListener("submit", (e) => { e.preventDefault(); this.placeQuery().catch((err) => toast(err.message)); });
    window.addEventListener("resize", () => this.draw());
  },
};

// -- index page ---------------------------------------------------------------------------------------
const IndexView = {
  poll: null,
  async show() {
    try {
      const info = await api("/info");
      const s = info.settings;
      const rows = [["documents", info.documents], ["chunks", info.chunks], ["model", s.model],
        ["layers", `${s.layers} → ${JSON.stringify(s.layer_indices)}`], ["pooling", s.pooling],
        ["precision", s.precision || "fp32"], ["dimension", s.dimension],
        ["chunking", `${s.chunk_size} tokens, ${s.chunk_overlap} overlap`], ["updated", info.updated || "–"],
        ["database", (info.size_bytes.database / 1e6).toFixed(2) + " MB"],
        ["server", info.server.read_only ? "read-only (no tokens)" : "tokens required for writes"]];
      $("index-info").textContent = "";
      $("index-info").append(el("table", {class: "kv"}, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, String(v))))));
      const runs = (await api("/clusterings")).clusterings;
      const box = $("index-clusterings");
      box.textContent = "";
      if (!runs.length) box.append(el("p", {class: "small"}, "None stored."));
      else box.append(el("table", {class: "kv"}, el("tr", {}, el("th", {}, "name"), el("th", {}, "method"), el("th", {}, "clusters"), el("th", {}, "documents"), el("th", {}, "created")),
        ...runs.map((r) => el("tr", {}, el("td", {}, el("a", {href: "#/map?" + query({name: r.name})}, r.name)), el("td", {}, r.method),
          el("td", {}, String(r.clusters)), el("td", {}, String(r.documents)), el("td", {}, r.created)))));
    } catch (e) { $("index-info").textContent = e.message; }
    this.jobs();
  },

  async jobs() {
    clearTimeout(this.poll);
    let jobs = [];
    try { jobs = (await api("/jobs")).jobs; } catch (e) { return; }
    const box = $("index-jobs");
    box.textContent = "";
    if (!jobs.length) box.append(el("p", {class: "small"}, "No write jobs since the server started."));
    for (const job of jobs.slice().reverse()) {
      const total = job.progress.total || 0, done = job.progress.done;
      const pct = total ? Math.round((100 * done) / total) : (job.state === "done" ? 100 : 0);
      box.append(el("div", {class: "job", "data-state": job.state},
        el("p", {}, `${job.description}: ${job.state}` + (total ? ` (${done}/${total})` : "") + (job.error ? ` — ${job.error.error}` : "")),
        el("div", {class: "progress", role: "progressbar", "aria-valuenow": String(pct), "aria-valuemin": "0", "aria-valuemax": "100"},
           el("div", {style: `width:${pct}%`}))));
    }
    if (jobs.some((j) => j.state === "queued" || j.state === "running") && location.hash.startsWith("#/index")) {
      this.poll = setTimeout(() => this.jobs(), 700);
    } else if (location.hash.startsWith("#/index") && this.waiting) {
      this.waiting = false; this.show();
    }
  },

  async upload(e) {
    e.preventDefault();
    const files = Array.from($("upload-files").files);
    if (!files.length) { toast("Choose files first."); return; }
    const documents = [];
    for (const file of files) {
      const text = await file.text();
      if (/\.jsonl$/i.test(file.name)) {
        text.split("\n").filter((l) => l.trim()).forEach((line) => {
          const r = JSON.parse(line);
          documents.push({id: String(r.id ?? r._id), text: r.text, title: r.title ?? null, metadata: r.metadata || {}});
        });
      } else if (/\.json$/i.test(file.name)) {
        for (const r of [].concat(JSON.parse(text))) documents.push({id: String(r.id ?? r._id), text: r.text, title: r.title ?? null, metadata: r.metadata || {}});
      } else {
        documents.push({id: file.name, text, title: file.name.replace(/\.[^.]+$/, ""), source: file.name});
      }
    }
    try {
      const job = await api("/documents", {method: "POST", json: {documents}});
      toast(`Indexing ${documents.length} document(s): job ${job.job}`, true);
      this.waiting = true;
      this.jobs();
    } catch (err) { toast(err.message); }
  },
};

// -- start -------------------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("token").value = token();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("semsearch-token", $("token").value.trim());
    Search.facetsLoaded = false; MapView.loadedName = null;
    toast($("token").value.trim() ? "Token set for this tab." : "Token cleared.", true);
    route();
  });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); Search.run(true); });
  $("q").addEventListener("input", () => Search.schedule());
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", () => Search.run(true));
  $("k").addEventListener("change", () => Search.run());
  $("copy-curl").addEventListener("click", () => Search.copy("curl"));
  $("copy-python").addEventListener("click", () => Search.copy("python"));
  $("upload-form").addEventListener("submit", (e) => IndexView.upload(e));
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); location.hash.startsWith("#/map") ? $("map-q").focus() : $("q").focus(); }
    if (e.key === "Escape" && document.activeElement === $("q")) { $("q").value = ""; Search.run(true); }
  });
  MapView.init();
  window.addEventListener("hashchange", route);
  route();
});
