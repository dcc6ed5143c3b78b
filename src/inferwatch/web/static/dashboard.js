/* inferwatch live dashboard: polls the service every 2 s.
 * Cards for accuracy, precision, recall and F1 (a regressor: MAE, RMSE and the baseline) come
 * from /api/snapshot as they are; time series from /api/query (named, allow-listed PromQL),
 * or from /api/history when Prometheus is unreachable. Alerts from /api/alerts (Alertmanager
 * webhook) and Prometheus.
 */
(function () {
  "use strict";
  const REFRESH_MS = 2000;
  // Served under /models/<name>/dashboard when the service watches several models: every
  // request of this page goes to that model's routes.
  const BASE = location.pathname.replace(/\/dashboard\/?$/, "");
  const C = {
    teal: "#2dd4bf", blue: "#60a5fa", violet: "#a78bfa", amber: "#fbbf24",
    red: "#f87171", green: "#34d399", pink: "#f472b6", slate: "#94a3b8", orange: "#fb923c",
  };
  const PALETTE = [C.teal, C.blue, C.violet, C.amber, C.pink, C.green, C.orange, C.slate];
  const STATUS_COLOURS = { "2": C.teal, "4": C.amber, "5": C.red };
  const COMMON_QUERIES = [
    "throughput", "latency_p50", "latency_p95", "latency_p99", "error_rate",
    "cpu", "memory", "disk", "process_memory", "alerts",
  ];
  // Named queries that only have data for one task (NamedQuery.task on the server).
  const TASK_QUERIES = {
    classification: ["accuracy", "precision", "recall", "f1", "estimated_accuracy", "predictions"],
    regression: ["mae", "rmse"],
  };
  // Regression alerts (deploy/prometheus/rules/regression.yml): live MAE over the baseline.
  const ERROR_RATIO_WARNING = 1.5;
  const ERROR_RATIO_CRITICAL = 2;

  const state = { range: "15m", busy: false, prometheus: "unknown", snapshot: null };
  const $ = (id) => document.getElementById(id);

  const fmt = {
    pct: (v) => (v * 100).toFixed(1) + "%",
    pctAxis: (v) => Math.round(v * 100) + "%",
    rps: (v) => (v < 10 ? v.toFixed(2) : v.toFixed(1)),
    compact: (v) => (v === 0 ? "0" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? String(+v.toFixed(1)) : String(+v.toPrecision(2))),
    msAxis: (v) => String(+(v * 1000).toPrecision(3)) + " ms",
    pctAxis1: (v) => String(+(v * 100).toPrecision(3)) + "%",
    ms: (v) => { const x = v * 1000; return (x < 10 ? x.toFixed(1) : x.toFixed(0)) + " ms"; },
    num: (v) => (Math.abs(v) < 1 ? v.toFixed(2) : v.toFixed(1)),
    // A value in the target's unit (MAE, RMSE): four significant digits, no exponent.
    value: (v) => (Math.abs(v) >= 1e4 ? v.toFixed(0) : Math.abs(v) >= 1e-3 || v === 0 ? String(+v.toPrecision(4)) : v.toExponential(2)),
    times: (v) => v.toFixed(2) + "×",
    psi: (v) => v.toFixed(2),
    bytes: (v) => (v >= 1e9 ? (v / 1e9).toFixed(2) + " GB" : (v / 1e6).toFixed(0) + " MB"),
    ago: (s) => (s < 90 ? Math.round(s) + "s" : s < 5400 ? Math.round(s / 60) + "m" : (s / 3600).toFixed(1) + "h"),
  };

  async function getJSON(url) {
    const resp = await fetch(BASE + url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
    return resp.json();
  }

  function finite(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  function lastValue(series) {
    let best = null;
    for (const s of series || []) {
      for (let i = s.values.length - 1; i >= 0; i--) {
        const [t, v] = s.values[i];
        if (v !== null) { if (!best || t > best[0]) best = [t, v]; break; }
      }
    }
    return best ? best[1] : null;
  }

  // ---- snapshot (tolerant of dataclass-style and flattened shapes)
  function perfOf(snap) {
    const p = (snap && (snap.performance || snap)) || {};
    return {
      accuracy: finite(p.accuracy), precision: finite(p.precision), recall: finite(p.recall),
      f1: finite(p.f1), labels: p.labels, estimated: finite(snap && snap.estimated_accuracy),
      mae: finite(p.mae), rmse: finite(p.rmse),
    };
  }

  const taskOf = (snap) => (snap && snap.task === "regression" ? "regression" : "classification");

  // The error on the reference data when the model directory was made (inferwatch init --target).
  function baselineOf(snap) {
    const ref = (snap && snap.service && snap.service.model && snap.service.model.reference_performance) || {};
    return { mae: finite(ref.mae), rmse: finite(ref.rmse) };
  }

  function errorLevel(ratio) {
    if (ratio === null) return "none";
    return ratio > ERROR_RATIO_CRITICAL ? "critical" : ratio > ERROR_RATIO_WARNING ? "warning" : "ok";
  }

  function featuresOf(snap) {
    const list = (snap && (snap.features || (snap.drift && snap.drift.features))) || [];
    const arr = Array.isArray(list) ? list : Object.entries(list).map(([name, f]) => ({ name, ...f }));
    return arr.map((f) => ({
      name: f.name || f.feature,
      psi: finite(f.scores ? f.scores.psi : f.psi),
      threshold: finite(f.threshold),
      drift: Boolean(f.drift_detected),
    }));
  }

  // ---- cards
  function setCard(name, value, text, level, sub) {
    const el = $("card-" + name);
    el.textContent = text;
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    const card = el.closest(".card");
    card.dataset.level = level || "none";
    if (sub !== undefined) $("card-" + name + "-sub").textContent = sub;
  }

  function ratioLevel(v) {
    if (v === null) return "none";
    return v < 0.7 ? "critical" : v < 0.8 ? "warning" : "ok";
  }

  function renderRegressionCards(snap) {
    const p = perfOf(snap);
    const base = baselineOf(snap);
    const labels = typeof p.labels === "number" ? p.labels : null;
    const none = labels ? `${labels} labels, not enough yet` : "waiting for labels";
    const ratio = (v, b) => (v !== null && b !== null && b > 0 ? v / b : null);
    const maeRatio = ratio(p.mae, base.mae);
    const rmseRatio = ratio(p.rmse, base.rmse);
    setCard("mae", p.mae, p.mae === null ? "—" : fmt.value(p.mae), errorLevel(maeRatio),
      p.mae === null ? none : `${labels} labels`);
    setCard("rmse", p.rmse, p.rmse === null ? "—" : fmt.value(p.rmse), errorLevel(rmseRatio),
      p.rmse === null ? none : rmseRatio === null ? "root mean squared error" : `${fmt.times(rmseRatio)} baseline`);
    setCard("mae_baseline", base.mae, base.mae === null ? "—" : fmt.value(base.mae), base.mae === null ? "none" : "ok",
      base.mae === null ? "init without --target" : base.rmse === null ? "reference data" : `RMSE ${fmt.value(base.rmse)}`);
    setCard("mae_ratio", maeRatio, maeRatio === null ? "—" : fmt.times(maeRatio), errorLevel(maeRatio),
      `alerts at ${ERROR_RATIO_WARNING}× and ${ERROR_RATIO_CRITICAL}×`);
  }

  function renderPerformanceCards(snap) {
    if (taskOf(snap) === "regression") return renderRegressionCards(snap);
    const p = perfOf(snap);
    const labels = typeof p.labels === "number" ? p.labels : null;
    const none = labels === 0 || labels === null ? "waiting for labels" : "";
    setCard("accuracy", p.accuracy, p.accuracy === null ? "—" : fmt.pct(p.accuracy), ratioLevel(p.accuracy),
      p.accuracy === null ? (p.estimated !== null ? "estimated " + fmt.pct(p.estimated) : none)
        : `${labels} labels` + (p.estimated !== null ? ` · est. ${fmt.pct(p.estimated)}` : ""));
    for (const k of ["precision", "recall", "f1"]) {
      setCard(k, p[k], p[k] === null ? "—" : fmt.pct(p[k]), ratioLevel(p[k]), p[k] === null ? none : "macro average");
    }
  }

  function renderServiceCards(q, hist) {
    let rps = null, p95 = null, p50 = null, err = null;
    if (state.prometheus === "ok") {
      rps = (q.throughput.series || []).length ? sumLast(q.throughput.series) : null;
      p95 = lastValue(q.latency_p95.series);
      p50 = lastValue(q.latency_p50.series);
      err = lastValue(q.error_rate.series);
    } else if (hist.length) {
      // The last 15 s of the service's own samples: steadier than a single 2 s point.
      const since = hist[hist.length - 1].timestamp - 15;
      const recent = hist.filter((h) => h.timestamp >= since);
      const rates = recent.map((h) => finite(h.rps)).filter((v) => v !== null);
      rps = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null;
      const p95s = recent.map((h) => finite(h.p95_seconds)).filter((v) => v !== null);
      p95 = p95s.length ? p95s[p95s.length - 1] : null;
      let reqs = 0, errs = 0;
      for (const h of recent) {
        const r = finite(h.rps), e = finite(h.error_rate);
        if (r !== null && e !== null) { reqs += r; errs += r * e; }
      }
      err = reqs > 0 ? errs / reqs : null;
    }
    setCard("throughput", rps, rps === null ? "—" : fmt.rps(rps), rps === null ? "none" : "ok", "requests / s");
    setCard("latency_p95", p95, p95 === null ? "—" : fmt.ms(p95),
      p95 === null ? "none" : p95 > 2 ? "critical" : p95 > 0.5 ? "warning" : "ok",
      p50 === null ? "end-to-end" : "p50 " + fmt.ms(p50));
    setCard("error_rate", err, err === null ? "—" : fmt.pct(err),
      err === null ? "none" : err > 0.1 ? "critical" : err > 0.05 ? "warning" : "ok", "4xx + 5xx of inference");
  }

  function sumLast(series) {
    let total = 0, any = false;
    for (const s of series) {
      const v = s.values.length ? s.values[s.values.length - 1][1] : null;
      if (v !== null) { total += v; any = true; }
    }
    return any ? total : null;
  }

  // ---- alerts
  function renderAlerts(book, promAlerts) {
    const box = $("alerts");
    const seen = new Map();
    for (const a of (book && book.firing) || []) {
      seen.set(a.alertname + "|" + (a.model || ""), {
        name: a.alertname, severity: a.severity || "info", model: a.model,
        summary: (a.annotations && (a.annotations.summary || a.annotations.description)) || "",
        since: Date.parse(a.starts_at) / 1000, source: "alertmanager",
      });
    }
    for (const s of promAlerts || []) {
      const m = s.metric || {};
      const key = m.alertname + "|" + (m.model || "");
      if (!seen.has(key)) seen.set(key, { name: m.alertname, severity: m.severity || "info", model: m.model, summary: "", since: null, source: "prometheus" });
    }
    const order = { critical: 0, warning: 1, info: 2 };
    const alerts = [...seen.values()].sort((a, b) => (order[a.severity] ?? 3) - (order[b.severity] ?? 3));
    box.textContent = "";
    if (!alerts.length) {
      const ok = document.createElement("div");
      ok.className = "alert alert-none";
      ok.textContent = "No alerts firing";
      box.appendChild(ok);
      return;
    }
    const now = Date.now() / 1000;
    for (const a of alerts) {
      const el = document.createElement("div");
      el.className = "alert alert-" + (order[a.severity] === undefined ? "info" : a.severity);
      el.dataset.alertname = a.name;
      el.dataset.severity = a.severity;
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = a.severity;
      const name = document.createElement("strong");
      name.textContent = a.name;
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = [a.model ? "model " + a.model : "", a.summary].filter(Boolean).join(" — ");
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = a.since && Number.isFinite(a.since) ? "for " + fmt.ago(Math.max(0, now - a.since)) : a.source;
      el.append(badge, name, detail, when);
      box.appendChild(el);
    }
  }

  // ---- charts
  const toPoints = (s) => s.values.map(([t, v]) => [t, v]);
  const byLabel = (res, label, colours) => (res.series || []).map((s, i) => ({
    name: s.metric[label] || label, color: (colours && colours(s.metric[label], i)) || PALETTE[i % PALETTE.length], points: toPoints(s),
  }));
  const histSeries = (hist, key, name, color, scale) => ({
    name, color, points: hist.map((h) => [h.timestamp, finite(h[key]) === null ? null : h[key] * (scale || 1)]),
  });

  function window_() {
    const secs = { "5m": 300, "15m": 900, "1h": 3600, "6h": 21600 }[state.range];
    const end = Date.now() / 1000;
    return { start: end - secs, end };
  }

  function renderRegressionPerformance(q, hist, snap, live, w) {
    const base = baselineOf(snap);
    const series = live
      ? [["mae", "MAE", C.teal], ["rmse", "RMSE", C.blue]]
          .map(([k, n, c]) => ({ name: n, color: c, points: q[k] && q[k].series[0] ? toPoints(q[k].series[0]) : [] }))
      : [histSeries(hist, "mae", "MAE", C.teal), histSeries(hist, "rmse", "RMSE", C.blue)];
    const flat = (v) => [[w.start, v], [w.end, v]];
    if (base.mae !== null) series.push({ name: "baseline MAE", color: C.teal, dash: "5 4", width: 1.5, points: flat(base.mae) });
    if (base.rmse !== null) series.push({ name: "baseline RMSE", color: C.blue, dash: "5 4", width: 1.5, points: flat(base.rmse) });
    const measured = series.slice(0, 2).some((s) => s.points.some((p) => p[1] !== null));
    const alertAt = base.mae !== null ? base.mae * ERROR_RATIO_WARNING : undefined;
    IWCharts.line($("chart-performance"), measured ? series : [], {
      ...w, min: 0, format: fmt.value, axisFormat: fmt.compact,
      threshold: alertAt, thresholdLabel: `${ERROR_RATIO_WARNING}× baseline MAE alert`, emptyText: "waiting for labels",
    });
    $("perf-note").textContent = "MAE and RMSE of the label window · dashed: baseline on the reference data";
  }

  function renderCharts(q, hist, snap) {
    const live = state.prometheus === "ok";
    const w = window_();
    if (taskOf(snap) === "regression") renderRegressionPerformance(q, hist, snap, live, w);
    else renderClassifierPerformance(q, hist, live, w);
    renderServiceCharts(q, hist, snap, live, w);
  }

  function renderClassifierPerformance(q, hist, live, w) {
    const perfSeries = live
      ? [["accuracy", C.teal], ["precision", C.blue], ["recall", C.violet], ["f1", C.amber]]
          .map(([k, c]) => ({ name: k === "f1" ? "F1" : k, color: c, points: (q[k].series[0] ? toPoints(q[k].series[0]) : []) }))
          .concat([{ name: "estimated", color: C.slate, dash: "5 4", points: q.estimated_accuracy.series[0] ? toPoints(q.estimated_accuracy.series[0]) : [] }])
      : [histSeries(hist, "accuracy", "accuracy", C.teal), histSeries(hist, "precision", "precision", C.blue),
         histSeries(hist, "recall", "recall", C.violet), histSeries(hist, "f1", "F1", C.amber),
         { ...histSeries(hist, "estimated_accuracy", "estimated", C.slate), dash: "5 4" }];
    const perfValues = perfSeries.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
    const perfMin = perfValues.length ? Math.max(0, Math.min(0.7, Math.floor(Math.min(...perfValues) * 10) / 10 - 0.1)) : 0;
    IWCharts.line($("chart-performance"), perfSeries, { ...w, min: perfMin, max: 1, format: fmt.pctAxis, threshold: 0.8, thresholdLabel: "0.8 alert", emptyText: "waiting for labels" });
    $("perf-note").textContent = "label window · dashed: label-free estimate";
  }

  function renderServiceCharts(q, hist, snap, live, w) {
    const traffic = live
      ? byLabel(q.throughput, "status_code", (code) => STATUS_COLOURS[String(code || "")[0]])
      : [histSeries(hist, "rps", "requests/s", C.teal)];
    IWCharts.line($("chart-traffic"), traffic.filter((s) => s.points.some((p) => p[1])), { ...w, min: 0, format: fmt.rps, axisFormat: fmt.compact, fill: true, emptyText: "no traffic yet" });

    const latency = live
      ? [["latency_p50", "p50", C.teal], ["latency_p95", "p95", C.amber], ["latency_p99", "p99", C.red]]
          .map(([k, n, c]) => ({ name: n, color: c, points: q[k].series[0] ? toPoints(q[k].series[0]) : [] }))
      : [histSeries(hist, "p95_seconds", "p95", C.amber)];
    IWCharts.line($("chart-latency"), latency, { ...w, min: 0, format: fmt.ms, axisFormat: fmt.msAxis, emptyText: "no requests yet" });

    const errors = live
      ? [{ name: "error rate", color: C.red, points: q.error_rate.series[0] ? toPoints(q.error_rate.series[0]) : [] }]
      : [histSeries(hist, "error_rate", "error rate", C.red)];
    IWCharts.line($("chart-errors"), errors, { ...w, min: 0, format: fmt.pct, axisFormat: fmt.pctAxis1, threshold: 0.1, thresholdLabel: "10% alert", fill: true, emptyText: "no requests yet" });

    const feats = featuresOf(snap);
    const threshold = feats.find((f) => f.threshold !== null)?.threshold ?? 0.2;
    // Red: the service decided the feature drifted; amber: PSI is over the threshold but the
    // decision (minimum rows, effect size) has not confirmed it.
    IWCharts.hbars($("chart-drift"), feats.map((f) => ({
      label: f.name, value: f.psi, alert: f.drift, warn: f.psi !== null && f.psi > (f.threshold ?? threshold),
    })),
      { threshold, thresholdLabel: "PSI " + threshold, format: fmt.psi, emptyText: "no features" });
    const drifting = feats.filter((f) => f.drift).length;
    const over = feats.filter((f) => !f.drift && f.psi !== null && f.psi > (f.threshold ?? threshold)).length;
    const notes = [];
    if (drifting) notes.push(`${drifting} of ${feats.length} drifting`);
    if (over) notes.push(`${over} over the threshold, not confirmed yet`);
    $("drift-note").textContent = feats.length ? notes.join(" · ") || "all features stable" : "";

    renderPredictions(q, snap, live, w);

    const sys = live
      ? [["cpu", "CPU", C.teal], ["memory", "memory", C.violet], ["disk", "disk", C.amber]]
          .map(([k, n, c]) => ({ name: n, color: c, points: q[k].series[0] ? toPoints(q[k].series[0]) : [] }))
      : [];
    IWCharts.line($("chart-system"), sys, { ...w, min: 0, max: 1, format: fmt.pctAxis, threshold: 0.85, thresholdLabel: "85%", emptyText: live ? "no data yet" : "host history needs Prometheus" });
    const rss = live ? lastValue(q.process_memory.series) : null;
    $("system-note").textContent = rss === null ? "" : "service RSS " + fmt.bytes(rss);
  }

  // Numeric bins by their upper edge, "(-inf, 155.6]" -> "≤156", "(432.6, +inf)" -> ">433", so
  // ten bins fit under one panel; full precision when rounding would make two labels equal.
  function binLabels(bins) {
    const parsed = bins.map((b) => /^\((.*), (.*)[\])]$/.exec(b));
    if (parsed.some((m) => !m)) return bins;
    const make = (round) => parsed.map((m) => (m[2] === "+inf" ? ">" + round(m[1]) : "≤" + round(m[2])));
    const short = make((x) => String(+Number(x).toPrecision(3)));
    return new Set(short).size === short.length ? short : make((x) => x);
  }

  function renderPredictions(q, snap, live, w) {
    const pred = snap && snap.prediction;
    if (pred && Array.isArray(pred.bins) && pred.bins.length) {
      const counts = pred.window_counts || [];
      const total = counts.reduce((a, b) => a + b, 0);
      const numeric = pred.kind === "numeric";
      IWCharts.columns($("chart-predictions"), numeric ? binLabels(pred.bins) : pred.bins,
        [{ name: "live window", color: C.teal, values: counts.map((c) => (total ? c / total : 0)) },
         { name: "reference", color: C.slate, opacity: 0.55, values: pred.reference_ratios || [] }],
        { format: fmt.pctAxis, titles: numeric ? pred.bins : undefined });
      const psi = finite(pred.scores && pred.scores.psi);
      const what = numeric ? "values" : "predictions";
      $("pred-note").textContent = (total ? `${total} ${what} in window` : `no ${what} in window`) + (psi !== null ? ` · PSI ${fmt.psi(psi)}` : "");
    } else if (live && q.predictions) {
      IWCharts.line($("chart-predictions"), byLabel(q.predictions, "class"), { ...w, min: 0, format: fmt.rps });
    }
  }

  // ---- header
  function renderHeader(snap) {
    if (snap) {
      const stage = snap.service && snap.service.model && snap.service.model.stage;
      $("model").textContent = `${snap.model || "model"} · v${snap.model_version || "?"}` + (stage ? ` · ${stage}` : "");
      $("window-rows").textContent = typeof snap.window_rows === "number" ? `${snap.window_rows} rows in window` : "";
    }
    const status = $("status");
    status.dataset.state = state.prometheus;
    $("status-text").textContent = { ok: "Prometheus live", unreachable: "Prometheus unreachable", error: "Prometheus error", unknown: "connecting…" }[state.prometheus] || state.prometheus;
    $("banner").hidden = state.prometheus !== "unreachable";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  async function refresh() {
    if (state.busy) return;
    state.busy = true;
    try {
      // The snapshot first: its task decides which cards, charts and queries apply.
      const snap = await getJSON("/api/snapshot").catch(() => null);
      const names = TASK_QUERIES[taskOf(snap)].concat(COMMON_QUERIES);
      const queries = names.map((name) =>
        getJSON(`/api/query?name=${encodeURIComponent(name)}&range=${state.range}`).catch(() => ({ prometheus: "error", series: [] })));
      const [book, ...results] = await Promise.all([getJSON("/api/alerts").catch(() => null), ...queries]);
      const q = {};
      names.forEach((name, i) => { q[name] = results[i]; });
      const states = results.map((r) => r.prometheus);
      state.prometheus = states.includes("ok") ? "ok" : states.includes("unreachable") ? "unreachable" : "error";
      let hist = [];
      if (state.prometheus !== "ok") {
        const h = await getJSON("/api/history").catch(() => null);
        hist = (Array.isArray(h) ? h : (h && (h.points || h.history))) || [];
        const since = window_().start;
        hist = hist.filter((p) => p.timestamp >= since);
      }
      state.snapshot = snap;
      document.body.dataset.service = snap ? "up" : "down";
      if (snap) document.body.dataset.task = taskOf(snap);
      renderHeader(snap);
      if (snap) renderPerformanceCards(snap);
      renderServiceCards(q, hist);
      renderAlerts(book, state.prometheus === "ok" ? q.alerts.series : []);
      renderCharts(q, hist, snap);
      document.body.dataset.ready = "true";
    } finally {
      state.busy = false;
    }
  }

  // The model picker: shown when the service watches several models (GET /api/models).
  async function modelPicker() {
    if (!BASE.startsWith("/models/")) return; // one model: nothing to pick
    const listing = await fetch("/api/models", { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null)).catch(() => null);
    const picker = document.getElementById("model-picker");
    if (!picker || !listing || !Array.isArray(listing.models) || listing.models.length < 2) return;
    for (const m of listing.models) {
      const option = document.createElement("option");
      option.value = m.url;
      option.textContent = m.name + " v" + m.version;
      option.selected = m.url === BASE;
      picker.appendChild(option);
    }
    picker.hidden = false;
    picker.addEventListener("change", () => { location.href = picker.value + "/dashboard"; });
  }

  function init() {
    modelPicker();
    for (const b of document.querySelectorAll("#range button")) {
      b.addEventListener("click", () => {
        state.range = b.dataset.range;
        document.querySelectorAll("#range button").forEach((x) => x.setAttribute("aria-pressed", String(x === b)));
        refresh();
      });
    }
    refresh();
    setInterval(refresh, REFRESH_MS);
    let resize = null;
    window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(refresh, 150); });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
