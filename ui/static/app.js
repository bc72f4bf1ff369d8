// otpatch web UI: sign-in, the header (who is signed in, the role he acts in), navigation and
// hash routes. Each page is a module under pages/ exporting render(view, params, query), which
// may return a function that stops its polling.
import { session, api, can, h, fill, announce, loadRoutes, setUnauthorizedHandler, setPasswordChangeHandler, setSignedOutHandler } from "./lib.js";
import * as dashboard from "./pages/dashboard.js";
import * as patches from "./pages/patches.js";
import * as advisories from "./pages/advisories.js";
import * as feeds from "./pages/feeds.js";
import * as drills from "./pages/drills.js";
import * as inventory from "./pages/inventory.js";
import * as sites from "./pages/sites.js";
import * as windows from "./pages/windows.js";
import * as campaigns from "./pages/campaigns.js";
import * as compliance from "./pages/compliance.js";
import * as program from "./pages/program.js";
import * as priorities from "./pages/priorities.js";
import * as qualification from "./pages/qualification.js";
import * as audit from "./pages/audit.js";
import * as people from "./pages/people.js";
import * as vendors from "./pages/vendors.js";
import * as account from "./pages/account.js";
import * as signin from "./pages/signin.js";
import * as endpoints from "./pages/endpoints.js";
import * as logs from "./pages/logs.js";
import * as notifications from "./pages/notifications.js";

const $ = (id) => document.getElementById(id);

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
  { pattern: /^\/priorities$/, page: priorities.render, nav: "Priorities", href: "#/priorities", group: "staff" },
  { pattern: /^\/feeds$/, page: feeds.renderList, nav: "Feeds", href: "#/feeds", group: "staff" },
  { pattern: /^\/feeds\/([\w-]+)$/, page: feeds.renderFeed, group: "staff" },
  { pattern: /^\/inventory$/, page: inventory.render, nav: "Inventory", href: "#/inventory", group: "staff" },
  { pattern: /^\/sites\/([\w-]+)$/, page: sites.renderSite, group: "staff" },
  { pattern: /^\/endpoints$/, page: endpoints.render, nav: "Endpoints", href: "#/endpoints", group: "staff" },
  { pattern: /^\/logs$/, page: logs.render, nav: "Logs", href: "#/logs", group: "staff" },
  { pattern: /^\/windows$/, page: windows.render, nav: "Windows", href: "#/windows", group: "staff" },
  { pattern: /^\/drills$/, page: drills.renderList, nav: "Drills", href: "#/drills", group: "staff" },
  { pattern: /^\/drills\/([\w-]+)$/, page: drills.renderDrill, group: "staff" },
  { pattern: /^\/compliance$/, page: compliance.render, nav: "Compliance", href: "#/compliance", group: "staff" },
  { pattern: /^\/program$/, page: program.render, nav: "Program report", href: "#/program", group: "staff" },
  { pattern: /^\/qualifications$/, page: qualification.render, nav: "Qualification", href: "#/qualifications", group: "staff" },
  { pattern: /^\/audit$/, page: audit.render, nav: "Audit", href: "#/audit", group: "auditors" },
  { pattern: /^\/vendors$/, page: vendors.renderList, nav: "Vendors", href: "#/vendors", group: "any" },
  { pattern: /^\/vendors\/([\w-]+)$/, page: vendors.renderVendor, group: "any" },
  { pattern: /^\/people$/, page: people.render, nav: "People", href: "#/people", group: "admins" },
  { pattern: /^\/notifications$/, page: notifications.render, nav: "Notifications", href: "#/notifications", group: "staff" },
  { pattern: /^\/account$/, page: account.render, nav: "Account", href: "#/account", group: "any" },
  { pattern: /^\/account\/password$/, page: account.renderPasswordChange, group: "any" },
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
  if (!session.actor || session.passwordChange) return;
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

// applySession keeps what the server says of the session (POST, GET or PUT /api/v1/session).
function applySession(doc) {
  session.actor = doc.actor;
  session.csrf = doc.csrf_token || "";
  session.roles = doc.roles && doc.roles.length ? doc.roles : [doc.actor.role];
  session.via = doc.via || "";
  session.expiresAt = doc.expires_at || null;
  session.passwordChange = !!doc.password_change_required;
  if (doc.sign_in) session.signIn = doc.sign_in;
}

// enter shows the signed-in UI for a session: the password change first when the server asks
// for it, since until then it refuses everything else.
async function enter(doc) {
  applySession(doc);
  if (session.passwordChange) { showPasswordChange(); return; }
  await loadRoutes();
  showSignedIn();
}

