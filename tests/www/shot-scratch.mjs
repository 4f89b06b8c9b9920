import { chromium } from "playwright-core";
const origin = process.argv[2];
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, chromiumSandbox: false,
  args: ["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
const page = await ctx.newPage();
page.on("pageerror", (e) => console.log("pageerror", e));
page.on("console", (m) => console.log("console", m.text()));
await page.goto(origin);
await page.waitForSelector("#dh-connect-local");
await page.screenshot({ path: "/tmp/dev/0-connect.png" });
await page.tap("#dh-connect-local"); await page.waitForTimeout(500); console.log("AFTER TAP", await page.getAttribute("#app","data-busy")); await page.evaluate(() => document.querySelector("#dh-connect-local")?.click());
await page.waitForTimeout(3000); console.log("STATUS", await page.textContent("#app"));
await page.screenshot({ path: "/tmp/dev/1-campaigns.png", fullPage: true });
for (const kind of ["image_categorization", "content_verification", "text_labeling", "content_moderation", "image_upload", "voice_recording"]) {
  await page.tap(`.dh-card[data-kind=${kind}]`);
  await page.waitForSelector(".dh-task");
  if (kind === "text_labeling") { await page.tap("[data-action='word:0']"); await page.tap("[data-action='word:1']"); await page.tap("[data-action='mark:0']"); await page.tap("[data-action='choose:0']"); }
  else if (kind === "image_upload" ) {}
  else if (kind === "voice_recording") { await page.tap("[data-action=record]"); await page.waitForTimeout(1800); await page.tap("[data-action=stop]"); await page.waitForSelector("#dh-playback"); }
  else await page.tap("[data-action='choose:0']");
  await page.screenshot({ path: `/tmp/dev/task-${kind}.png`, fullPage: true });
  if (kind !== "image_upload") {
    await page.tap("#dh-submit");
    await page.waitForFunction(() => document.querySelector(".dh-status")?.textContent.includes("+") || document.querySelector(".dh-error"), null, { timeout: 20000 });
    console.log(kind, await page.textContent(".dh-status"), await page.textContent("#dh-balance"));
  }
  await page.tap("[data-action=back]");
  await page.waitForSelector("[data-screen=campaigns]");
}
await page.tap("#dh-claim");
await page.waitForSelector("#dh-voucher-json", { state: "attached" });
await page.screenshot({ path: "/tmp/dev/2-claimed.png", fullPage: true });
console.log((await page.textContent("#dh-voucher-json")).slice(0, 200));
await browser.close();
