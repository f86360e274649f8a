// The explorer's browser side: text panes with virtualised rendering, search, wrap and line numbers.
// Streamlit calls the default export on every script run; the panes are rebuilt only when their data
// (identified by `data.sig`) changed, so scroll position, search and options survive reruns.
// Every string that reaches innerHTML is escaped here (texts arrive plain, with Pygments' token classes).

const CHUNK = 200; // lines per chunk: a chunk is filled only when it comes near the viewport

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// A line's highlighted HTML, from its text and its Pygments runs [length, class index, ...] (see token_runs).
function tokensHtml(view, i) {
  const text = view.lines[i], runs = view.runs ? view.runs[i] : null;
  if (!text) return " ";
  if (!runs || !runs.length) return esc(text);
  const chars = /[\uD800-\uDFFF]/.test(text) ? Array.from(text) : null; // Python counts code points
  const cut = (a, b) => (chars ? chars.slice(a, b).join("") : text.slice(a, b));
  const end = chars ? chars.length : text.length;
  let h = "", p = 0;
  for (let k = 0; k < runs.length; k += 2) {
    const seg = esc(cut(p, p + runs[k])), cls = view.classes[runs[k + 1]];
    h += cls ? `<span class="${esc(cls)}">${seg}</span>` : seg;
    p += runs[k];
  }
  if (p < end) h += esc(cut(p, end));
  return h;
}

// Underline whole-word variable names (a grad's residuals, vmap's batched variables) outside tags.
const wordRes = new Map();
function emphasise(html, names) {
  if (!names || !names.length) return html;
  const key = names.join(" ");
  let word = wordRes.get(key);
  if (!word) { // `&` too: `lt` is a variable name and part of `&lt;`
    const alt = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|");
    word = new RegExp(`(?<![\\w:.&])(${alt})(?![\\w\\[])`, "g");
    wordRes.set(key, word);
  }
  return html.split(/(<[^>]+>)/).map((p) => (p.startsWith("<") ? p : p.replace(word, '<b class="em">$1</b>'))).join("");
}

function lineHtml(pane, i) {
  const view = pane.view, n = i + 1;
  const cls = ["ln-row"];
  if (pane.selected.has(n)) cls.push("sel");
  if (pane.hits && pane.hitSet.has(i)) cls.push(pane.hits[pane.hitIndex] === i ? "hit cur" : "hit");
  const color = view.colors ? view.colors[n] : undefined;
  const style = color ? ` style="--bg:${esc(color)}"` : "";
  const src = view.src && view.src[n] !== undefined ? ` data-src="${esc(view.src[n])}"` : "";
  const bg = color ? " painted" : "";
  return `<div class="${cls.join(" ")}${bg}" data-line="${n}"${src}${style}><span class="no">${n}</span><span class="tx">${emphasise(tokensHtml(view, i), (view.em && view.em[n]) || view.emAll)}</span></div>`;
}

function fillChunk(pane, c) {
  const el = pane.chunks[c];
  const start = c * CHUNK, stop = Math.min(start + CHUNK, pane.view.lines.length);
  let h = "";
  for (let i = start; i < stop; i++) h += lineHtml(pane, i);
  el.innerHTML = h;
  el.style.height = "";
  el.dataset.filled = "1";
}

function refill(pane) {
  pane.chunks.forEach((el, c) => { if (el.dataset.filled) fillChunk(pane, c); });
}

