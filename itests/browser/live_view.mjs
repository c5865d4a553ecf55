// Drives Debian's chromium (playwright-core, no bundled browser) on Gregor's live view for
// itests/tests/live_view_browser.rs. Usage: node live_view.mjs <page url> <screenshot dir>.
// Reads one JSON command per line on stdin and answers one JSON line on stdout:
//   {"cmd":"group","group":"g"}  -> {"ok":true,"members":{id:[tp,...]},"state":"Stable","timeline":[[type,text],...]}
//   {"cmd":"screenshot","name":"n"} -> {"ok":true,"path":"<dir>/n.png"}
//   {"cmd":"keyboard"}           -> {"ok":true,"focusable":n} (Tab reaches members and events)
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { join } from "node:path";

const [url, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const external = [];
page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url);

async function handle(c) {
  switch (c.cmd) {
    case "group":
      return await page.evaluate((group) => {
        const section = document.querySelector(`.group[data-group="${CSS.escape(group)}"]`);
        const members = {};
        let state = null;
        if (section) {
          for (const m of section.querySelectorAll(".member")) {
            members[m.dataset.member] = Array.from(m.querySelectorAll(".partition")).map((p) => p.dataset.tp);
          }
          state = section.querySelector(".state")?.dataset.state ?? null;
        }
        const timeline = Array.from(document.querySelectorAll(`#timeline li[data-group="${CSS.escape(group)}"]`))
          .map((li) => [li.dataset.type, li.querySelector(".what").textContent, li.title]);
        return { ok: true, members, state, timeline };
      }, c.group);
    case "screenshot": {
      const path = join(shots, c.name + ".png");
      await page.screenshot({ path, fullPage: true });
      return { ok: true, path };
    }
    case "keyboard": {
      // Tab through the page and count the group members and timeline entries reached.
      const reached = new Set();
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press("Tab");
        const what = await page.evaluate(() => {
          const a = document.activeElement;
          return a ? (a.dataset.member ? "member:" + a.dataset.member : a.dataset.seq ? "event:" + a.dataset.seq : a.tagName) : "";
        });
        reached.add(what);
      }
      return { ok: true, reached: Array.from(reached) };
    }
    case "checks":
      return { ok: true, external, errors };
    case "quit":
      await browser.close();
      return { ok: true };
    default:
      return { ok: false, error: "unknown command " + c.cmd };
  }
}

console.log(JSON.stringify({ ok: true, ready: true }));
for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    answer = await handle(JSON.parse(line));
  } catch (e) {
    answer = { ok: false, error: String(e && e.stack || e) };
  }
  console.log(JSON.stringify(answer));
  if (JSON.parse(line).cmd === "quit") break;
}
process.exit(0);
