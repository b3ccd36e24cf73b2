// The dashboard driven in headless Chromium against a running waygate that test_dashboard.py
// started. It writes the scenario: addresses, the config's routes and clusters, the endpoint to
// kill; for kind "many-routes", the size of a large route table and a host to look for; for kind
// "token", the admin token to type in.
//   node dashboard_test.mjs SCENARIO.json [--screenshot OUT.png]
// Every wait polls the page's DOM until a deadline; a step that misses its deadline fails.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import {launch} from "./browser.mjs";

const args = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(args[0], "utf8"));
const screenshotIndex = args.indexOf("--screenshot");
const screenshot = screenshotIndex >= 0 ? args[screenshotIndex + 1] : null;

const PAGE_DEADLINE_MS = 20000;  // a failure guard for "the page shows it", not a timing claim

function step(text) {
  console.log(`-- ${text}`);
}

// One request through waygate's proxy listener; resolves to the status.
function proxyGet(agent) {
  return new Promise((resolve, reject) => {
    const request = http.get(scenario.proxy_url + scenario.traffic.path,
                             {agent, headers: {Host: scenario.traffic.host}}, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("error", reject);
  });
}

function adminPost(path) {
  return new Promise((resolve, reject) => {
    const request = http.request(new URL(path, scenario.admin_url), {method: "POST"}, (response) => {
      response.resume();
      response.on("end", () => resolve(response.statusCode));
    });
    request.on("error", reject);
    request.end();
  });
}

// Waits until fn (run in the page, given arg) returns true; on a miss, fails with what
// describe (also run in the page) says the page shows.
async function waitForPage(page, what, fn, arg, describe, timeout = PAGE_DEADLINE_MS) {
  try {
    await page.waitForFunction(fn, arg, {timeout, polling: 100});
  } catch (error) {
    let shown = describe ? await page.evaluate(describe, arg) : "";
    if (typeof shown !== "string") shown = JSON.stringify(shown);
    throw new Error(`the page did not show ${what} within ${timeout} ms${shown ? ": " + shown : ""}`);
  }
}

function endpointHealth({cluster, address}) {
  const card = [...document.querySelectorAll("article.cluster")]
                   .find((node) => node.dataset.cluster === cluster);
  const row = card && [...card.querySelectorAll("tr[data-endpoint]")]
                          .find((node) => node.dataset.endpoint === address);
  return row ? {health: row.dataset.health, text: row.cells[1].textContent.trim()} : null;
}

const browser = await launch({width: 1280, height: 900});
const problems = [];  // console errors, page errors and failed requests, reported at the end
try {
  const page = await browser.context.newPage();
  watchForProblems(page);
  step(`load ${scenario.admin_url}`);
  const response = await page.goto(scenario.admin_url);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-security-policy"] || "", /default-src 'self'/);
  const checks = {"many-routes": checkManyRoutes, "token": checkToken};
  await (checks[scenario.kind] || checkDashboard)(page);
  if (screenshot) {
    await page.screenshot({path: screenshot, fullPage: true});
    console.log(`   screenshot written to ${screenshot}`);
  }
  assert.equal(problems.length, 0, "the page logged errors or had requests fail (below)");
  console.log("dashboard: every check passed");
} catch (error) {
  console.log(`dashboard: FAILED: ${error.message}`);
  for (const problem of problems) console.log(`   ${problem}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}

function watchForProblems(page) {
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed",
          (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} for ${response.url()}`);
  });
}