function buildPane(root, view, opts, send) {
  view.lines = view.text.split("\n");
  const pane = { view, selected: new Set(view.selected || []), hits: null, hitSet: new Set(), hitIndex: 0, plain: null };
  const box = document.createElement("div");
  box.className = "pane";
  box.innerHTML =
    `<div class="head"><span class="title">${esc(view.title || "")}</span><span class="meta">${esc(view.meta || "")}</span>` +
    `<span class="tools"><input class="search" type="search" placeholder="search" aria-label="Search ${esc(view.title || "text")}">` +
    `<span class="count"></span><button class="prev" title="previous match">&#8593;</button><button class="next" title="next match">&#8595;</button>` +
    `<label title="wrap long lines"><input type="checkbox" class="wrap"> wrap</label>` +
    `<label title="line numbers"><input type="checkbox" class="nums" checked> numbers</label></span></div>` +
    `<div class="scroll" tabindex="0"><div class="code"></div></div>`;
  const scroll = box.querySelector(".scroll"), code = box.querySelector(".code");
  scroll.style.height = `${opts.height}px`;
  pane.chunks = [];
  const total = view.lines.length;
  for (let c = 0; c * CHUNK < Math.max(total, 1); c++) {
    const el = document.createElement("div");
    el.className = "chunk";
    el.dataset.chunk = c;
    el.style.height = `${Math.min(CHUNK, total - c * CHUNK) * opts.lineHeight}px`;
    code.appendChild(el);
    pane.chunks.push(el);
  }
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting && !e.target.dataset.filled) fillChunk(pane, +e.target.dataset.chunk);
  }, { root: scroll, rootMargin: "600px 0px" });
  pane.chunks.forEach((el) => observer.observe(el));
  pane.observer = observer;
  const wrap = box.querySelector(".wrap"), nums = box.querySelector(".nums");
  wrap.checked = !!opts.wrap;
  box.classList.toggle("wrapped", wrap.checked);
  wrap.addEventListener("change", () => box.classList.toggle("wrapped", wrap.checked));
  nums.addEventListener("change", () => box.classList.toggle("nonums", !nums.checked));
  const input = box.querySelector(".search"), count = box.querySelector(".count");
  const go = (delta) => {
    if (!pane.hits || !pane.hits.length) return;
    pane.hitIndex = (pane.hitIndex + delta + pane.hits.length) % pane.hits.length;
    reveal(pane, scroll, pane.hits[pane.hitIndex]);
    count.textContent = `${pane.hitIndex + 1}/${pane.hits.length}`;
  };
  input.addEventListener("input", () => {
    const q = input.value.toLowerCase();
    if (!pane.plain) pane.plain = view.lines.map((l) => l.toLowerCase());
    pane.hits = q ? pane.plain.flatMap((l, i) => (l.includes(q) ? [i] : [])) : null;
    pane.hitSet = new Set(pane.hits || []);
    pane.hitIndex = 0;
    count.textContent = pane.hits ? (pane.hits.length ? `1/${pane.hits.length}` : "0") : "";
    refill(pane);
    if (pane.hits && pane.hits.length) reveal(pane, scroll, pane.hits[0]);
  });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); go(e.shiftKey ? -1 : 1); } });
  box.querySelector(".prev").addEventListener("click", () => go(-1));
  box.querySelector(".next").addEventListener("click", () => go(1));
  if (view.prims && view.prims.length) box.classList.add("prims");
  code.addEventListener("click", (e) => {
    // A primitive's name (Pygments' Name.Function token) opens its card: an event of its own, not a line pick.
    const token = view.prims && e.target.closest(".nf");
    if (token && opts.primitive && view.prims.includes(token.textContent)) { opts.primitive(token.textContent); return; }
    const row = e.target.closest(".ln-row");
    if (row && row.dataset.src && send) send({ view: view.id, line: +row.dataset.line, src: +row.dataset.src });
  });
  root.appendChild(box);
  pane.box = box;
  pane.scroll = scroll;
  const first = pane.selected.size ? Math.min(...pane.selected) - 1 : (view.scrollTo || 0) - 1;
  if (first >= 0) requestAnimationFrame(() => reveal(pane, scroll, first));
  return pane;
}

function reveal(pane, scroll, i) {
  const c = Math.floor(i / CHUNK);
  if (!pane.chunks[c].dataset.filled) fillChunk(pane, c);
  const row = pane.chunks[c].querySelector(`[data-line="${i + 1}"]`);
  if (!row) return;
  const top = row.getBoundingClientRect().top - scroll.getBoundingClientRect().top + scroll.scrollTop;
  scroll.scrollTop = Math.max(top - scroll.clientHeight / 3, 0);
}

