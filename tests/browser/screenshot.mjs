// Takes a screenshot of a running waygate's dashboard, for a person to look at:
//   node tests/browser/screenshot.mjs http://127.0.0.1:9901/ out.png [--width 1280] [--points N]
//        [--dark] [--token T]
// It waits until the page shows its clusters and N points of the charts (default 1: the first
// two scrapes of /metrics), about N seconds.
import {launch} from "./browser.mjs";

function usage() {
  console.error("usage: node screenshot.mjs ADMIN_URL OUT.png [--width N] [--points N] [--dark] [--token T]");
  process.exit(2);
}

const positional = [];
const options = {width: 1280, points: 1, dark: false, token: null};
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--width") options.width = Number(args[++i]);
  else if (args[i] === "--points") options.points = Number(args[++i]);
  else if (args[i] === "--dark") options.dark = true;
  else if (args[i] === "--token") options.token = args[++i];
  else if (args[i].startsWith("--")) usage();
  else positional.push(args[i]);
}
if (positional.length !== 2 || !(options.width > 0) || !(options.points >= 0)) usage();
const [url, out] = positional;

const browser = await launch({width: options.width, height: 900,
                              colorScheme: options.dark ? "dark" : "light"});
try {
  const page = await browser.context.newPage();
  if (options.token) {
    await page.addInitScript((token) => sessionStorage.setItem("waygate.admin.token", token),
                             options.token);
  }
  await page.goto(url);
  await page.waitForFunction(
      (points) => Number(document.querySelector("#rate-chart").dataset.points) >= points &&
                  document.querySelector("#clusters").childElementCount > 0,
      options.points, {timeout: 15000 + 2000 * options.points});
  await page.screenshot({path: out, fullPage: true});
  console.log(`screenshot of ${url} at ${options.width}px written to ${out}`);
} finally {
  await browser.close();
}
