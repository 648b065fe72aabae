// End-to-end test of the web console: a real `strata dev` (the binary named
// by STRATA_BIN), driven by playwright-core with Debian's chromium
// (CHROMIUM, default /usr/bin/chromium), headless. Run it with
// `go tool task ui-e2e`. With STRATA_SCREENSHOTS=DIR it saves a screenshot
// of each page there (docs/console/ in the repo: `go tool task ui-screenshots`).
//
// It seeds an app and a user without grants through the CLI, then, in the
// browser: the login page, token login with the generated admin token, the
// apps list and its search, an app page, a DNS zone (released, resolved from
// the dev node, exported) and a certificate made in the console, the command palette, the gateways
// page (the dev node in sync, a release reaching it, a join token), a purge
// acknowledged by the dev node on the cache page, requests through the dev
// node counted on the metrics page, a viewer user made on the IAM page and
// found in the audit log by actor, session
// expiry, password login of a user whose role forbids listing apps (the
// forbidden panel), and sign out; keyboard order (skip link, header, nav).
// axe-core checks the login, apps, app, DNS, certificates, forbidden,
// gateways, cache, metrics, IAM and audit pages; any CSP
// violation or page error fails the run.
import { spawn, execFileSync } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Resolver } from "node:dns/promises";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(process.env.STRATA_BIN ?? join(here, "../../bin/strata"));
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = process.env.STRATA_SCREENSHOTS ? resolve(process.env.STRATA_SCREENSHOTS) : "";
const axeSource = readFileSync(join(here, "../node_modules/axe-core/axe.min.js"), "utf8");
const timeout = 15_000;

const tmp = mkdtempSync(join(tmpdir(), "strata-console-e2e-"));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("STRATA_")));
env.STRATA_CONFIG_DIR = join(tmp, "config");

let dev;
let browser;
let upstream;
let lastAnswer = "";

let current; // the page, for the alerts it shows when a step fails
let step = "start";
const log = (s) => {
  step = s;
  console.log(`ui-e2e: ${s}`);
};

// startDev runs strata dev on free ports and waits for its banner.
function startDev() {
  const args = ["dev", "--data", join(tmp, "data"), "--api-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:-1",
    "--leaf-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--https-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0"];
  dev = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  dev.stderr.on("data", (b) => (stderr = (stderr + b).slice(-20000)));
  const banner = {};
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`strata dev printed no banner in 60s:\n${stderr}`)), 60_000);
    dev.on("exit", (code) => fail(new Error(`strata dev exited (${code}):\n${stderr}`)));
    createInterface({ input: dev.stdout }).on("line", (line) => {
      const m = /^([a-z-]+): (.*)$/.exec(line);
      if (m && !(m[1] in banner)) banner[m[1]] = m[2];
      if (banner.console && banner["token-file"] && line.startsWith("Use the CLI")) {
        clearTimeout(timer);
        ok(banner);
      }
    });
  });
}

function cli(api, token, args, input) {
  return execFileSync(bin, ["--api", api, "--token", token, ...args], { env, input, encoding: "utf8" }).trim();
}

async function axe(page, what) {
  await page.evaluate(axeSource);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  if (res.violations.length) {
    const lines = res.violations.map((v) => `  ${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`);
    throw new Error(`axe-core: ${res.violations.length} violation(s) on the ${what} page:\n${lines.join("\n")}`);
  }
}

async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

// get asks the dev node's HTTP listener (addr: "http://127.0.0.1:PORT")
// for / of host.
function get(addr, host) {
  const u = new URL(addr);
  return new Promise((ok, fail) => {
    const r = httpRequest({ host: u.hostname, port: u.port, path: "/", headers: { Host: host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => ok({ status: res.statusCode, body }));
    });
    r.on("error", fail);
    r.setTimeout(3000, () => r.destroy(new Error("timeout")));
    r.end();
  });
}