// --- graphs: a Graphviz SVG with pan, zoom and a details panel --------------------------------------

function buildGraph(root, data, send, primitive) {
  const wrap = document.createElement("div");
  wrap.className = "graph";
  wrap.style.height = `${data.height}px`;
  wrap.innerHTML =
    `<div class="stage">${data.svg}</div>` + // Graphviz's SVG: labels escaped when the DOT was written
    `<div class="bar"><button data-z="in" title="zoom in">+</button><button data-z="out" title="zoom out">&minus;</button>` +
    `<button data-z="fit" title="fit the whole graph">fit</button><button data-z="one" title="100 %, top of the graph">100%</button>` +
    `<span class="zoom"></span><span class="hint">wheel: zoom · drag: pan · click: details${data.expandable && data.expandable.length ? " · click a ▸ node: open it" : ""}</span></div>` +
    `<div class="info"></div>`;
  root.appendChild(wrap);
  const stage = wrap.querySelector(".stage"), info = wrap.querySelector(".info"), svg = stage.querySelector("svg");
  const zoomLabel = wrap.querySelector(".zoom");
  let s = 1, x = 0, y = 0, pinned = false;
  if (!svg) return;
  const vb = svg.viewBox.baseVal;
  svg.setAttribute("width", vb.width);
  svg.setAttribute("height", vb.height);
  svg.querySelectorAll("g.node > title").forEach((t) => { t.parentNode.dataset.id = t.textContent; });
  const apply = () => { stage.style.transform = `translate(${x}px,${y}px) scale(${s})`; zoomLabel.textContent = `${Math.round(s * 100)} %`; };
  const top = () => { // 100 % at the top of the graph: readable, whatever its size
    const W = wrap.clientWidth;
    s = Math.min(1, W / vb.width > 1 ? 1 : Math.max(W / vb.width, data.minZoom || 0.6));
    x = vb.width * s < W ? (W - vb.width * s) / 2 : 0; y = 34; apply();
  };
  const fit = () => {
    const W = wrap.clientWidth, H = wrap.clientHeight - 34;
    s = Math.min(W / vb.width, H / vb.height, 1.5); x = (W - vb.width * s) / 2; y = 34; apply();
  };
  const zoom = (k, mx, my) => {
    const s2 = Math.min(Math.max(s * k, 0.02), 8);
    x = mx - (mx - x) * (s2 / s); y = my - (my - y) * (s2 / s); s = s2; apply();
  };
  const show = (id) => {
    const d = data.details[id]; if (!d) return;
    let h = "";
    for (const [k, v] of Object.entries(d)) if (v) h += `<div><span class="k">${esc(k)}</span><pre>${esc(v)}</pre></div>`;
    info.innerHTML = h + (pinned ? '<div class="k">click the background to close</div>' : "");
    info.style.display = "block";
  };
  const nodeOf = (el) => { while (el && el !== svg) { if (el.classList && el.classList.contains("node")) return el; el = el.parentNode; } return null; };
  wrap.addEventListener("wheel", (e) => {
    e.preventDefault(); const r = wrap.getBoundingClientRect();
    zoom(Math.exp(-Math.max(-120, Math.min(120, e.deltaY)) * 0.0012), e.clientX - r.left, e.clientY - r.top); // gentle steps
  }, { passive: false });
  let drag = null;
  wrap.addEventListener("mousedown", (e) => {
    if (e.target.tagName === "BUTTON" || info.contains(e.target)) return;
    drag = { x: e.clientX, y: e.clientY, x0: x, y0: y, moved: false }; wrap.classList.add("grabbing");
  });
  const move = (e) => {
    if (!drag) return; const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true; x = drag.x0 + dx; y = drag.y0 + dy; apply();
  };
  const up = (e) => {
    if (drag && !drag.moved && !info.contains(e.target)) {
      const n = nodeOf(e.target);
      if (n) {
        pinned = true; show(n.dataset.id);
        if (data.expandable && data.expandable.includes(n.dataset.id)) send({ node: n.dataset.id });
      } else { pinned = false; info.style.display = "none"; }
    }
    drag = null; wrap.classList.remove("grabbing");
  };
  // A click on a node that binds a primitive opens its card: an event of its own (a drag is not a click).
  let down = null;
  wrap.addEventListener("mousedown", (e) => { down = [e.clientX, e.clientY]; });
  wrap.addEventListener("click", (e) => {
    const n = nodeOf(e.target), name = n && data.prims && data.prims[n.dataset.id];
    const still = down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) <= 3;
    if (name && primitive && still) primitive(name);
  });
  window.addEventListener("mousemove", move);
  window.addEventListener("mouseup", up);
  wrap.addEventListener("mouseover", (e) => { if (pinned) return; const n = nodeOf(e.target); if (n) show(n.dataset.id); });
  wrap.addEventListener("mouseout", (e) => { if (!pinned && nodeOf(e.target)) info.style.display = "none"; });
  wrap.querySelectorAll("button[data-z]").forEach((b) => b.addEventListener("click", () => {
    const W = wrap.clientWidth / 2, H = wrap.clientHeight / 2, z = b.dataset.z;
    if (z === "in") zoom(1.25, W, H); else if (z === "out") zoom(1 / 1.25, W, H); else if (z === "fit") fit(); else top();
  }));
  top();
  const first = data.matches.length ? [...svg.querySelectorAll("g.node")].find((n) => n.dataset.id === data.matches[0]) : null;
  if (first) { // a search: centre its first match
    s = Math.max(s, 0.8); apply();
    const r = first.getBoundingClientRect(), w = wrap.getBoundingClientRect();
    x += w.left + w.width / 2 - (r.left + r.width / 2); y += w.top + w.height / 3 - (r.top + r.height / 2); apply();
    pinned = true; show(data.matches[0]);
  }
  root.__cleanup = () => { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); };
}

