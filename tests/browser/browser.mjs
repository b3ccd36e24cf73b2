// Starts Debian's Chromium headless for the dashboard tests, through playwright-core, with the
// flags this machine needs: no sandbox (root), no GPU, and no connections of its own to the
// outside (background networking, component updates, sync), which fail on a closed network.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {chromium} from "playwright-core";

export const CHROMIUM = process.env.WAYGATE_TEST_CHROMIUM || "/usr/bin/chromium";

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// A browser context on a fresh profile directory; close() ends Chromium and removes the profile.
export async function launch({width = 1280, height = 900, colorScheme = "light"} = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM} (Debian: chromium; set WAYGATE_TEST_CHROMIUM)`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "waygate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: {width, height},
    colorScheme,
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, {recursive: true, force: true});
    },
  };
}
