// Measures how long the console's pages take to load in headless
// Chromium. Usage:
//   node loadtime.mjs <console URL> <account id> <API token> <runs> <page>...
// where each page is name=hash=selector. For each run and page it loads
// about:blank, then the page, and records performance.now() (time since
// the navigation started) when the selector first matches, checked by a
// MutationObserver on every change of the document. It prints one line per page:
//   RESULT <name> <median ms> <p90 ms> <max ms> <first ms>
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, account, apiToken, runsArg, ...pages] = process.argv.slice(2);
const runs = Number(runsArg);
const profile = mkdtempSync(join(tmpdir(), "pubsub-loadtime-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 860 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  // Signed in, as after the sign-in form: the console reads sessionStorage.
  const selectors = Object.fromEntries(pages.map((p) => p.split("=").slice(1)));
  await page.addInitScript(([auth, selectors]) => {
    if (location.protocol !== "http:") return; // about:blank
    sessionStorage.setItem("pubsub.console.auth", auth);
    const sel = selectors[location.hash];
    const obs = new MutationObserver(() => {
      if (window.__loaded === undefined && document.querySelector(sel)) {
        window.__loaded = performance.now();
        obs.disconnect();
      }
    });
    obs.observe(document, { childList: true, subtree: true });
  }, [JSON.stringify({ account, token: apiToken }), selectors]);
  const times = Object.fromEntries(pages.map((p) => [p.split("=")[0], []]));
  for (let i = 0; i < runs; i++) {
    for (const p of pages) {
      const [name, hash] = p.split("=");
      await page.goto("about:blank");
      await page.goto(url + hash);
      await page.waitForFunction(() => window.__loaded !== undefined, null, { timeout: 30000 });
      times[name].push(await page.evaluate(() => window.__loaded));
    }
  }
  for (const [name, t] of Object.entries(times)) {
    const first = t[0];
    const s = [...t].sort((a, b) => a - b);
    const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
    console.log(`RESULT ${name} ${q(0.5).toFixed(1)} ${q(0.9).toFixed(1)} ${s[s.length - 1].toFixed(1)} ${first.toFixed(1)}`);
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