// until retries check (at most 150 times, 200 ms apart) until it is true.
async function until(what, check) {
  let last = "";
  for (let i = 0; i < 150; i++) {
    try {
      if (await check()) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting until ${what} ${last} (last answer: ${lastAnswer})`);
}


// getStatus sends one GET through the dev node's HTTP listener with a Host header;
// it resolves to the status (0 when the connection failed).
function getStatus(httpBase, host, path) {
  const u = new URL(httpBase);
  return new Promise((ok) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers: { host }, timeout: 5000 }, (res) => {
      res.resume();
      res.on("end", () => ok(res.statusCode));
    });
    req.on("error", () => ok(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

async function main() {
  log(`strata dev (${bin})`);
  const banner = await startDev();
  const base = banner.console.replace(/\/$/, "");
  const api = banner.api;
  const admin = readFileSync(banner["token-file"], "utf8").trim();

  log("seed: an app with an upstream and a rule, a user without grants");
  const app = cli(api, admin, ["app", "create", "--name", "shop", "--domain", "shop.example.com", "--domain", "www.shop.example.com", "--label", "team=web"]);
  cli(api, admin, ["upstream", "create", "--app", app, "--name", "web", "--server", "10.0.0.1:8080", "--server", "10.0.0.2:8080"]);
  cli(api, admin, ["rule", "create", "--app", app, "--upstream", "web", "--when", 'PathPrefix("/")']);
  cli(api, admin, ["release", "create", "--app", app, "--note", "first release"]);
  cli(api, admin, ["app", "create", "--name", "blog", "--domain", "blog.example.org"]);
  cli(api, admin, ["user", "create", "nogrants", "--password-stdin"], "correct-horse-battery\n");
  cli(api, admin, ["user", "create", "viewer", "--password-stdin"], "staple-horse-battery\n");
  cli(api, admin, ["grant", "create", "--user", "viewer", "--role", "viewer", "--all"]);

  // The upstream of the app the test creates in the console.
  upstream = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("hello from the e2e upstream");
  });
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamAddr = `127.0.0.1:${upstream.address().port}`;
  const nodeHTTP = banner.http;
  if (!nodeHTTP) throw new Error(`no http: line in the dev banner: ${JSON.stringify(banner)}`);

  browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(timeout);
  const page = await context.newPage();
  current = page;
  const problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

  log("login page");
  await page.goto(base + "/");
  await page.waitForURL(/\/login$/);
  await page.getByRole("heading", { name: "Sign in to Strata" }).waitFor();
  await axe(page, "login");
  await shot(page, "login");

  log("token login with the generated admin token");
  await page.getByRole("radio", { name: "API token" }).check();
  await page.getByRole("textbox", { name: "API token" }).fill(admin);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Applications", level: 1 }).waitFor();
  await page.waitForURL(/\/apps$/);
  await page.getByRole("link", { name: "shop", exact: true }).waitFor();
  await page.getByRole("link", { name: "blog", exact: true }).waitFor();
  await page.getByText("Signed in as").getByText("admin token").waitFor();
  await axe(page, "apps");
  await shot(page, "apps");

  log("keyboard: skip link first, then the header and the navigation");
  await page.goto(base + "/apps");
  await page.getByRole("link", { name: "shop", exact: true }).waitFor();
  await page.keyboard.press("Tab");
  const focused = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? "");
  if ((await focused()) !== "Skip to content") throw new Error(`first Tab focuses "${await focused()}", want the skip link`);
  const seen = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press("Tab");
    seen.push(await focused());
  }
  if (!seen.includes("Applications") || !seen.includes("Releases") || !seen.includes("Sign out")) throw new Error(`Tab order: ${JSON.stringify(seen)}`);

  log("search by domain");
  await page.getByLabel("Search by domain or name").fill("blog.example");
  await page.getByRole("table", { name: "1 application matching" }).waitFor();
  await page.getByRole("link", { name: "blog", exact: true }).waitFor();
  if (await page.getByRole("link", { name: "shop", exact: true }).count()) throw new Error("search blog.example still shows shop");
  await page.getByLabel("Search by domain or name").fill("nothing-matches");
  await page.getByText("No application matches.").waitFor();
  await page.getByLabel("Search by domain or name").fill("");
  await page.getByRole("table", { name: "2 applications" }).waitFor();

  log("server-side filter: labels, and a bad filter named by the API");
  const rawFilter = page.getByLabel("Filter (labels, partition, …)");
  await rawFilter.fill('labels.team = "web"');
  await page.getByRole("button", { name: "Apply filter" }).click();
  await page.getByRole("table", { name: "1 application matching" }).waitFor();
  await page.getByRole("link", { name: "shop", exact: true }).waitFor();
  await rawFilter.fill('nme = "x"');
  await page.getByRole("button", { name: "Apply filter" }).click();
  await page.getByRole("alert").getByText('unknown field "nme"').waitFor();
  await rawFilter.fill("");
  await page.getByRole("button", { name: "Apply filter" }).click();
  await page.getByRole("table", { name: "2 applications" }).waitFor();

  log("app page");
  await page.getByRole("link", { name: "shop", exact: true }).click();
  await page.getByRole("heading", { name: "shop", level: 1 }).waitFor();
  await page.getByRole("heading", { name: "Upstreams" }).waitFor();
  await page.getByText("10.0.0.2:8080").waitFor();
  await page.getByText('PathPrefix("/")').waitFor();
  await axe(page, "app");
  await shot(page, "app");

  log("dns: create a zone and a record, release it, resolve it from the dev node, export it");
  await page.getByRole("link", { name: "DNS" }).first().click();
  await page.getByRole("heading", { name: "DNS", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Create zone" }).click();
  await page.getByLabel("Zone name").fill("shop-e2e.test");
  await page.getByLabel("Name servers (comma-separated)").fill("ns1.shop-e2e.test");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("link", { name: "shop-e2e.test." }).click();
  await page.getByRole("heading", { name: "shop-e2e.test.", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Add record" }).click();
  const recForm = page.getByRole("form", { name: "Add record" });
  await recForm.getByLabel("Name", { exact: true }).fill("www");
  await recForm.getByLabel("Data").fill("192.0.2.77x");
  await recForm.getByRole("button", { name: "Add", exact: true }).click();
  await recForm.getByText("an IPv4 address").waitFor();
  // An error only the API finds (a CNAME beside other data) shows under the form.
  await recForm.getByLabel("Data").fill("192.0.2.77");
  await recForm.getByLabel("TTL (seconds)").fill("60");
  await recForm.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("cell", { name: "192.0.2.77" }).waitFor();
  await page.getByRole("button", { name: "Add record" }).click();
  await recForm.getByLabel("Name", { exact: true }).fill("www");
  await recForm.getByLabel("Type").selectOption("CNAME");
  await recForm.getByLabel("Data").fill("shop.example.com.");
  await recForm.getByRole("button", { name: "Add", exact: true }).click();
  await recForm.getByText(/has no other data/).waitFor();
  await recForm.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "Add record" }).click();
  await recForm.getByLabel("Name", { exact: true }).fill("eu");
  await recForm.getByLabel("Data").fill("192.0.2.88");
  await recForm.getByLabel("Continents").fill("EU");
  await recForm.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("cell", { name: "continent EU" }).waitFor();
  await page.getByLabel("Zone file diff").waitFor();
  await page.getByLabel("Release note").fill("first zone release");
  await page.getByRole("button", { name: /^Release \d+ changes?$/ }).click();
  await page.getByText("Release #1 created").waitFor();
  await page.getByRole("cell", { name: "first zone release" }).waitFor();
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([banner.dns]);
  // resolves waits (bounded) until the dev node answers name with want ("" for no address).
  const resolves = async (name, want) => {
    let answer = [];
    const ok = () => (want ? answer.includes(want) : answer.length === 0);
    for (let i = 0; i < 60; i++) {
      answer = await resolver.resolve4(name).catch(() => []);
      if (ok()) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${name} at ${banner.dns}: ${JSON.stringify(answer)}, want ${want || "no address"}`);
  };
  await resolves("www.shop-e2e.test", "192.0.2.77");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export zone file" }).click()]);
  const exported = readFileSync(await download.path(), "utf8");
  if (!/www\s+60\s+IN\s+A\s+192\.0\.2\.77/.test(exported)) throw new Error(`exported zone file lacks www 60 IN A 192.0.2.77:\n${exported}`);
  log("dns: disable a record, release, then revert to release 1 (confirmation first)");
  await page.getByLabel("Enabled: www A").click();
  await page.getByText("Record www A disabled").waitFor();
  await page.getByLabel("Zone file diff").getByText(/disabled: www/).waitFor();
  await page.getByRole("button", { name: /^Release 1 change$/ }).click();
  await page.getByText("Release #2 created").waitFor();
  await resolves("www.shop-e2e.test", "");
  await page.getByRole("button", { name: "Revert to release 1" }).click();
  await page.getByRole("alertdialog", { name: "Revert to release #1?" }).waitFor();
  await page.getByRole("button", { name: "Revert to #1" }).click();
  await page.getByText("Reverted: release #3 restores release #1.").waitFor();
  await resolves("www.shop-e2e.test", "192.0.2.77");
  await page.getByLabel("Enabled: www A").and(page.locator(":checked")).waitFor();
  await axe(page, "zone");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "dns");
  await page.getByRole("link", { name: "all zones" }).click();
  await page.getByRole("cell", { name: "release 3", exact: true }).waitFor();
  await axe(page, "zones");

  log("certificates: upload a self-signed certificate, see it listed with its expiry");
  const certDir = join(tmp, "cert");
  mkdirSync(certDir);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "90",
    "-subj", "/CN=shop.example.com", "-addext", "subjectAltName=DNS:shop.example.com,DNS:www.shop.example.com",
    "-keyout", join(certDir, "key.pem"), "-out", join(certDir, "cert.pem")], { stdio: "ignore" });
  await page.getByRole("link", { name: "Certificates" }).first().click();
  await page.getByRole("heading", { name: "Certificates", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Upload certificate" }).click();
  const upForm = page.getByRole("form", { name: "Upload certificate" });
  await upForm.getByLabel("Certificate name").fill("shop-selfsigned");
  await upForm.getByRole("button", { name: "Upload" }).click();
  await upForm.getByText("a PEM certificate chain, leaf first").waitFor();
  await upForm.getByLabel("Certificate chain (PEM)", { exact: true }).fill(readFileSync(join(certDir, "cert.pem"), "utf8"));
  // A key that is not the certificate's: the API names key_pem.
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", join(certDir, "other.pem")], { stdio: "ignore" });
  await upForm.getByLabel("Private key (PEM): file").setInputFiles(join(certDir, "other.pem"));
  await upForm.getByRole("button", { name: "Upload" }).click();
  await upForm.locator("[aria-invalid=true]").first().waitFor();
  await upForm.getByLabel("Private key (PEM): file").setInputFiles(join(certDir, "key.pem"));
  await upForm.getByLabel("Attach to app").selectOption({ label: "shop" });
  await upForm.getByRole("button", { name: "Upload" }).click();
  await page.getByText("Certificate shop-selfsigned uploaded.").waitFor();
  const certRow = page.getByRole("row").filter({ hasText: "shop-selfsigned" });
  await certRow.getByText(/^(89|90) days left$/).waitFor();
  await certRow.getByText("uploaded").waitFor();
  await certRow.getByRole("link", { name: "shop" }).waitFor();
  await certRow.getByText("CN=shop.example.com").waitFor();
  await axe(page, "certificates");
  await shot(page, "certificates");

  log("command palette (Ctrl+K): a page, then an app by domain");
  await page.keyboard.press("Control+k");
  const input = page.getByRole("combobox", { name: /Go to a page/ });
  await input.fill("dns");
  await page.getByRole("option", { name: /DNS/ }).waitFor();
  await shot(page, "palette");
  await input.press("Enter");
  await page.getByRole("heading", { name: "DNS", level: 1 }).waitFor();
  await page.keyboard.press("Control+k");
  await input.fill("blog.example.org");
  await page.getByRole("option", { name: /blog/ }).waitFor();
  await input.press("Enter");
  await page.getByRole("heading", { name: "blog", level: 1 }).waitFor();

  log("gateways: the dev node in sync on the sync map, a release reaching it, a join token");
  await page.getByRole("link", { name: "Gateways" }).first().click();
  await page.getByRole("heading", { name: "Gateways", level: 1 }).waitFor();
  const devTile = page.locator('[data-node="dev"]');
  await page.locator('[data-node="dev"][data-state="in-sync"]').waitFor({ timeout: 30_000 });
  await page.getByTestId("share-default").filter({ hasText: "1/1 (100%)" }).waitFor();
  await page.getByText("Live (streamed)").waitFor(); // WatchNodes, not ListNodes polling
  const before = await devTile.locator("span").nth(1).textContent();
  cli(api, admin, ["release", "create", "--app", "blog", "--note", "from the gateways e2e"]);
  await page.waitForFunction((v) => {
    const t = document.querySelector('[data-node="dev"]');
    return t && t.getAttribute("data-state") === "in-sync" && t.querySelectorAll("span")[1].textContent !== v;
  }, before, { timeout: 20_000 });
  await page.getByRole("button", { name: "Create join token" }).click();
  const joinToken = (await page.getByTestId("join-token").textContent()).trim();
  const tokenId = joinToken.split(".")[0];
  await page.getByRole("button", { name: `Revoke join token ${tokenId}` }).click();
  await page.getByRole("dialog", { name: `Revoke join token ${tokenId}?` }).getByRole("button", { name: "Revoke token" }).click();
  await page.getByRole("row").filter({ hasText: tokenId }).getByText("revoked").waitFor();
  await page.getByRole("button", { name: "Done" }).click();
  log("gateways: a second cluster with two registered nodes (offline), edited and one node disabled");
  cli(api, admin, ["cluster", "create", "--name", "fra"]);
  cli(api, admin, ["node", "register", "--name", "fra-1", "--cluster", "fra"]);
  cli(api, admin, ["node", "register", "--name", "fra-2", "--cluster", "fra"]);
  await page.locator('[data-node="fra-2"][data-state="offline"]').waitFor();
  await page.getByRole("button", { name: "Edit cluster fra" }).click();
  const edit = page.getByRole("dialog", { name: "Edit cluster fra" });
  await edit.getByLabel("Country (ISO code)").fill("DE");
  await edit.getByLabel("Continent").selectOption("EU");
  await edit.getByRole("checkbox", { name: "default" }).check();
  await edit.getByRole("button", { name: "Save cluster" }).click();
  await page.getByRole("row").filter({ hasText: "DE, EU" }).getByText("default", { exact: true }).first().waitFor();
  await page.getByRole("button", { name: "Disable node fra-2" }).click();
  await page.getByRole("dialog", { name: "Disable node fra-2?" }).getByRole("button", { name: "Disable" }).click();
  await page.locator('[data-node="fra-2"][data-state="disabled"]').waitFor();
  await page.getByTestId("share-fra").filter({ hasText: "0/2 (0%)" }).waitFor();
  await axe(page, "gateways");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "gateways");

  log("cache: validation as you type, a purge acknowledged by the dev node");
  await page.getByRole("link", { name: "Cache" }).first().click();
  await page.getByRole("heading", { name: "Cache", level: 1 }).waitFor();
  const urls = page.getByRole("textbox", { name: "URLs" });
  await urls.fill("ftp://shop.example.com/a");
  await urls.blur();
  await page.getByText('line 1: "ftp://shop.example.com/a": scheme "ftp", want http or https').waitFor();
  await urls.fill("https://shop.example.com/a\nshop.example.com/b");
  const watched = page.waitForRequest((r) => r.url().endsWith("/strata.purge.v1.PurgeService/WatchPurge"));
  await page.getByRole("button", { name: "Purge", exact: true }).click();
  await watched; // the progress is streamed (GetPurge polling only when the stream fails)
  await page.getByTestId("acked").filter({ hasText: "1/1 nodes acknowledged" }).waitFor({ timeout: 20_000 });
  await page.getByRole("row").filter({ hasText: "dev" }).getByText("acknowledged", { exact: true }).waitFor();
  await page.getByText(/complete in/).first().waitFor();
  await axe(page, "cache");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "cache");
  await page.getByRole("tab", { name: "Push" }).click();
  await page.getByRole("form", { name: "Push" }).waitFor();
  await axe(page, "cache push");
  log("new application");
  await page.getByRole("link", { name: "Applications" }).first().click();
  await page.getByRole("button", { name: "New application" }).click();
  const newApp = page.getByRole("form", { name: "New application" });
  await newApp.getByLabel("Name").fill("e2e");
  await newApp.getByLabel("Domains (one per line)").fill("e2e.example.com");
  await newApp.getByRole("button", { name: "Create application" }).click();
  await page.getByRole("heading", { name: "e2e", level: 1 }).waitFor();
  const appURL = page.url();
  const appId = appURL.split("/").pop();

  log("upstream pointing at the test's HTTP server");
  await page.getByRole("button", { name: "Add upstream" }).click();
  const upstreamForm = page.getByRole("form", { name: "New upstream" });
  await upstreamForm.getByLabel("Upstream name").fill("web");
  await upstreamForm.getByLabel("Server 1 address").fill(upstreamAddr);
  await upstreamForm.getByRole("button", { name: "Create upstream" }).click();
  await page.getByRole("article", { name: "Upstream web" }).getByText(upstreamAddr).waitFor();

  log("rule: the condition is checked by the API as it is typed");
  await page.getByRole("button", { name: "Add rule" }).click();
  const ruleForm = page.getByRole("form", { name: "New rule" });
  await ruleForm.getByLabel("Rule name").fill("all");
  const cond = ruleForm.getByLabel("Condition");
  await cond.fill('PathPrefix("/"');
  await ruleForm.locator('[data-field="rule.when"]').waitFor();
  if ((await cond.getAttribute("aria-invalid")) !== "true") throw new Error("condition with a syntax error not marked invalid");
  await axe(page, "app editing");
  await page.getByRole("heading", { name: "Rules" }).evaluate((el) => el.scrollIntoView({ block: "start" }));
  await shot(page, "app-edit");
  await cond.fill('PathPrefix("/")');
  await ruleForm.getByText("The API accepts this rule.").waitFor();
  await ruleForm.getByRole("button", { name: "Create rule" }).click();
  await page.getByRole("listitem", { name: "Rule 1: all" }).waitFor();
  await axe(page, "app with editing tools");

  log("pending changes as a diff, release");
  await page.getByRole("link", { name: "Review and release" }).click();
  await page.getByRole("heading", { name: "Releases of e2e", level: 1 }).waitFor();
  const diff = page.getByRole("table", { name: /Pending changes: \d+ changed lines/ });
  await diff.getByText(upstreamAddr, { exact: false }).first().waitFor();
  await page.getByText(/upstream web created/).waitFor();
  await axe(page, "releases");
  await page.getByLabel("Release note").fill("first release from the console");
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await page.getByText("No unreleased changes").waitFor();
  await page.getByRole("cell", { name: "first release from the console" }).waitFor();

  log("the dev node picks the release up");
  await until("the node answers with the upstream", async () => (await get(nodeHTTP, "e2e.example.com")).body === "hello from the e2e upstream");

  log("edit the rule to answer 503 itself, release: the node no longer proxies");
  await page.getByRole("link", { name: "e2e", exact: true }).click();
  await page.getByRole("heading", { name: "e2e", level: 1 }).waitFor();
  await page.getByRole("button", { name: "Edit rule all" }).click();
  const editRule = page.getByRole("form", { name: "Edit rule all" });
  await editRule.getByLabel("Action 1 type").selectOption("respond");
  await editRule.getByLabel("Status").fill("503");
  await editRule.getByLabel("Body").fill("maintenance");
  await editRule.getByText("The API accepts this rule.").waitFor();
  await editRule.getByRole("button", { name: "Save rule" }).click();
  await page.getByText("respond 503").waitFor();
  await page.getByRole("link", { name: "Review and release" }).click();
  await page.getByText(/rule all updated/).waitFor();
  await page.getByRole("table", { name: /Pending changes: \d+ changed lines/ }).locator('tr[data-kind="changed"]').first().waitFor();
  await shot(page, "releases");
  await page.getByLabel("Release note").fill("maintenance");
  await page.getByRole("button", { name: "Release", exact: true }).click();
  await page.getByText("No unreleased changes").waitFor();
  await until("the node answers 503 itself", async () => {
    const r = await get(nodeHTTP, "e2e.example.com");
    lastAnswer = `${r.status} ${r.body.slice(0, 200)}`;
    return r.status === 503 && r.body === "maintenance";
  });

  log("revert to the first release, confirming the diff");
  await page.getByRole("button", { name: "Revert to release 1" }).click();
  const dialog = page.getByRole("dialog", { name: "Revert the app to release #1" });
  await dialog.getByRole("table", { name: /What will change/ }).getByText(/PathPrefix/).first().waitFor();
  await axe(page, "revert confirmation");
  await dialog.getByLabel("Note").fill("back to the first");
  await dialog.getByRole("button", { name: "Revert to release #1" }).click();
  await page.getByRole("cell", { name: "revert to #1" }).waitFor();
  await until("the node proxies again after the revert", async () => (await get(nodeHTTP, "e2e.example.com")).body === "hello from the e2e upstream");

  log("a viewer cannot edit");
  const viewerCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  viewerCtx.setDefaultTimeout(timeout);
  const vp = await viewerCtx.newPage();
  vp.on("pageerror", (e) => problems.push(`page error (viewer): ${e.message}`));
  await vp.goto(base + "/login");
  await vp.getByRole("radio", { name: "User and password" }).check();
  await vp.getByLabel("User name").fill("viewer");
  await vp.getByLabel("Password", { exact: true }).fill("staple-horse-battery");
  await vp.getByRole("button", { name: "Sign in" }).click();
  await vp.getByRole("heading", { name: "Applications", level: 1 }).waitFor();
  if (!(await vp.getByRole("button", { name: "New application" }).isDisabled())) throw new Error("viewer: New application is enabled");
  await vp.goto(`${base}/apps/${appId}`);
  await vp.getByRole("heading", { name: "e2e", level: 1 }).waitFor();
  await vp.getByText("Your role is read-only").waitFor();
  for (const name of ["Edit settings", "Add upstream", "Add rule", "Edit rule all", "Move rule all down"]) {
    const b = vp.getByRole("button", { name, exact: true });
    if ((await b.count()) && !(await b.first().isDisabled())) throw new Error(`viewer: ${name} is enabled`);
  }
  await vp.goto(`${base}/releases?app=${appId}`);
  await vp.getByRole("heading", { name: "Releases of e2e", level: 1 }).waitFor();
  if (!(await vp.getByRole("button", { name: "Revert to release 1" }).isDisabled())) throw new Error("viewer: revert is enabled");
  // And the API refuses the viewer's writes: the Forbidden answer.
  const status = await vp.evaluate(async (id) => {
    const r = await fetch("/strata.config.v1.ConfigService/DeleteApp", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ appId: id }) });
    return (await r.json()).code;
  }, appId);
  if (status !== "permission_denied") throw new Error(`viewer DeleteApp answered ${status}, want permission_denied`);
  await viewerCtx.close();

  {
    log("metrics dashboard: requests through the dev node are counted");
    const origin = createServer((req, res) => res.end("ok"));
    await new Promise((r) => origin.listen(0, "127.0.0.1", r));
    const apiApp = cli(api, admin, ["app", "create", "--name", "api", "--domain", "api.example.test"]);
    cli(api, admin, ["upstream", "create", "--app", apiApp, "--name", "origin", "--server", `127.0.0.1:${origin.address().port}`]);
    cli(api, admin, ["rule", "create", "--app", apiApp, "--upstream", "origin", "--when", 'PathPrefix("/")']);
    cli(api, admin, ["release", "create", "--app", apiApp, "--note", "metrics e2e"]);
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await getStatus(banner.http, "api.example.test", "/hello");
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    if (status !== 200) throw new Error(`the dev node never answered 200 for api.example.test (last ${status})`);
    await page.goto(`${base}/dashboard?app=${apiApp}&range=5m`);
    await page.getByRole("heading", { name: "Metrics", level: 1 }).waitFor();
    // Tail streams seconds as they are ingested: keep sending until the live
    // count (requests in the last minute) shows them.
    const live = () => page.getByTestId("live-requests").textContent().then(Number);
    let counted = 0;
    for (let i = 0; i < 100 && counted < 5; i++) {
      await getStatus(banner.http, "api.example.test", "/hello");
      await new Promise((r) => setTimeout(r, 300));
      counted = await live();
    }
    if (counted < 5) throw new Error(`the dashboard counted ${counted} live requests, want at least 5`);
    await page.getByRole("table", { name: "Top path" }).getByText("/hello").waitFor({ timeout: 30_000 });
    await axe(page, "metrics");
    await shot(page, "metrics");
    origin.close();

    log("IAM: create a user with the viewer role");
    await page.goto(`${base}/iam`);
    await page.getByRole("heading", { name: "IAM", level: 1 }).waitFor();
    await page.getByLabel("User name").fill("vera");
    await page.getByLabel("Display name").fill("Vera Viewer");
    await page.getByLabel("Initial password").fill("staple-battery-42");
    await page.getByLabel("Role over everything (optional)").selectOption("viewer");
    await page.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("table", { name: "Users" }).getByText("Vera Viewer").waitFor();
    await axe(page, "iam");
    await shot(page, "iam");
    await page.getByRole("tab", { name: "Grants" }).click();
    await page.getByRole("table", { name: "Grants" }).getByRole("row").filter({ hasText: "vera" }).getByText("viewer", { exact: true }).waitFor();
    await page.getByRole("tab", { name: "Roles" }).click();
    await page.getByRole("table", { name: "Roles" }).getByText("viewer", { exact: true }).waitFor();
    await page.getByRole("tab", { name: "Users" }).click();
    await page.getByLabel("User name").fill("ci-bot");
    await page.getByLabel("Service account (tokens only)").check();
    await page.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("table", { name: "Users" }).getByText("ci-bot").waitFor();
    await page.getByRole("tab", { name: "API tokens" }).click();
    await page.getByLabel("Description").fill("e2e token");
    await page.getByLabel("Service account (empty: yourself)").fill("ci-bot");
    await page.getByRole("button", { name: "Create token" }).click();
    const secret = await page.getByLabel("Token secret").inputValue();
    if (!secret) throw new Error("the new token's secret is not shown");
    await page.getByRole("button", { name: "Done" }).click();
    if (await page.getByLabel("Token secret").count()) throw new Error("the token secret is still shown after Done");

    log("audit: the user's creation, found by actor");
    await page.goto(`${base}/audit`);
    await page.getByRole("heading", { name: "Audit", level: 1 }).waitFor();
    await page.getByLabel("Actor").fill("admin");
    await page.getByLabel("Object").fill("iam.user.vera");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.waitForURL(/actor=admin/);
    const row = page.getByRole("table").getByRole("row").filter({ hasText: "iam.user.vera" }).first();
    await row.waitFor();
    await row.getByRole("button", { name: /detail of/ }).click();
    await page.getByLabel("Event data").getByText("Vera Viewer").waitFor();
    if (/staple-battery-42/.test(await page.getByLabel("Event data").textContent())) throw new Error("the audit detail shows the password");
    await axe(page, "audit");
    await shot(page, "audit");
    await page.getByLabel("Actor").fill("nobody-at-all");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByText("No event matches.").waitFor();
  }

  log("session expiry: a revoked token sends to the login page with a message");
  await page.evaluate(() => sessionStorage.setItem("strata.token", "stk_revoked"));
  await page.getByRole("link", { name: "Applications" }).first().click();
  await page.getByRole("heading", { name: "Sign in to Strata" }).waitFor({ timeout: 20_000 });
  await page.getByText("Your session has expired or was revoked").waitFor();

  log("password login of a user whose role forbids listing apps");
  await page.getByRole("radio", { name: "User and password" }).check();
  await page.getByLabel("User name").fill("nogrants");
  await page.getByLabel("Password", { exact: true }).fill("wrong-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Wrong user name or password.").waitFor();
  await page.getByLabel("Password", { exact: true }).fill("correct-horse-battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Forbidden" }).waitFor();
  await page.getByText("config.app.read").waitFor();
  await axe(page, "forbidden");
  await shot(page, "forbidden");
  const cookies = await context.cookies();
  if (!cookies.some((c) => c.name === "strata_session" && c.httpOnly)) throw new Error(`no HttpOnly session cookie: ${JSON.stringify(cookies)}`);

  log("sign out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are signed out.").waitFor();
  await page.goto(base + "/apps");
  await page.waitForURL(/\/login$/);

  if (problems.length) throw new Error(`browser problems:\n${problems.join("\n")}`);
  log("ok");
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`ui-e2e: FAIL at "${step}": ${err.stack ?? err}`);
  const alerts = await current?.getByRole("alert").allTextContents().catch(() => []);
  if (alerts?.length) console.error(`ui-e2e: alerts on the page: ${alerts.join(" | ")}`);
  code = 1;
} finally {
  await browser?.close().catch(() => {});
  upstream?.close();
  if (dev && dev.exitCode === null) {
    dev.kill("SIGINT");
    await new Promise((r) => {
      const t = setTimeout(() => {
        dev.kill("SIGKILL");
        r();
      }, 10_000);
      dev.on("exit", () => {
        clearTimeout(t);
        r();
      });
    });
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);
