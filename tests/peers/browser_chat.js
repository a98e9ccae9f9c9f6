// The browser test of `wsio serve`'s chat page: opens the page in two pages of a headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core) and checks that a message
// typed in one page appears in the other. Prints each page's status line, then "ok", and exits
// 0 when it does.
//
// Usage: node browser_chat.js URL [URL2]
//   URL is the chat page, http://127.0.0.1:PORT/ (or https://, whose certificate is not
//   checked); the second page opens URL2 if given (another node of a cluster), else URL.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const TIMEOUT_MS = 20000;

// Each line in the page's log is an <li>; wait until one reads exactly `text`.
function hasLine(text) {
  return [...document.querySelectorAll("#log li")].some((item) => item.textContent === text);
}

// Wait until a line of the page's log ends with `text`.
function hasLineEndingWith(text) {
  return [...document.querySelectorAll("#log li")].some((item) => item.textContent.endsWith(text));
}

// Wait until the page has had its welcome line.
function welcomed() {
  return [...document.querySelectorAll("#log li")].some((item) => item.textContent.startsWith("* welcome, "));
}

async function main(url, secondUrl) {
  // A fresh profile each run, removed afterwards.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "wsio-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: TIMEOUT_MS,
    // The tests serve TLS with a certificate made for the run.
    ignoreHTTPSErrors: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    context.setDefaultTimeout(TIMEOUT_MS);
    const one = await context.newPage();
    const two = await context.newPage();
    for (const [page, pageUrl] of [[one, url], [two, secondUrl || url]]) {
      await page.goto(pageUrl);
      await page.waitForSelector("#status.open");
      await page.waitForFunction(welcomed);
    }
    for (const [name, page] of [["one", one], ["two", two]]) {
      console.log(`${name}: ${await page.textContent("#status")}`);
    }
    await one.fill("#input", "/nick one");
    await one.press("#input", "Enter");
    await two.waitForFunction(hasLineEndingWith, " is now one");
    const text = `hello from the first page, ${Date.now()}`;
    await one.fill("#input", text);
    await one.click("button[type=submit]");
    await two.waitForFunction(hasLine, `one: ${text}`);
    console.log("ok");
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(error);
  process.exit(1);
});