// drawHeader shows who is signed in, the role he acts in (a selector when he holds several and
// may switch) and the sign-out button. Signed out, the header holds none of it.
function drawHeader(canSwitch) {
  const a = session.actor;
  const who = h("span", { id: "whoami-text" }, "Signed in as ", h("strong", {}, a.name), a.vendor_id ? " (" + a.vendor_id + ")" : "");
  let role;
  if (canSwitch && session.roles.length > 1) {
    const select = h("select", { id: "role-switch" }, session.roles.map((r) => h("option", { value: r, selected: r === a.role }, r)));
    select.addEventListener("change", () => switchRole(select));
    role = h("span", { class: "role-switch" }, h("label", { for: "role-switch" }, "acting as"), select);
  } else {
    role = h("span", { id: "whoami-role" }, "acting as " + a.role);
  }
  fill($("whoami"), who, role, h("button", { type: "button", id: "signout", onclick: signOut }, "Sign out"));
  $("whoami").hidden = false;
}

function showSignedIn() {
  drawHeader(true);
  $("nav").hidden = false;
  buildNav();
  route();
}

// switchRole makes the session act in another role the person holds; the page is drawn again
// for that role, or the dashboard when the role cannot open it.
async function switchRole(select) {
  const role = select.value;
  select.disabled = true;
  try {
    const doc = await api("/api/v1/session", { method: "PUT", body: { role } });
    applySession(doc);
    drawHeader(true);
    buildNav();
    $("role-switch").focus();
    const said = () => announce("You act as " + session.actor.role + " now.", "ok");
    const { path } = parseHash();
    const p = pages.find((x) => x.pattern.test(path));
    if (p && !allowed(p.group)) {
      window.addEventListener("hashchange", said, { once: true }); // after route() cleared the status line
      location.hash = "#/";
    } else {
      route();
      said();
    }
  } catch (err) {
    select.value = session.actor.role;
    select.disabled = false;
    announce("✗ The role was not switched: " + err.message, "error");
  }
}

// showPasswordChange is the only page while the password must be changed: no navigation, no
// role switch, only sign-out.
function showPasswordChange() {
  generation++;
  if (stop) { stop(); stop = null; }
  session.passwordChange = true;
  announce("");
  drawHeader(false);
  $("nav").hidden = true;
  const view = h("div", { class: "page" });
  $("view").replaceChildren(view);
  account.renderPasswordChange(view, [], new URLSearchParams(), {
    forced: true,
    done: async () => {
      const doc = await api("/api/v1/session");
      if (!doc.signed_in) { showSignIn({ message: "Your password was changed; sign in again." }); return; }
      await enter(doc);
      announce("Your password was changed.", "ok");
    },
  });
  document.title = "Change your password — otpatch";
}

// showSignIn shows the sign-in page; message says why (signed out, the session ended), error
// what went wrong (a single sign-on that failed).
function showSignIn({ message = "", error = "" } = {}) {
  generation++;
  if (stop) { stop(); stop = null; }
  Object.assign(session, { actor: null, csrf: "", roles: [], via: "", expiresAt: null, passwordChange: false });
  announce("");
  fill($("whoami"));
  $("whoami").hidden = true;
  $("nav").hidden = true;
  fill($("nav-list"));
  const view = h("div", { class: "page" });
  $("view").replaceChildren(view);
  signin.render(view, { methods: session.signIn, message, error, onSignedIn: enter });
  document.title = "Sign in — otpatch";
}

async function signOut() {
  try { await api("/api/v1/session", { method: "DELETE" }); } catch { /* ended already */ }
  history.replaceState(null, "", location.pathname);
  showSignIn({ message: "You signed out." });
}

// A 401 on an ordinary request means the session ended, unless the server still knows it (a
// wrong current password on the password change is a 401 too): then the page says why itself.
setUnauthorizedHandler(async () => {
  if (!session.actor) return;
  let doc = null;
  try { doc = await api("/api/v1/session"); } catch { /* the server is unreachable: treat as ended */ }
  if (doc && doc.signed_in) return;
  if (session.actor) showSignIn({ message: "Your session ended; sign in again." });
});
setPasswordChangeHandler(() => { if (session.actor && !session.passwordChange) showPasswordChange(); });
setSignedOutHandler((message) => showSignIn({ message }));

window.addEventListener("hashchange", route);

// A reload keeps the session: the cookie is still there, and GET /api/v1/session returns the
// actor and the CSRF token, and the sign-in methods when there is no session. A single sign-on
// that failed comes back as ?sign_in_error=…, shown once on the sign-in page.
(async () => {
  const q = new URLSearchParams(location.search);
  const error = q.get("sign_in_error") || "";
  if (q.has("sign_in_error")) history.replaceState(null, "", location.pathname + location.hash);
  try {
    const doc = await api("/api/v1/session");
    if (doc.sign_in) session.signIn = doc.sign_in;
    if (!doc.signed_in) { showSignIn({ error }); return; }
    await enter(doc);
  } catch (err) {
    showSignIn({ error: error || "The server did not answer: " + err.message });
  }
})();