// Selections sent apart from the texts (see `selection` in explorer.py): a pick changes a few line
// numbers, so the megabytes of text are not sent again. The last selection per target waits here for
// panes that are not built yet.
const selections = (window.__explorerSelections ||= {});

function select(root) {
  const chosen = selections[root.__target];
  if (!chosen || !root.__panes) return;
  for (const pane of root.__panes) {
    pane.selected = new Set(chosen[pane.view.id] || []);
    refill(pane);
    if (pane.selected.size) reveal(pane, pane.scroll, Math.min(...pane.selected) - 1);
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (data && data.selectionOf !== undefined) { // the selection channel of another component
    selections[data.selectionOf] = data.selected;
    window.dispatchEvent(new CustomEvent("explorer-select", { detail: data.selectionOf }));
    return;
  }
  const root = parentElement.querySelector(".explorer") || parentElement;
  if (!data || root.dataset.sig === data.sig) return; // same texts and marks: keep the panes as they are
  (root.__panes || []).forEach((p) => p.observer.disconnect());
  if (root.__cleanup) root.__cleanup();
  root.innerHTML = "";
  root.dataset.sig = data.sig;
  if (data.svg !== undefined) {
    root.className = "explorer";
    root.__panes = [];
    buildGraph(root, data, (pick) => setTriggerValue("pick", pick), (name) => setTriggerValue("primitive", name));
    return;
  }
  root.className = `explorer cols-${Math.min(data.views.length, 2)}${data.lecture ? " lecture" : ""}`;
  const opts = { height: data.height || 560, lineHeight: data.lecture ? 32 : 19, wrap: data.wrap };
  const send = (pick) => setTriggerValue("pick", pick);
  opts.primitive = (name) => setTriggerValue("primitive", name);
  root.__panes = data.views.map((view) => buildPane(root, view, opts, send));
  root.__target = data.target || "";
  if (root.__target && !root.__listening) {
    root.__listening = true;
    window.addEventListener("explorer-select", (e) => { if (e.detail === root.__target) select(root); });
  }
  if (root.__target) select(root);
}
