/* inferwatch charts: small SVG line and bar charts, no dependencies.
 * IWCharts.line(el, series, opts)      series: [{name, color, points: [[t, v|null], ...]}]
 * IWCharts.hbars(el, items, opts)      items: [{label, value, alert, warn}]
 * IWCharts.columns(el, labels, groups, opts)  groups: [{name, color, values: [...]}]; opts.titles:
 *   a longer text per label, shown on hover
 */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";

  function h(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const norm = raw / mag;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  }

  function ticks(lo, hi, count) {
    if (!(hi > lo)) hi = lo + 1;
    const step = niceStep(hi - lo, count);
    const out = [];
    const top = Math.ceil(hi / step - 1e-9) * step;
    for (let v = Math.ceil(lo / step) * step; v <= top + step * 1e-9; v += step) out.push(+v.toFixed(12));
    return out;
  }

  const TIME_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];

  function timeLabel(t, step) {
    const d = new Date(t * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
    return step < 60 ? hm + ":" + pad(d.getSeconds()) : hm;
  }

  function frame(el, height) {
    el.textContent = "";
    const width = Math.max(240, Math.floor(el.clientWidth || 480));
    const svg = h("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
    el.appendChild(svg);
    return { svg, width, height };
  }

  function empty(el, message, height) {
    const { svg, width } = frame(el, height || 200);
    svg.appendChild(h("text", { x: width / 2, y: (height || 200) / 2, class: "iw-empty", "text-anchor": "middle" }, message));
  }

  function line(el, series, opts) {
    opts = opts || {};
    const fmt = opts.format || ((v) => String(v));
    const axis = opts.axisFormat || fmt;
    const height = opts.height || 210;
    const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null && Number.isFinite(p[1])));
    if (!pts.length) return empty(el, opts.emptyText || "no data yet", height);
    const { svg, width } = frame(el, height);
    const m = { l: 52, r: 12, t: 10, b: 24 };
    const t0 = opts.start !== undefined ? opts.start : Math.min(...pts.map((p) => p[0]));
    const t1 = opts.end !== undefined ? opts.end : Math.max(...pts.map((p) => p[0]));
    let lo = opts.min !== undefined ? opts.min : Math.min(...pts.map((p) => p[1]));
    let hi = opts.max !== undefined ? opts.max : Math.max(...pts.map((p) => p[1]));
    if (opts.threshold !== undefined && opts.max === undefined) hi = Math.max(hi, opts.threshold * 1.1);
    if (opts.min === undefined) lo = Math.min(lo, 0);
    if (hi === lo) hi = lo + (Math.abs(lo) || 1);
    const yt = ticks(lo, hi, 4);
    lo = Math.min(lo, yt[0]);
    hi = opts.max !== undefined ? opts.max : Math.max(hi, yt[yt.length - 1]);
    const X = (t) => m.l + ((t - t0) / Math.max(1e-9, t1 - t0)) * (width - m.l - m.r);
    const Y = (v) => m.t + (1 - (v - lo) / (hi - lo)) * (height - m.t - m.b);

    const grid = h("g", { class: "iw-grid" });
    for (const v of yt) {
      if (v < lo - 1e-12 || v > hi + 1e-12) continue;
      grid.appendChild(h("line", { x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v) }));
      grid.appendChild(h("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, axis(v)));
    }
    const xcount = Math.max(2, Math.floor((width - m.l - m.r) / 80));
    const tstep = TIME_STEPS.find((s) => (t1 - t0) / s <= xcount) || TIME_STEPS[TIME_STEPS.length - 1];
    const offset = new Date().getTimezoneOffset() * 60;
    for (let t = Math.ceil((t0 - offset) / tstep) * tstep + offset; t <= t1; t += tstep) {
      if (X(t) < m.l + 16 || X(t) > width - m.r - 16) continue;
      grid.appendChild(h("text", { x: X(t), y: height - 6, "text-anchor": "middle" }, timeLabel(t, tstep)));
    }
    svg.appendChild(grid);

    if (opts.threshold !== undefined && opts.threshold >= lo && opts.threshold <= hi) {
      svg.appendChild(h("line", { class: "iw-threshold", x1: m.l, x2: width - m.r, y1: Y(opts.threshold), y2: Y(opts.threshold) }));
      svg.appendChild(h("text", { class: "iw-threshold-label", x: m.l + 4, y: Y(opts.threshold) - 4 }, opts.thresholdLabel || fmt(opts.threshold)));
    }

    for (const s of series) {
      let d = "";
      let pen = false;
      let first = null;
      let last = null;
      const lonely = [];
      s.points.forEach(([t, v], i) => {
        if (v === null || !Number.isFinite(v)) { pen = false; return; }
        d += (pen ? "L" : "M") + X(t).toFixed(1) + "," + Y(v).toFixed(1);
        const next = s.points[i + 1];
        if (!pen && !(next && next[1] !== null && Number.isFinite(next[1]))) lonely.push([t, v]);
        pen = true;
        if (first === null) first = t;
        last = t;
      });
      if (!d) continue;
      for (const [t, v] of lonely) svg.appendChild(h("circle", { cx: X(t), cy: Y(v), r: 2.5, fill: s.color }));
      if (opts.fill && series.length <= 3) {
        const base = Y(Math.max(lo, 0));
        svg.appendChild(h("path", { d: d + `L${X(last).toFixed(1)},${base}L${X(first).toFixed(1)},${base}Z`, fill: s.color, "fill-opacity": 0.08, stroke: "none" }));
      }
      svg.appendChild(h("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-linejoin": "round", "stroke-dasharray": s.dash || "" }));
    }
    hover(el, svg, series, { X, Y, m, width, height, fmt });
    legend(el, series, fmt);
  }

  function hover(el, svg, series, g) {
    const cursor = h("line", { class: "iw-cursor", y1: g.m.t, y2: g.height - g.m.b, x1: 0, x2: 0, visibility: "hidden" });
    svg.appendChild(cursor);
    let tip = el.querySelector(".iw-tip");
    if (!tip) { tip = document.createElement("div"); tip.className = "iw-tip"; el.appendChild(tip); }
    tip.hidden = true;
    svg.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const x = ev.clientX - box.left;
      let best = null;
      for (const s of series) for (const p of s.points) if (best === null || Math.abs(g.X(p[0]) - x) < Math.abs(g.X(best) - x)) best = p[0];
      if (best === null) return;
      cursor.setAttribute("x1", g.X(best)); cursor.setAttribute("x2", g.X(best)); cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      const head = document.createElement("div");
      head.className = "iw-tip-time";
      head.textContent = new Date(best * 1000).toLocaleTimeString();
      tip.appendChild(head);
      for (const s of series) {
        const p = s.points.find((q) => q[0] === best);
        if (!p || p[1] === null) continue;
        const row = document.createElement("div");
        const sw = document.createElement("i"); sw.style.background = s.color;
        row.append(sw, document.createTextNode(`${s.name}  ${g.fmt(p[1])}`));
        tip.appendChild(row);
      }
      tip.hidden = false;
      tip.style.left = Math.min(x + 14, box.width - 160) + "px";
    });
    svg.addEventListener("mouseleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
  }

  function legend(el, series, fmt) {
    const box = document.createElement("div");
    box.className = "iw-legend";
    for (const s of series) {
      const last = [...s.points].reverse().find((p) => p[1] !== null && Number.isFinite(p[1]));
      const item = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = s.color;
      const value = document.createElement("b");
      value.textContent = last ? fmt(last[1]) : "—";
      item.append(sw, document.createTextNode(s.name + " "), value);
      box.appendChild(item);
    }
    el.appendChild(box);
  }

  function hbars(el, items, opts) {
    opts = opts || {};
    const fmt = opts.format || ((v) => v.toFixed(3));
    if (!items.length) return empty(el, opts.emptyText || "no data yet", 160);
    const rowH = 26;
    const height = Math.max(120, items.length * rowH + 46);
    const { svg, width } = frame(el, height);
    const m = { l: Math.min(150, 12 + 7 * Math.max(...items.map((i) => i.label.length))), r: 56, t: 20, b: 22 };
    const top = Math.max(opts.threshold ? opts.threshold * 1.6 : 0, ...items.map((i) => i.value || 0), 1e-6);
    const hi = ticks(0, top, 4).slice(-1)[0];
    const X = (v) => m.l + (Math.max(0, v) / hi) * (width - m.l - m.r);
    const grid = h("g", { class: "iw-grid" });
    for (const v of ticks(0, hi, 4)) {
      grid.appendChild(h("line", { x1: X(v), x2: X(v), y1: m.t, y2: height - m.b }));
      grid.appendChild(h("text", { x: X(v), y: height - 6, "text-anchor": "middle" }, fmt(v)));
    }
    svg.appendChild(grid);
    items.forEach((it, i) => {
      const y = m.t + i * rowH;
      svg.appendChild(h("text", { class: "iw-label", x: m.l - 8, y: y + rowH / 2 + 4, "text-anchor": "end" }, it.label));
      const w = Math.max(1, X(it.value || 0) - m.l);
      const cls = it.alert ? "iw-bar iw-bar-alert" : it.warn ? "iw-bar iw-bar-warn" : "iw-bar";
      svg.appendChild(h("rect", { class: cls, x: m.l, y: y + 5, width: w, height: rowH - 10, rx: 3 }));
      svg.appendChild(h("text", { class: "iw-value", x: m.l + w + 6, y: y + rowH / 2 + 4 }, it.value === null ? "—" : fmt(it.value)));
    });
    if (opts.threshold !== undefined) {
      svg.appendChild(h("line", { class: "iw-threshold", x1: X(opts.threshold), x2: X(opts.threshold), y1: m.t - 4, y2: height - m.b }));
      svg.appendChild(h("text", { class: "iw-threshold-label", x: X(opts.threshold), y: m.t - 8, "text-anchor": "middle" }, opts.thresholdLabel || "threshold"));
    }
  }

  function columns(el, labels, groups, opts) {
    opts = opts || {};
    const fmt = opts.format || ((v) => String(v));
    const height = opts.height || 210;
    if (!labels.length) return empty(el, opts.emptyText || "no data yet", height);
    const { svg, width } = frame(el, height);
    const m = { l: 46, r: 10, t: 10, b: 26 };
    const top = Math.max(...groups.flatMap((g) => g.values.map((v) => v || 0)), 1e-6);
    const yt = ticks(0, top, 4);
    const hi = yt[yt.length - 1];
    const Y = (v) => m.t + (1 - v / hi) * (height - m.t - m.b);
    const grid = h("g", { class: "iw-grid" });
    for (const v of yt) {
      grid.appendChild(h("line", { x1: m.l, x2: width - m.r, y1: Y(v), y2: Y(v) }));
      grid.appendChild(h("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, fmt(v)));
    }
    svg.appendChild(grid);
    const slot = (width - m.l - m.r) / labels.length;
    const bw = Math.min(36, (slot * 0.75) / groups.length);
    // Label every n-th column when the labels are wider than a column (about 7 px a character).
    const every = Math.max(1, Math.ceil((Math.max(...labels.map((l) => String(l).length)) * 7 + 6) / slot));
    labels.forEach((label, i) => {
      const x0 = m.l + i * slot + (slot - bw * groups.length) / 2;
      const col = h("g", { class: "iw-col" });
      if (opts.titles && opts.titles[i] !== undefined) col.appendChild(h("title", {}, opts.titles[i]));
      groups.forEach((g, j) => {
        const v = g.values[i] || 0;
        col.appendChild(h("rect", { x: x0 + j * bw + 1, y: Y(v), width: bw - 2, height: Math.max(0, Y(0) - Y(v)), fill: g.color, "fill-opacity": g.opacity || 0.9, rx: 2 }));
      });
      if (i % every === 0) col.appendChild(h("text", { class: "iw-label", x: m.l + i * slot + slot / 2, y: height - 8, "text-anchor": "middle" }, label));
      svg.appendChild(col);
    });
    legend(el, groups.map((g) => ({ name: g.name, color: g.color, points: [] })), fmt);
    el.querySelectorAll(".iw-legend b").forEach((b) => b.remove());
  }

  window.IWCharts = { line, hbars, columns };
})();
