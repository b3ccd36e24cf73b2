// waygate's live dashboard: polls the admin JSON API (/clusters, /routes, /reloads) and /metrics on
// the address that served it, and draws what it reads. No framework, no build step.
"use strict";

const FAST_REFRESH_MS = 1000;  // clusters and metrics
const SLOW_REFRESH_MS = 5000;  // routes and reloads: larger, and they change only on reloads
// An answer this large (a table of 100,000 hosts) is asked for this many times less often: the
// control thread that writes it also runs reloads and health checks.
const LARGE_ANSWER_CHARS = 1 << 20;
const LARGE_ANSWER_SLOWDOWN = 6;
const HISTORY_POINTS = 120;    // two minutes of one-second points
const ROUTE_ROWS_SHOWN = 300;  // a route table of 100,000 hosts is filtered, never drawn whole
const CLUSTERS_SHOWN = 100;
const TOKEN_KEY = "waygate.admin.token";
const HEALTH_STATES = ["healthy", "unhealthy", "unproven", "ejected"];

const state = {
  needToken: false,
  clustersText: null,
  clusters: [],
  routesText: null,
  routes: [],
  lastScrape: null,  // {time, requests, buckets} of the previous /metrics scrape
  history: [],       // {time, rate, p50, p99}: one point per pair of scrapes
};

class Unauthorized extends Error {}

const $ = (id) => document.getElementById(id);

// Builds an element: el("td", {class: "x", "data-y": 1}, "text", childNode, ...).
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function formatNumber(value, digits = 0) {
  return value.toLocaleString("en-US", {maximumFractionDigits: digits, minimumFractionDigits: 0});
}

function formatRate(rate) {
  if (rate === null || rate === undefined) return "–";
  return rate >= 100 ? formatNumber(rate) : formatNumber(rate, 1);
}

function formatMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms >= 1000) return formatNumber(ms / 1000, 2) + " s";
  return formatNumber(ms, ms < 10 ? 2 : 1) + " ms";
}

function showError(id, error) {
  const node = $(id);
  node.hidden = !error;
  node.textContent = error ? String(error.message || error) : "";
}

// -- fetching ------------------------------------------------------------------------------------

async function fetchText(path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(path, {headers, cache: "no-store"});
  } catch (error) {
    setConnection("down", "cannot reach waygate");
    throw new Error(`GET ${path}: waygate does not answer`);
  }
  if (response.status === 401) throw new Unauthorized(path);
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  setConnection("live", "live");
  return response.text();
}

function setConnection(kind, text) {
  const node = $("connection");
  node.className = "pill pill-" + kind;
  node.textContent = text;
  if (kind === "live") node.title = "updated " + new Date().toLocaleTimeString();
}

const wakers = [];  // each poll loop's "refresh now"

// Runs refresh() every period() ms, never two at once; a 401 pauses every loop until a token is
// given.
function poll(period, refresh) {
  let timer = null;
  const tick = async () => {
    timer = null;
    if (!state.needToken) await refresh().catch(onRefreshError);
    timer = setTimeout(tick, period());
  };
  wakers.push(() => {
    if (timer === null) return;  // running now
    clearTimeout(timer);
    tick();
  });
  tick();
}

function periodFor(base, lastAnswer) {
  return lastAnswer && lastAnswer.length > LARGE_ANSWER_CHARS ? base * LARGE_ANSWER_SLOWDOWN : base;
}

function onRefreshError(error) {
  if (error instanceof Unauthorized) askForToken();
}

function askForToken() {
  const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
  state.needToken = true;
  setConnection("wait", "token needed");
  $("token-form").hidden = false;
  showError("token-error", hadToken ? "waygate refused that token: try again." : null);
  $("token-input").focus();
}

function useToken(event) {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token-input").value = "";
  $("token-form").hidden = true;
  state.needToken = false;
  for (const wake of wakers) wake();
}

// Each panel answers for itself: one failing endpoint leaves the others up to date.
function guarded(errorId, refresh) {
  return async () => {
    try {
      await refresh();
      showError(errorId, null);
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      showError(errorId, error);
    }
  };
}

// -- metrics: rate and latency from two successive scrapes ---------------------------------------

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function promValue(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

// The requests counted so far (every waygate_requests_total sample summed) and the request
// duration histogram's cumulative buckets, summed over label sets: Map(upper bound -> count).
function parseMetrics(text) {
  let requests = 0;
  const buckets = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sample = SAMPLE.exec(line);
    if (!sample) continue;
    const [, name, labels, value] = sample;
    if (name === "waygate_requests_total") {
      requests += promValue(value);
    } else if (name === "waygate_request_duration_seconds_bucket") {
      for (const [, label, labelValue] of (labels || "").matchAll(LABEL)) {
        if (label !== "le") continue;
        const bound = promValue(labelValue);
        buckets.set(bound, (buckets.get(bound) || 0) + promValue(value));
      }
    }
  }
  return {requests, buckets};
}

