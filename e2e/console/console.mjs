// Drives the operators' console in headless Chromium (Debian's package,
// through playwright-core). Usage:
//   node console.mjs <console URL> <account id> <API token> <SPKI hash> <screenshot dir>
// with the account's email and global key in $EMAIL and $API_KEY, and
// the URL of an on-publish hook that passes every message in $HOOK_URL.
// The Go test (console_test.go) talks with it line by line: this script
// prints what it did (TOKEN <client id> <token>, MINTED, WATCHING, ...)
// and reads from stdin what the test did meanwhile.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [url, account, apiToken, spki, shots] = process.argv.slice(2);
const { EMAIL: email, API_KEY: apiKey, HOOK_URL: hookURL } = process.env;
const profile = mkdtempSync(join(tmpdir(), "pubsub-console-"));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
const T = { timeout: 20000 };

const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 860 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
    // Trust the broker's dev certificate by its public key only.
    `--ignore-certificate-errors-spki-list=${spki}`,
  ],
});
const shot = (page, name) => page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  const flashOK = (text) => page.waitForFunction((t) => {
    const f = document.getElementById("flash");
    return f.className === "ok" && f.textContent.includes(t);
  }, text, T);
  const confirm = async () => {
    await page.waitForSelector("#confirm[open]", T);
    await page.click("#confirm-ok");
  };

  // Sign in with the email and global key, then sign out: nothing stays.
  await page.goto(url);
  await page.fill("#account", account);
  await page.check("#m-key");
  await page.fill("#email", email);
  await page.fill("#apikey", apiKey);
  await page.click("#signin");
  await page.waitForSelector("#namespaces-empty", T);
  const kept = await page.evaluate(() => JSON.parse(sessionStorage.getItem("pubsub.console.auth")));
  if (kept.email !== email || kept.key !== apiKey || kept.account !== account) throw new Error("sessionStorage holds " + JSON.stringify(kept));
  if ((await browser.cookies()).length !== 0) throw new Error("the console set cookies");
  await page.click("#signout");
  await page.waitForSelector("#signin", T);
  if (await page.evaluate(() => sessionStorage.length) !== 0) throw new Error("sign-out left the sign-in in sessionStorage");
  console.log("KEY-SIGN-IN");

  // Sign in with the API token; a wrong one is refused with the API's message.
  await page.fill("#account", account);
  await page.check("#m-token");
  await page.fill("#token", "wrong-token");
  await page.click("#signin");
  await page.waitForFunction(() => document.getElementById("flash")?.textContent?.startsWith("Sign-in refused"), null, T);
  await shot(page, "signin");
  await page.fill("#token", apiToken);
  await page.click("#signin");
  await page.waitForSelector("#namespaces-empty", T);
  console.log("SIGNED-IN");

  // A namespace and a broker.
  await page.fill("#ns-name", "my-namespace");
  await page.fill("#ns-desc", "made by the console test");
  await page.click("#create-namespace button");
  await page.waitForSelector("#namespaces a[href='#/ns/my-namespace']", T);
  await shot(page, "namespaces");
  await page.click("#namespaces a[href='#/ns/my-namespace']");
  await page.waitForSelector("#brokers-empty", T);
  await page.fill("#b-name", "example-broker");
  await page.fill("#b-desc", "sensors of building 7");
  await page.click("#create-broker button");
  await page.waitForSelector("#brokers a[href='#/ns/my-namespace/b/example-broker']", T);
  await shot(page, "brokers");
  console.log("BROKER");
  await page.click("#brokers a[href='#/ns/my-namespace/b/example-broker']");
  await page.waitForSelector("#endpoints", T);
  await page.fill("#e-desc", "edited by the console");
  await page.fill("#e-exp", "86400");
  await page.fill("#e-hook", hookURL);
  await page.click("#edit-broker button");
  await flashOK("Saved broker example-broker");
  // The page reloads the broker from the API after saving.
  await page.waitForFunction(() => document.getElementById("e-exp")?.value === "86400" && document.getElementById("e-desc")?.value === "edited by the console", null, T);
  await shot(page, "broker");
  console.log("EDITED");

  // Five credentials.
  await page.click("#tab-credentials");
  await page.waitForSelector("#credentials-empty", T);
  await page.fill("#c-number", "5");
  await page.click("#mint button");
  await page.waitForFunction(() => document.querySelectorAll("#minted-table tbody tr").length === 5 && document.querySelectorAll("#credentials tbody tr").length === 5, null, T);
  for (const row of await page.$$("#minted-table tbody tr")) {
    const id = await row.$eval("td", (td) => td.textContent);
    const tok = await row.$eval("button", (b) => b.dataset.copy);
    console.log(`TOKEN ${id} ${tok}`);
  }
  const someJTI = await page.$eval("#credentials tbody tr", (tr) => tr.dataset.jti);
  await page.fill("#find-jti", someJTI);
  await page.click("#find-credential button");
  await page.waitForSelector(`#found-table tr[data-jti='${someJTI}']`, T);
  const dl = page.waitForEvent("download", T);
  await page.click("#download");
  const file = await dl;
  console.log("DOWNLOADED " + file.suggestedFilename());
  await shot(page, "credentials");
  console.log("MINTED");

  // Keys: rotate.
  await page.click("#tab-keys");
  await page.waitForSelector("#keys tbody tr", T);
  await page.click("#rotate");
  await confirm();
  await page.waitForFunction(() => document.getElementById("rotation")?.textContent?.startsWith("Current:"), null, T);
  await shot(page, "keys");

  // Live topic view: watch, see the test's MQTT message, publish.
  await page.click("#tab-live");
  await page.fill("#filter", "console/#");
  await page.click("#watch");
  await page.waitForFunction(() => document.getElementById("live-status")?.textContent?.startsWith("Watching"), null, T);
  console.log("WATCHING");
  const text = await next();
  await page.waitForFunction((t) => document.getElementById("messages")?.textContent?.includes(t), text, T);
  console.log("RECEIVED " + text);
  await page.fill("#pub-topic", "console/out");
  await page.fill("#pub-payload", "sent by the console");
  await page.check("#pub-retain");
  await page.click("#publish button");
  await page.waitForFunction(() => document.getElementById("pub-status")?.textContent?.startsWith("Published"), null, T);
  await shot(page, "live");
  console.log("PUBLISHED");

  // Retained messages: the console's publish was retained; delete it.
  await page.click("#tab-retained");
  await page.fill("#retained-filter", "console/#");
  await page.click("#retained-form button");
  await page.waitForSelector("#retained tr[data-topic='console/out']", T);
  await page.waitForFunction(() => document.querySelector("#retained tr[data-topic='console/out']")?.textContent.includes("sent by the console"), null, T);
  await shot(page, "retained");
  await page.click("#retained tr[data-topic='console/out'] button");
  await confirm();
  await page.waitForSelector("#retained-empty", T);
  console.log("RETAINED");

  // Overview: the node's counters of the broker, and their charts.
  await page.click("#tab-overview");
  await page.waitForFunction(() => {
    const cells = document.querySelectorAll("#overview-nodes tbody tr td");
    return cells.length > 3 && Number(cells[1].textContent) === 2 && Number(cells[2].textContent) >= 1 && Number(cells[3].textContent) >= 1;
  }, null, T);
  await page.waitForSelector("#chart-messages canvas", T);
  await page.waitForSelector("#chart-connections canvas", T);
  // The on-publish hook passed the test's and the console's messages.
  await page.waitForFunction(() => {
    const ok = document.querySelector("#overview-hook tbody tr [data-outcome=ok]");
    const passed = document.querySelectorAll("#overview-hook tbody tr td")[2];
    return ok && Number(ok.textContent.split(" ")[1]) >= 2 && Number(passed?.textContent) >= 2;
  }, null, T);
  await page.waitForSelector("#chart-hook canvas", T);
  await shot(page, "overview");
  console.log("OVERVIEW");

  // Clients: both of the test's MQTT clients are listed; disconnect the
  // second, revoke the first's token, and see them leave.
  const [first, second] = (await next()).split(" ");
  await page.click("#tab-clients");
  await page.waitForSelector(`#clients tr[data-client='${first}']`, T);
  await page.waitForSelector(`#clients tr[data-client='${second}']`, T);
  // The first published one message and was sent the console's.
  await page.waitForFunction((id) => {
    const m = document.querySelector(`#clients tr[data-client='${id}'] td.counters`)?.textContent.match(/^(\d+) \/ (\d+)$/);
    return m && Number(m[1]) >= 1 && Number(m[2]) >= 1;
  }, first, T);
  await page.fill("#client-search", first.slice(-6));
  await page.waitForFunction(() => document.querySelectorAll("#clients tbody tr").length === 1, null, T);
  await page.fill("#client-search", "");
  await page.waitForFunction(() => document.querySelectorAll("#clients tbody tr").length === 2, null, T);
  await shot(page, "clients");
  await page.click(`#clients tr[data-client='${second}'] button[data-action=disconnect]`);
  await confirm();
  await flashOK("Asked the nodes to disconnect " + second);
  console.log("DISCONNECTED");
  await next();
  await page.click(`#clients tr[data-client='${first}'] button[data-action=revoke]`);
  await confirm();
  await flashOK("Revoked ");
  console.log("REVOKED");
  await next();
  await page.waitForSelector("#clients-empty", T);
  console.log("GONE");

  // Delete the broker.
  await page.click("#tab-settings");
  await page.click("#delete-broker");
  await confirm();
  await page.waitForSelector("#brokers-empty", T);
  console.log("DELETED");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
