// The explorer's browser side: text panes with virtualised rendering, search, wrap and line numbers.
// Streamlit calls the default export on every script run; the panes are rebuilt only when their data
// (identified by `data.sig`) changed, so scroll position, search and options survive reruns.
// Every string that reaches innerHTML is either escaped here or was escaped by Pygments on the server.

const CHUNK = 200; // lines per chunk: a chunk is filled only when it comes near the viewport

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function plainOf(html) {
  const t = html.replace(/<[^>]*>/g, "");
  return t.replace(/&(lt|gt|amp|quot|#39|#x27);/g, (_, e) => ({ lt: "<", gt: ">", amp: "&", quot: '"', "#39": "'", "#x27": "'" })[e]);
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
  return `<div class="${cls.join(" ")}${bg}" data-line="${n}"${src}${style}><span class="no">${n}</span><span class="tx">${view.lines[i] || " "}</span></div>`;
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
    if (!pane.plain) pane.plain = view.lines.map((l) => plainOf(l).toLowerCase());
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
  code.addEventListener("click", (e) => {
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

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".explorer") || parentElement;
  if (!data || root.dataset.sig === data.sig) return; // same texts and marks: keep the panes as they are
  (root.__panes || []).forEach((p) => p.observer.disconnect());
  root.innerHTML = "";
  root.dataset.sig = data.sig;
  root.className = `explorer cols-${Math.min(data.views.length, 2)}${data.lecture ? " lecture" : ""}`;
  const opts = { height: data.height || 560, lineHeight: data.lecture ? 32 : 19, wrap: data.wrap };
  const send = (pick) => setTriggerValue("pick", pick);
  root.__panes = data.views.map((view) => buildPane(root, view, opts, send));
}