// The q-quantile of the requests between two scrapes, in seconds, interpolated inside its bucket
// as Prometheus's histogram_quantile does; null when no request finished in between.
function quantile(q, before, after) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => after.get(bound) - (before.get(bound) || 0));
  const total = counts[counts.length - 1];
  if (!(total > 0) || bounds[bounds.length - 1] !== Infinity) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      if (bounds[i] === Infinity) return lower;  // past the last finite bound: the best we know
      const inBucket = counts[i] - below;
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
      return lower + (bounds[i] - lower) * fraction;
    }
    lower = bounds[i];
    below = counts[i];
  }
  return lower;
}

async function refreshMetrics() {
  const text = await fetchText("/metrics");
  const time = performance.now();
  const scrape = {time, ...parseMetrics(text)};
  const previous = state.lastScrape;
  state.lastScrape = scrape;
  // A counter that went down means waygate restarted: start the series again from this scrape.
  if (!previous || scrape.requests < previous.requests) return;
  const seconds = (time - previous.time) / 1000;
  if (seconds <= 0) return;
  const p50 = quantile(0.5, previous.buckets, scrape.buckets);
  const p99 = quantile(0.99, previous.buckets, scrape.buckets);
  state.history.push({
    time,
    rate: (scrape.requests - previous.requests) / seconds,
    p50: p50 === null ? null : p50 * 1000,
    p99: p99 === null ? null : p99 * 1000,
  });
  if (state.history.length > HISTORY_POINTS) state.history.shift();
  drawCharts();
}

// -- charts (canvas) -----------------------------------------------------------------------------

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// A round axis maximum at or above value: 1, 2, 5 times a power of ten.
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

// Draws series (each {values, color, fill}) over the last HISTORY_POINTS seconds, newest at the
// right; a null value leaves a gap.
function drawChart(canvas, series, formatTick) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);

  const left = 56;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const values = series.flatMap((s) => s.values).filter((v) => v !== null);
  const max = niceMax(Math.max(0, ...values));

  g.font = "11px system-ui, sans-serif";
  g.fillStyle = cssColor("--muted");
  g.strokeStyle = cssColor("--grid");
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = Math.round(top + plotHeight * (1 - i / 4)) + 0.5;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(left + plotWidth, y);
    g.stroke();
    g.fillText(formatTick((max * i) / 4), left - 6, y);
  }
  g.textBaseline = "top";
  g.textAlign = "left";
  g.fillText(`-${HISTORY_POINTS}s`, left, top + plotHeight + 5);
  g.textAlign = "right";
  g.fillText("now", left + plotWidth, top + plotHeight + 5);

  const x = (index, count) => left + plotWidth - (count - 1 - index) * (plotWidth / (HISTORY_POINTS - 1));
  const y = (value) => top + plotHeight * (1 - value / max);
  for (const {values: points, color, fill} of series) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.lineJoin = "round";
    let run = [];
    const finish = () => {
      if (run.length === 0) return;
      g.beginPath();
      run.forEach(([px, py], i) => (i === 0 ? g.moveTo(px, py) : g.lineTo(px, py)));
      g.stroke();
      if (run.length === 1) {  // a lone point between gaps: a dot, or it would not show
        g.beginPath();
        g.arc(run[0][0], run[0][1], 2.5, 0, 2 * Math.PI);
        g.fillStyle = color;
        g.fill();
      }
      if (fill) {
        g.lineTo(run[run.length - 1][0], top + plotHeight);
        g.lineTo(run[0][0], top + plotHeight);
        g.closePath();
        g.globalAlpha = 0.15;
        g.fillStyle = color;
        g.fill();
        g.globalAlpha = 1;
      }
      run = [];
    };
    points.forEach((value, index) => {
      if (value === null) return finish();
      run.push([x(index, points.length), y(value)]);
    });
    finish();
  }
}

