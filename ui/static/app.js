// otpatch web UI: sign-in, navigation and hash routes. Each page is a module under pages/
// exporting render(view, params, query), which may return a function that stops its polling.
import { session, api, can, h, announce, loadRoutes, setUnauthorizedHandler } from "./lib.js";
import * as dashboard from "./pages/dashboard.js";
import * as patches from "./pages/patches.js";
import * as advisories from "./pages/advisories.js";
import * as inventory from "./pages/inventory.js";
import * as windows from "./pages/windows.js";
import * as campaigns from "./pages/campaigns.js";
import * as audit from "./pages/audit.js";

const $ = (id) => document.getElementById(id);
const signinForm = $("signin");

// Pages: hash pattern, module function, who sees it in the navigation.
const pages = [
  { pattern: /^\/$/, page: dashboard.render, nav: "Dashboard", href: "#/", group: "staff" },
  { pattern: /^\/campaigns$/, page: campaigns.renderList, nav: "Campaigns", href: "#/campaigns", group: "staff" },
  { pattern: /^\/campaigns\/new$/, page: campaigns.renderNew, group: "engineers" },
  { pattern: /^\/campaigns\/([\w-]+)$/, page: campaigns.renderCampaign, group: "staff" },
  { pattern: /^\/patches$/, page: patches.renderList, nav: "Patches", href: "#/patches", group: "any" },
  { pattern: /^\/patches\/new$/, page: patches.renderSubmit, group: "vendors" },
  { pattern: /^\/patches\/([\w-]+)$/, page: patches.renderPatch, group: "any" },
  { pattern: /^\/advisories$/, page: advisories.renderList, nav: "Advisories", href: "#/advisories", group: "staff" },
  { pattern: /^\/advisories\/([\w-]+)$/, page: advisories.renderAdvisory, group: "staff" },
  { pattern: /^\/inventory$/, page: inventory.render, nav: "Inventory", href: "#/inventory", group: "staff" },
  { pattern: /^\/windows$/, page: windows.render, nav: "Windows", href: "#/windows", group: "staff" },
  { pattern: /^\/audit$/, page: audit.render, nav: "Audit", href: "#/audit", group: "auditors" },
];

function allowed(group) { return group === "any" || can(group); }

let stop = null;
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, q] = raw.split("?");
  return { path, query: new URLSearchParams(q || "") };
}

async function route() {
  if (!session.actor) return;
  if (stop) { try { stop(); } catch { /* the page is gone */ } stop = null; }
  let { path, query } = parseHash();
  if (path === "/" && session.actor.role === "vendor") path = "/patches";
  // Each route renders into its own container: a page still loading when the next route
  // starts goes on filling a container that is no longer shown, and its polling is stopped.
  const my = ++generation;
  const view = h("div", { class: "page" });
  $("view").replaceChildren(view);
  announce("");
  for (const item of document.querySelectorAll("#nav-list a")) {
    const current = item.getAttribute("href") === "#" + path || (path.startsWith(item.dataset.prefix + "/") && item.dataset.prefix !== "");
    if (current) item.setAttribute("aria-current", "page"); else item.removeAttribute("aria-current");
  }
  for (const p of pages) {
    const m = path.match(p.pattern);
    if (!m) continue;
    if (!allowed(p.group)) {
      view.append(h("h1", { tabindex: "-1" }, "Not available"), h("p", {}, "Your role (" + session.actor.role + ") cannot open this page."));
      focusHeading(view);
      return;
    }
    try {
      const r = await p.page(view, m.slice(1), query);
      if (typeof r === "function") {
        if (my === generation) stop = r; else r();
      }
    } catch (err) {
      view.append(h("p", { class: "error", role: "alert" }, "✗ " + err.message));
    }
    if (my === generation) focusHeading(view);
    return;
  }
  view.append(h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, "Nothing lives at " + path + ". Use the navigation above."));
  focusHeading(view);
}

// Moving focus to the page's heading tells keyboard and screen-reader users the page changed.
function focusHeading(view) {
  const h1 = view.querySelector("h1");
  if (h1) { h1.setAttribute("tabindex", "-1"); h1.focus({ preventScroll: true }); }
  document.title = (h1 ? h1.textContent + " — " : "") + "otpatch";
}

function buildNav() {
  const list = $("nav-list");
  list.replaceChildren();
  for (const p of pages) {
    if (!p.nav || !allowed(p.group)) continue;
    if (p.href === "#/" && session.actor.role === "vendor") continue;
    list.append(h("li", {}, h("a", { href: p.href, dataset: { prefix: p.href.slice(1) === "/" ? "" : p.href.slice(1) } }, p.nav)));
  }
}

function showSignedIn() {
  const a = session.actor;
  $("whoami-text").textContent = "Signed in as " + a.name + " (" + a.role + (a.vendor_id ? ", " + a.vendor_id : "") + ")";
  $("whoami").hidden = false;
  $("nav").hidden = false;
  buildNav();
  route();
}

function showSignIn(message) {
  generation++;
  if (stop) { stop(); stop = null; }
  session.actor = null;
  session.csrf = "";
  $("whoami").hidden = true;
  $("nav").hidden = true;
  const view = $("view");
  view.replaceChildren(signinForm);
  $("signin-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

setUnauthorizedHandler(() => { if (session.actor) showSignIn("Your session ended; sign in again."); });

signinForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("signin-error").textContent = "";
  try {
    const doc = await api("/api/v1/session", { method: "POST", body: { token: $("token").value.trim() } });
    session.actor = doc.actor;
    session.csrf = doc.csrf_token;
    $("token").value = "";
    await loadRoutes();
    showSignedIn();
  } catch (err) {
    $("signin-error").textContent = "✗ " + err.message;
  }
});

$("signout").addEventListener("click", async () => {
  try { await api("/api/v1/session", { method: "DELETE" }); } catch { /* ended already */ }
  location.hash = "#/";
  showSignIn("You signed out.");
});

window.addEventListener("hashchange", route);

// A reload keeps the session: the cookie is still there, and GET /api/v1/session returns the
// actor and the CSRF token.
(async () => {
  try {
    const doc = await api("/api/v1/session");
    if (!doc.signed_in) { showSignIn(""); return; }
    session.actor = doc.actor;
    session.csrf = doc.csrf_token || "";
    await loadRoutes();
    showSignedIn();
  } catch {
    showSignIn("");
  }
})();