async function checkDashboard(page) {
  step("every cluster and endpoint of the config is shown, each healthy once checked");
  await waitForPage(page, "every cluster with its endpoints healthy", (clusters) =>
    clusters.every(({name, endpoints}) => {
      const card = [...document.querySelectorAll("article.cluster")]
                       .find((node) => node.dataset.cluster === name);
      if (!card) return false;
      const rows = [...card.querySelectorAll("tr[data-endpoint]")];
      return rows.length === endpoints.length &&
             endpoints.every((address) => rows.some((row) => row.dataset.endpoint === address &&
                                                            row.dataset.health === "healthy"));
    }), scenario.clusters,
    () => [...document.querySelectorAll("article.cluster")].map((card) => card.innerText).join(" | ") ||
          document.querySelector("#clusters-error").textContent);

  step("every route of the config is shown: hosts, match and target");
  await waitForPage(page, "every route", (routes) => {
    const rows = [...document.querySelectorAll("#routes tr")];
    return routes.every((route) => {
      const hosts = route.hosts.join(" ");
      const first = rows.findIndex((row) => row.dataset.hosts === hosts);
      if (first < 0) return false;
      const mine = rows.slice(first).filter((row) => row.dataset.hosts === hosts);
      return route.paths.every((path, i) => mine[i] && path.texts.every((text) => mine[i].innerText.includes(text)));
    });
  }, scenario.routes, () => document.querySelector("#routes").innerText);
  const routeCount = await page.textContent("#routes-count");
  assert.equal(routeCount, `(${scenario.routes.length})`);

  step("traffic through the proxy shows as a non-zero rate on the chart");
  // Requests go on until the page shows them: a rate point spans two scrapes a second apart.
  const agent = new http.Agent({keepAlive: true, maxSockets: 1});
  let sending = true;
  let sent = 0;
  const traffic = (async () => {
    while (sending) {
      assert.equal(await proxyGet(agent), 200);
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    await waitForPage(page, "a non-zero request rate",
                      () => Number(document.querySelector("#rate-chart").dataset.rate) > 0, null,
                      () => `rate ${document.querySelector("#rate-chart").dataset.rate}, ` +
                            `tile ${document.querySelector("#tile-rate").textContent}`);
  } finally {
    sending = false;
    await traffic;
    agent.destroy();
  }
  console.log(`   ${sent} requests sent; the page says ${await page.textContent("#tile-rate")} requests/s`);
  assert.notEqual(await page.textContent("#tile-rate"), "–");
  // The line is drawn: the chart has pixels of the series' colour above its baseline.
  const drawn = await page.evaluate(() => {
    const canvas = document.querySelector("#rate-chart");
    const probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim();
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    const {data, width, height} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let y = 0; y < height * 0.75; y++) {  // the top of the plot, well above a zero line
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        if (Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - b) < 8) count++;
      }
    }
    return count;
  });
  assert.ok(drawn > 0, "the rate chart has no line above its baseline");

  step("a reload from the admin API shows in the reloads table");
  assert.equal(await adminPost("/reload"), 200);
  await waitForPage(page, "the admin reload",
                    () => [...document.querySelectorAll("#reloads tr")]
                              .some((row) => row.cells[1]?.textContent === "admin"),
                    null, () => document.querySelector("#reloads").innerText);

  const victim = scenario.victim;
  step(`kill the upstream of ${victim.address}: it turns unhealthy within ${victim.deadline_ms} ms`);
  process.kill(victim.pid, "SIGKILL");
  await waitForPage(page, `${victim.address} unhealthy`, (endpoint) => {
    const card = [...document.querySelectorAll("article.cluster")]
                     .find((node) => node.dataset.cluster === endpoint.cluster);
    const row = card && [...card.querySelectorAll("tr[data-endpoint]")]
                            .find((node) => node.dataset.endpoint === endpoint.address);
    return row?.dataset.health === "unhealthy";
  }, victim, endpointHealth, victim.deadline_ms);
  assert.deepEqual(await page.evaluate(endpointHealth, victim),
                   {health: "unhealthy", text: "unhealthy"});
  const others = scenario.clusters.find((c) => c.name === victim.cluster).endpoints
                     .filter((address) => address !== victim.address);
  for (const address of others) {
    assert.equal((await page.evaluate(endpointHealth, {cluster: victim.cluster, address})).health,
                 "healthy", `${address} stays healthy`);
  }

  step("no panel reports an error");
  const errors = await page.$$eval(".error", (nodes) => nodes.filter((n) => !n.hidden).map((n) => n.textContent));
  assert.deepEqual(errors, []);

  step("at 390 px wide the page fits the screen");
  await page.setViewportSize({width: 390, height: 844});
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a 390 px screen`);
  await page.setViewportSize({width: 1280, height: 900});
}

// Behind admin.token the page asks for the token, says when it is refused, and once given keeps
// it for the tab. The 401s before that are expected; nothing else may fail.
async function checkToken(page) {
  step("the page asks for the token");
  await waitForPage(page, "the token form", () => !document.querySelector("#token-form").hidden);
  assert.equal(await page.evaluate(() => document.querySelectorAll("article.cluster").length), 0);

  step("a wrong token is refused");
  await page.fill("#token-input", "not-" + scenario.token);
  await page.click("#token-form button");
  await waitForPage(page, "the refusal", () => !document.querySelector("#token-error").hidden &&
                                               !document.querySelector("#token-form").hidden);

  step("the right token shows the clusters, also after the page is loaded again");
  await page.fill("#token-input", scenario.token);
  await page.click("#token-form button");
  const shown = (names) => document.querySelector("#token-form").hidden &&
      names.every((name) => document.querySelector(`article.cluster[data-cluster="${name}"]`));
  await waitForPage(page, "the clusters", shown, scenario.clusters.map((c) => c.name));
  problems.splice(0, problems.length, ...problems.filter((p) => !/\b401\b/.test(p)));
  // Loading the page again aborts the requests it had in flight: those are not failures.
  const before = problems.length;
  await page.reload();
  problems.splice(before, problems.length,
                  ...problems.slice(before).filter((p) => !p.endsWith("net::ERR_ABORTED")));
  await waitForPage(page, "the clusters after a reload", shown, scenario.clusters.map((c) => c.name));
}

// A table of many routes is counted whole but drawn in part, and the filter finds any host.
async function checkManyRoutes(page) {
  const total = scenario.total_routes;
  step(`${total} routes are counted, and only the first few hundred drawn`);
  await waitForPage(page, `a count of ${total} routes`,
                    (count) => document.querySelector("#routes-count").textContent === count,
                    `(${total.toLocaleString("en-US")})`,
                    () => document.querySelector("#routes-count").textContent +
                          document.querySelector("#routes-error").textContent);
  const drawn = await page.$$eval("#routes tr", (rows) => rows.length);
  assert.ok(drawn > 0 && drawn <= 1000, `${drawn} route rows drawn`);
  assert.match(await page.textContent("#routes-shown"), /filter/);

  const host = scenario.find.host;
  step(`the filter finds ${host}`);
  await page.fill("#route-filter", host);
  await waitForPage(page, `only the route of ${host}`, (wanted) => {
    const rows = [...document.querySelectorAll("#routes tr")];
    return rows.length === 1 && rows[0].dataset.hosts === wanted.host &&
           rows[0].innerText.includes(wanted.target);
  }, scenario.find, () => document.querySelector("#routes").innerText.slice(0, 500));
  assert.equal(await page.textContent("#routes-shown"), `1 of ${total.toLocaleString("en-US")} match`);
}