function drawCharts() {
  const history = state.history;
  const last = history[history.length - 1];
  const rateChart = $("rate-chart");
  rateChart.dataset.rate = last ? String(last.rate) : "";
  rateChart.dataset.points = String(history.length);
  $("tile-rate").textContent = last ? formatRate(last.rate) : "–";
  $("tile-p50").textContent = last ? formatMs(last.p50) : "–";
  $("tile-p99").textContent = last ? formatMs(last.p99) : "–";
  drawChart(rateChart, [{values: history.map((p) => p.rate), color: cssColor("--accent"), fill: true}],
            (v) => formatNumber(v, 2));
  drawChart($("latency-chart"), [
    {values: history.map((p) => p.p50), color: cssColor("--p50")},
    {values: history.map((p) => p.p99), color: cssColor("--p99")},
  ], (v) => formatMs(v));
}

// -- clusters ------------------------------------------------------------------------------------

async function refreshClusters() {
  const text = await fetchText("/clusters");
  if (text === state.clustersText) return;
  state.clustersText = text;
  state.clusters = JSON.parse(text).clusters || [];
  renderClusters();
}

function healthBadge(health) {
  const known = HEALTH_STATES.includes(health);
  return el("span", {class: "health health-" + (known ? health : "unknown")}, health || "unknown");
}

function healthCheckText(check) {
  if (!check) return "no active health check";
  const what = check.kind === "http" ? `HTTP ${check.path || "/"}` : (check.kind || "").toUpperCase();
  return `${what} every ${formatMs(check.interval_ms)}`;
}

function renderCluster(cluster) {
  const endpoints = cluster.endpoints || [];
  const healthy = cluster.healthy ?? endpoints.filter((e) => e.healthy).length;
  const total = cluster.total ?? endpoints.length;
  const ratioClass = total === 0 ? "warn" : healthy === total ? "ok" : healthy === 0 ? "bad" : "warn";
  const rows = endpoints.map((endpoint) =>
    el("tr", {"data-endpoint": endpoint.address, "data-health": endpoint.health},
       el("td", {class: "mono"}, endpoint.address),
       el("td", null, healthBadge(endpoint.health)),
       el("td", {class: "num", "data-label": "weight"}, endpoint.weight ?? ""),
       el("td", {"data-label": "source"}, endpoint.source ?? ""),
       el("td", {class: "num", "data-label": "active"}, endpoint.active_requests ?? "")));
  return el("article", {class: "cluster", "data-cluster": cluster.name},
    el("header", {class: "cluster-head"},
       el("h3", null, cluster.name),
       el("span", {class: "badge"}, cluster.lb || ""),
       el("span", {class: "ratio ratio-" + ratioClass}, `${healthy}/${total} healthy`),
       cluster.panic && el("span", {class: "badge badge-panic",
                                    title: "too few healthy endpoints: traffic goes to all"}, "panic")),
    el("p", {class: "cluster-meta"},
       `sources: ${(cluster.sources || []).join(", ") || "none"} · ${healthCheckText(cluster.health_check)}`),
    endpoints.length === 0
      ? el("p", {class: "muted"}, "no endpoints")
      : el("div", {class: "table-wrap"},
           el("table", {class: "endpoints"},
              el("thead", null, el("tr", null,
                 el("th", null, "Address"), el("th", null, "Health"), el("th", {class: "num"}, "Weight"),
                 el("th", null, "Source"), el("th", {class: "num"}, "Active"))),
              el("tbody", null, rows))));
}

function renderClusters() {
  const clusters = state.clusters;
  const filter = $("cluster-filter").value.trim().toLowerCase();
  const matching = filter ? clusters.filter((c) => c.name.toLowerCase().includes(filter)) : clusters;
  const shown = matching.slice(0, CLUSTERS_SHOWN);
  $("clusters").replaceChildren(...shown.map(renderCluster));
  $("clusters-count").textContent = `(${formatNumber(clusters.length)})`;
  $("clusters-shown").textContent = shownText(shown.length, matching.length, clusters.length, filter);

  let healthy = 0;
  let total = 0;
  for (const cluster of clusters) {
    for (const endpoint of cluster.endpoints || []) {
      total++;
      if (endpoint.healthy) healthy++;
    }
  }
  const tile = $("tile-healthy");
  tile.textContent = `${formatNumber(healthy)} / ${formatNumber(total)}`;
  tile.className = "tile-value " + (healthy === total ? "" : healthy === 0 ? "text-bad" : "text-warn");
}

function shownText(shown, matching, total, filter) {
  if (filter) {
    return shown < matching ? `showing ${formatNumber(shown)} of ${formatNumber(matching)} matches`
                            : `${formatNumber(matching)} of ${formatNumber(total)} match`;
  }
  return shown < total ? `showing the first ${formatNumber(shown)}: filter to find others` : "";
}

// -- routes --------------------------------------------------------------------------------------

