// The operators' dashboard: polls /v1/dashboard and draws it (no libraries).
"use strict";

const POLL_MS = 3000;
const COLORS = ["#3b6fb6", "#d0743c", "#3f9c5a", "#9b59b6", "#c0392b", "#7f8c8d"];
const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = "") {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4))
                                       : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

const pct = (x) => (100 * x).toFixed(2) + "%";

function drawVariants(variants) {
  const body = document.querySelector("#variants tbody");
  body.replaceChildren();
  for (const [name, f] of Object.entries(variants)) {
    const row = el("tr", {"data-variant": name, "data-judged": f.judged});
    for (const cell of [name, f.served, f.judged, f.clicked, pct(f.ctr),
                        `${pct(f.ctr_95[0])} – ${pct(f.ctr_95[1])}`, f.ndcg.toFixed(4),
                        pct(f.coverage), f.model_versions.join(", ")]) {
      row.append(el("td", {}, String(cell)));
    }
    body.append(row);
  }
  if (!body.children.length) {
    const row = el("tr");
    row.append(el("td", {colspan: 9}, "no homepage judged yet"));
    body.append(row);
  }
}

// A line chart: series = [{name, points: [{x, y, low?, high?}]}]; bands where low/high exist.
function drawLines(svg, series, {width, height, yLabel, yFormat, yMax = Infinity}) {
  svg.replaceChildren();
  const left = 52, right = 12, top = 12, bottom = 28;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.y, p.high ?? p.y]));
  if (!xs.length) {
    svg.append(el("svg:text", {x: width / 2 - 40, y: height / 2}, "no data yet"));
    return;
  }
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 60000);
  const y1 = Math.min(yMax, Math.max(...ys, 1e-6) * 1.1);
  const sx = (x) => left + (x - x0) / (x1 - x0) * (width - left - right);
  const sy = (y) => height - bottom - y / y1 * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const y = y1 * i / 4;
    svg.append(el("svg:line", {x1: left, x2: width - right, y1: sy(y), y2: sy(y), stroke: "#e4e4ee"}));
    svg.append(el("svg:text", {x: 4, y: sy(y) + 4}, yFormat(y)));
  }
  for (const [x, anchor] of [[x0, "start"], [x1, "end"]]) {
    const label = new Date(x).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    svg.append(el("svg:text", {x: sx(x), y: height - 8, "text-anchor": anchor}, label));
  }
  svg.append(el("svg:text", {x: left + 4, y: top + 10}, yLabel));
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length];
    const banded = s.points.filter((p) => p.low !== undefined);
    if (banded.length) {
      const upper = banded.map((p) => `${sx(p.x)},${sy(p.high)}`);
      const lower = banded.map((p) => `${sx(p.x)},${sy(p.low)}`).reverse();
      svg.append(el("svg:polygon", {points: upper.concat(lower).join(" "), fill: color, opacity: 0.15}));
    }
    const line = s.points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ");
    svg.append(el("svg:polyline", {points: line, fill: "none", stroke: color, "stroke-width": 2,
                                   "data-series": s.name}));
    for (const p of s.points) {
      svg.append(el("svg:circle", {cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: color}));
    }
    const legend = el("svg:g", {class: "legend"});
    legend.append(el("svg:rect", {x: width - right - 150, y: top + index * 16, width: 10, height: 10, fill: color}));
    legend.append(el("svg:text", {x: width - right - 134, y: top + 9 + index * 16}, s.name));
    svg.append(legend);
  });
}

function drawLag(lag) {
  const list = document.getElementById("lag");
  list.replaceChildren();
  for (const [topic, behind] of Object.entries(lag)) {
    list.append(el("li", {}, `${topic.split(".").pop()}: ${behind} messages behind`));
  }
}

function drawTop(items) {
  const list = document.getElementById("top-items");
  list.replaceChildren();
  for (const item of items) {
    list.append(el("li", {"data-item-id": item.item_id}, item.title || item.item_id));
  }
}

async function refresh() {
  const status = document.getElementById("updated");
  try {
    const response = await fetch("/v1/dashboard", {cache: "no-store"});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const view = await response.json();
    drawVariants(view.variants);
    drawLines(document.getElementById("ctr-chart"),
      Object.entries(view.series).map(([name, points]) => ({
        name, points: points.filter((p) => p.judged > 0).map((p) => (
          {x: p.window_start, y: p.ctr, low: p.ctr_95[0], high: p.ctr_95[1]}))})),
      {width: 900, height: 260, yLabel: "CTR", yFormat: pct, yMax: 1});
    const minutes = view.freshness;
    // Event-time freshness is only meaningful for live traffic: a replay stamps
    // events with their original (decades-old) times, so minutes whose p99 is
    // over an hour are left out and delivery (ranker to here) stays.
    const series = (key, name, keep = () => true) => ({
      name, points: minutes.filter((m) => m[key] !== null && keep(m))
                           .map((m) => ({x: m.minute_start, y: m[key]}))});
    const live = (m) => m.freshness_p99 !== null && m.freshness_p99 < 3600;
    drawLines(document.getElementById("freshness-chart"), [
      series("delivery_p50", "delivery p50"), series("delivery_p99", "delivery p99"),
      series("freshness_p50", "event → here p50", live), series("freshness_p99", "event → here p99", live),
    ].filter((s) => s.points.length), {width: 440, height: 220, yLabel: "seconds", yFormat: (y) => y.toFixed(2)});
    drawLag(view.lag);
    drawTop(view.top_items);
    status.textContent = "updated " + new Date(view.generated_at).toLocaleTimeString();
    status.dataset.state = "live";
    document.body.dataset.variants = Object.keys(view.variants).length;
  } catch (error) {
    status.textContent = "could not load figures: " + error.message;
    status.dataset.state = "error";
  }
}

refresh();
setInterval(refresh, POLL_MS);
