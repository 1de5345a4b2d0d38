// Drives the dev stack's example page in headless Chromium (Debian's
// package, through playwright-core; no browser is downloaded). Usage:
//   node browser.mjs <page URL> <token> <SPKI hash of the page's certificate>
// It subscribes on the page, prints READY, waits for a message whose text
// the Go test publishes over MQTT (given on stdin), prints RECEIVED, then
// publishes from the page with fetch and prints PUBLISHED.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [url, token, spki] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "pubsub-chromium-"));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// A fresh profile (--user-data-dir), which playwright takes as an argument.
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // Chromium resolves *.localhost to loopback itself; the rule makes
    // that explicit. The dev CA is trusted for this one certificate only,
    // by its public key, not by turning certificate checks off.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
});
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("page:", m.text()));
  await page.goto(url);
  await page.fill("#token", token);
  await page.fill("#topic", "browser/#");
  await page.click("#subscribe");
  await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Subscribed"), null, { timeout: 15000 });
  console.log("READY");
  const { value: text } = await lines.next();
  await page.waitForFunction((t) => document.getElementById("messages").textContent.includes(t), text, { timeout: 15000 });
  console.log("RECEIVED " + text);
  await page.screenshot({ path: process.env.SCREENSHOT || join(profile, "page.png") });
  await page.fill("#pubtopic", "browser/out");
  await page.fill("#payload", "sent by the page");
  await page.click("#publish");
  await page.waitForFunction(() => document.getElementById("pubstatus").textContent.startsWith("Published"), null, { timeout: 15000 });
  console.log("PUBLISHED");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