async function refreshRoutes() {
  const text = await fetchText("/routes");
  if (text === state.routesText) return;
  state.routesText = text;
  state.routes = (JSON.parse(text).routes || []).map((route) => ({
    hosts: route.hosts || [],
    search: (route.hosts || []).join(" ").toLowerCase(),
    paths: route.paths || [],
  }));
  renderRoutes();
}

function targetText(path) {
  if (path.cluster !== undefined) return ["cluster", path.cluster];
  if (path.clusters !== undefined) {
    // Weights are relative: show each cluster's share of the requests.
    const total = path.clusters.reduce((sum, c) => sum + (c.weight || 0), 0) || 1;
    const shares = path.clusters.map((c) => `${c.name} ${formatNumber((100 * (c.weight || 0)) / total, 1)}%`);
    return ["split", shares.join(" · ")];
  }
  if (path.respond !== undefined) return ["respond", String(path.respond.status)];
  if (path.redirect !== undefined) {
    const parts = Object.entries(path.redirect).map(([key, value]) => `${key} ${value}`);
    return ["redirect", parts.join(", ")];
  }
  return ["", JSON.stringify(path)];
}

function renderRoutes() {
  const routes = state.routes;
  const filter = $("route-filter").value.trim().toLowerCase();
  const rows = [];
  let matching = 0;
  let shown = 0;
  for (const route of routes) {
    if (filter && !route.search.includes(filter)) continue;
    matching++;
    if (rows.length >= ROUTE_ROWS_SHOWN) continue;  // keep counting the matches, draw no more
    shown++;
    const paths = route.paths.length ? route.paths : [null];
    paths.forEach((path, i) => {
      const cells = [];
      if (i === 0) {
        cells.push(el("td", {class: "hosts", rowspan: paths.length},
                      route.hosts.map((host) => el("span", {class: "host"}, host))));
      }
      if (path === null) {
        cells.push(el("td", {class: "muted", colspan: 2}, "no paths"));
      } else {
        const [kind, target] = targetText(path);
        cells.push(el("td", null, el("span", {class: "match"}, path.match), " ",
                      el("code", null, path.value)));
        cells.push(el("td", null, el("span", {class: "target-kind target-" + kind}, kind), " ",
                      el("span", {class: "target"}, target)));
      }
      rows.push(el("tr", {"data-hosts": route.hosts.join(" ")}, cells));
    });
  }
  $("routes").replaceChildren(...rows);
  $("routes-count").textContent = `(${formatNumber(routes.length)})`;
  $("routes-shown").textContent = shownText(shown, matching, routes.length, filter);
}

// -- reloads -------------------------------------------------------------------------------------

function timeText(iso) {
  const time = new Date(iso);
  if (isNaN(time)) return iso;
  const today = new Date().toDateString() === time.toDateString();
  return today ? time.toLocaleTimeString() : time.toLocaleString();
}

async function refreshReloads() {
  const reloads = JSON.parse(await fetchText("/reloads")).reloads || [];
  const rows = reloads.map((reload) =>
    el("tr", {"data-result": reload.result},
       el("td", {class: "nowrap", title: reload.time}, timeText(reload.time)),
       el("td", null, reload.trigger),
       el("td", null, el("span", {class: "result result-" + reload.result}, reload.result)),
       el("td", {class: "num nowrap"}, reload.duration_ms === undefined ? "" : formatMs(reload.duration_ms)),
       el("td", {class: "message"}, reload.message || "")));
  if (rows.length === 0) {
    rows.push(el("tr", null, el("td", {class: "muted", colspan: 5}, "no reload since waygate started")));
  }
  $("reloads").replaceChildren(...rows);
}

// -- start ---------------------------------------------------------------------------------------

function debounce(action, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, ms);
  };
}

function start() {
  $("admin-address").textContent = location.host;
  $("token-form").addEventListener("submit", useToken);
  $("route-filter").addEventListener("input", debounce(renderRoutes, 150));
  $("cluster-filter").addEventListener("input", debounce(renderClusters, 150));
  window.addEventListener("resize", debounce(drawCharts, 100));
  drawCharts();
  poll(() => FAST_REFRESH_MS, guarded("metrics-error", refreshMetrics));
  poll(() => periodFor(FAST_REFRESH_MS, state.clustersText), guarded("clusters-error", refreshClusters));
  poll(() => periodFor(SLOW_REFRESH_MS, state.routesText), guarded("routes-error", refreshRoutes));
  poll(() => SLOW_REFRESH_MS, guarded("reloads-error", refreshReloads));
}

start();
