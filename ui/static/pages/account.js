// Account: who I am and the roles I hold, my password (its age, a change), my second factor
// (TOTP, set up from the secret and its otpauth URI shown as text), my open sessions (end one,
// sign out everywhere) and my personal API tokens (create, shown once; revoke).
import { session, api, apiAll, h, fill, field, table, utc, daysAgo, errorBox, announce, wordBadge, secretOnce, confirmDialog, signedOut, link } from "../lib.js";

export async function render(view) {
  view.append(h("h1", {}, "Your account"));
  const me = await api("/api/v1/me");
  const local = me.sign_in === "password";
  view.append(aboutMe(me));
  const grid = h("div", { class: "grid" });
  view.append(grid);
  if (local) {
    grid.append(passwordSection(me));
    const totp = h("section", { class: "card", id: "account-totp", "aria-labelledby": "totp-title" });
    grid.append(totp);
    drawTOTP(totp, me.totp);
  } else {
    grid.append(h("section", { class: "card", id: "account-password", "aria-labelledby": "password-title" },
      h("h2", { id: "password-title" }, "Password and second factor"),
      h("p", {}, "You sign in at the single sign-on provider; your password and second factor are kept there.")));
  }
  const sessions = h("section", { id: "account-sessions", "aria-labelledby": "sessions-title" });
  const tokens = h("section", { id: "account-tokens", "aria-labelledby": "tokens-title" });
  view.append(sessions, tokens);
  await Promise.all([drawSessions(sessions), drawTokens(tokens)]);
}

const signInWords = { password: "username and password (a local account)", oidc: "single sign-on", token: "a personal API token" };
const methodWords = { password: "password", oidc: "single sign-on", token: "API token" };

function aboutMe(me) {
  const fact = (dt, dd, id) => [h("dt", {}, dt), h("dd", { id }, dd)];
  return h("section", { class: "card", id: "account-facts", "aria-labelledby": "me-title" },
    h("h2", { id: "me-title" }, me.display_name ? me.display_name + " (" + me.name + ")" : me.name),
    h("dl", { class: "facts" },
      fact("Acting as", me.role, "account-role"),
      fact("Roles you hold", (me.roles || []).join(", ") || "none", "account-roles"),
      me.vendor_id ? fact("Vendor", me.vendor_id) : null,
      fact("You sign in with", signInWords[me.sign_in] || me.sign_in || "—"),
      fact("This session", ["opened with ", methodWords[session.via] || session.via || "—", session.expiresAt ? ", ends at the latest " + utc(session.expiresAt) : ""])),
    (me.roles || []).length > 1 ? h("p", { class: "hint" }, "Switch the role you act in with the selector at the top of the page.") : null);
}

function passwordSection(me) {
  let expiry = "It does not expire.";
  if (me.password_expires_at) {
    const left = Math.ceil((new Date(me.password_expires_at) - Date.now()) / 86400000);
    expiry = "It must be changed by " + utc(me.password_expires_at) + (left > 0 ? " (in " + left + (left === 1 ? " day)." : " days).") : ".");
  }
  return h("section", { class: "card", id: "account-password", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Password"),
    h("p", { id: "password-age" }, me.password_set_at ? "Set " + utc(me.password_set_at) + " (" + daysAgo(me.password_set_at) + "). " : "", expiry),
    h("p", {}, link("#/account/password", "Change your password", { class: "button", id: "change-password-link" })));
}

// drawTOTP shows whether the second factor is on, and the steps to switch it on or off.
function drawTOTP(section, on) {
  const result = h("div", { id: "totp-result", "aria-live": "polite" });
  const title = h("h2", { id: "totp-title" }, "Second factor");
  if (on) {
    const code = h("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "8", required: true });
    const form = h("form", { id: "totp-disable-form" },
      field("totp-off-code", "Current code, to switch it off", code),
      h("button", { type: "submit", id: "totp-disable", class: "danger" }, "Switch the second factor off"));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("/api/v1/me/totp/disable", { method: "POST", body: { code: code.value.trim() } });
        announce("The second factor is off.", "ok");
        drawTOTP(section, false);
      } catch (err) { fill(result, errorBox(err, { code: "Code" })); }
    });
    fill(section, title, h("p", { id: "totp-state" }, wordBadge("ok", "on"), " Signing in with your password also asks for the code of your authenticator app."), form, result);
    return;
  }
  const start = h("button", { type: "button", id: "totp-start" }, "Set up a second factor");
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const k = await api("/api/v1/me/totp", { method: "POST" });
      const code = h("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "8", required: true });
      const confirm = h("form", { id: "totp-confirm-form" },
        h("p", {}, "2. Enter the code the app shows now, to switch the second factor on."),
        field("totp-code", "Code", code),
        h("button", { type: "submit", id: "totp-confirm" }, "Switch the second factor on"));
      confirm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await api("/api/v1/me/totp/confirm", { method: "POST", body: { code: code.value.trim() } });
          announce("The second factor is on: the next sign-in asks for a code.", "ok");
          drawTOTP(section, true);
        } catch (err) { fill(result, errorBox(err, { code: "Code" })); }
      });
      start.remove();
      section.insertBefore(h("div", { id: "totp-setup" },
        h("p", {}, "1. Add otpatch to your authenticator app: type in the secret, or give the app the otpauth URI. Keep them to yourself; they are not shown again once this page is left."),
        secretOnce("totp-secret", "Secret (base32)", k.secret),
        secretOnce("totp-uri", "otpauth URI", k.otpauth_uri),
        confirm), result);
      code.focus();
    } catch (err) {
      start.disabled = false;
      fill(result, errorBox(err));
    }
  });
  fill(section, title, h("p", { id: "totp-state" }, wordBadge("wait", "off"), " Signing in needs only your password."), start, result);
}

function shortAgent(ua) { return ua && ua.length > 60 ? ua.slice(0, 60) + "…" : ua || "—"; }

// drawSessions lists my open sessions: end one (not this one: sign out for that), or all.
async function drawSessions(section) {
  const result = h("div", { id: "sessions-result", "aria-live": "polite" });
  // The API lists them oldest first; the newest is of most interest here.
  const list = (await apiAll("/api/v1/sessions")).reverse();
  const everywhere = h("button", { type: "button", id: "signout-everywhere", class: "danger" }, "Sign out everywhere");
  everywhere.addEventListener("click", async () => {
    if (!await confirmDialog("Sign out everywhere?", "Every session of yours ends, this one included: other browsers must sign in again. Your API tokens stay valid; revoke them below.", "Sign out everywhere", { danger: true })) return;
    try {
      const r = await api("/api/v1/sessions", { method: "DELETE" });
      const n = (r && r.sessions_ended) || 0;
      history.replaceState(null, "", location.pathname);
      signedOut("You signed out everywhere: " + n + (n === 1 ? " session" : " sessions") + " ended.");
    } catch (err) { fill(result, errorBox(err)); }
  });
  fill(section, h("h2", { id: "sessions-title" }, "Your sessions"),
    h("p", {}, "Where you are signed in now. End a session you do not recognise, and change your password."),
    table("Your open sessions", ["Opened", "With", "From", "Browser", "Last seen", "Ends", ""], list.map((x) =>
      h("tr", { class: x.current ? "current" : null, dataset: { session: x.id } },
        h("td", {}, utc(x.created_at)), h("td", {}, methodWords[x.method] || x.method), h("td", {}, x.remote || "—"),
        h("td", { title: x.user_agent || "" }, shortAgent(x.user_agent)), h("td", {}, utc(x.last_seen_at)), h("td", {}, utc(x.expires_at)),
        h("td", {}, x.current ? h("strong", {}, "This session") : h("button", { type: "button", class: "end-session", "aria-label": "End the session opened " + utc(x.created_at) + " from " + (x.remote || "unknown"),
          onclick: async () => {
            try {
              await api("/api/v1/sessions/" + encodeURIComponent(x.id), { method: "DELETE" });
              announce("The session opened " + utc(x.created_at) + " has ended.", "ok");
              await drawSessions(section);
            } catch (err) { fill(result, errorBox(err)); }
          } }, "End")))), { id: "session-list", empty: "No open session." }),
    h("div", { class: "buttons" }, everywhere), result);
}

const tokenTone = { active: "ok", expired: "wait", revoked: "bad" };
const lifetimes = [["", "The server's default"], ["P7D", "7 days"], ["P30D", "30 days"], ["P90D", "90 days"], ["P365D", "1 year"]];

// drawTokens lists my personal API tokens and creates new ones; a new token's secret is shown
// once. An admin's GET /api/v1/tokens lists everyone's: the account page asks for his own.
async function drawTokens(section, fresh) {
  const result = h("div", { id: "tokens-result", "aria-live": "polite" });
  const own = session.actor.user_id ? "?user_id=" + encodeURIComponent(session.actor.user_id) : "";
  const all = await apiAll("/api/v1/tokens" + own);
  const mine = all.filter((t) => t.user_id === session.actor.user_id)
    .sort((a, b) => (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1) || String(b.created_at).localeCompare(String(a.created_at)));
  const name = h("input", { type: "text", required: true, maxlength: "128", autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9._+\\-]+" });
  const role = h("select", {}, session.roles.map((r) => h("option", { value: r, selected: r === session.actor.role }, r)));
  const expiry = h("select", {}, lifetimes.map(([v, label]) => h("option", { value: v }, label)));
  const create = h("button", { type: "submit", id: "create-token" }, "Create token");
  const form = h("form", { id: "new-token-form", class: "card" },
    h("h3", {}, "New token"),
    h("div", { class: "inline" },
      field("new-token-name", "Name", name, "Letters, digits, . _ + -; e.g. the script that uses it."),
      field("new-token-role", "Acts as", role),
      field("new-token-expiry", "Lasts", expiry)),
    create);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (expiry.value) body.expires_in = expiry.value;
    create.disabled = true;
    try {
      const t = await api("/api/v1/tokens", { method: "POST", body });
      announce("Token " + t.name + " created; copy it now.", "ok");
      await drawTokens(section, secretOnce("new-token", "Token “" + t.name + "” (" + t.role + ", until " + utc(t.expires_at) + ")", t.token,
        "Copy it now: it is shown only this once and otpatch keeps only its hash. Use it as “Authorization: Bearer …”."));
      section.querySelector("#new-token").focus();
    } catch (err) {
      create.disabled = false;
      fill(result, errorBox(err, { name: "Name", role: "Acts as", expires_in: "Lasts" }));
    }
  });
  fill(section, h("h2", { id: "tokens-title" }, "Your API tokens"),
    h("p", {}, "For scripts and the command line. A token acts as you in one role you hold, until it expires or is revoked; revoking it also ends the sessions opened with it."),
    fresh || null,
    table("Your API tokens", ["Name", "Acts as", "Created", "Expires", "Last used", "State", ""], mine.map((t) =>
      h("tr", { dataset: { token: t.name, state: t.state } },
        h("td", {}, t.name), h("td", {}, t.role), h("td", {}, utc(t.created_at)), h("td", {}, t.expires_at ? utc(t.expires_at) : "never"),
        h("td", {}, t.last_used_at ? utc(t.last_used_at) : "never"), h("td", {}, wordBadge(tokenTone[t.state] || "wait", t.state)),
        h("td", {}, t.state === "active" ? h("button", { type: "button", class: "revoke-token danger", "aria-label": "Revoke token " + t.name,
          onclick: async () => {
            if (!await confirmDialog("Revoke token “" + t.name + "”?", "Scripts using it are refused from their next request, and sessions opened with it end. This cannot be undone.", "Revoke token", { danger: true })) return;
            try {
              await api("/api/v1/tokens/" + encodeURIComponent(t.id), { method: "DELETE" });
              announce("Token " + t.name + " revoked.", "ok");
              await drawTokens(section);
            } catch (err) { fill(result, errorBox(err)); }
          } }, "Revoke") : ""))), { id: "token-list", empty: "You have no API token." }),
    form, result);
}

/** renderPasswordChange is the password change: forced (the only page until it is done; done
 * then goes on) or from the account page. */
export async function renderPasswordChange(view, _params, _query, { forced = false, done } = {}) {
  view.append(h("h1", {}, "Change your password"));
  if (forced) {
    view.append(h("p", { class: "lead", id: "password-forced" }, "Your password was set by an admin, or it is older than the password policy allows. Choose a new one before you go on; until then otpatch offers nothing else."));
  }
  const current = h("input", { type: "password", autocomplete: "current-password", required: true, maxlength: "256" });
  const next = h("input", { type: "password", autocomplete: "new-password", required: true, maxlength: "256" });
  const again = h("input", { type: "password", autocomplete: "new-password", required: true, maxlength: "256" });
  const result = h("div", { id: "password-result", "aria-live": "polite" });
  const button = h("button", { type: "submit", id: "change-password" }, "Change password");
  const form = h("form", { id: "password-form", class: "card narrow" },
    field("current-password", forced ? "The password you signed in with" : "Current password", current),
    field("new-password", "New password", next, "The password policy asks for a minimum length and several kinds of characters (lower case, upper case, digits, others), and refuses your username and your recent passwords; when it refuses, it says why."),
    field("new-password-again", "New password again", again),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    if (next.value !== again.value) {
      result.append(errorBox(new Error("the two new passwords differ; type the same one twice")));
      again.focus();
      return;
    }
    button.disabled = true;
    try {
      await api("/api/v1/me/password", { method: "PUT", body: { current_password: current.value, new_password: next.value } });
      form.reset();
      if (forced && done) { await done(); return; }
      fill(result, h("p", { class: "ok-text", role: "status" }, "✓ Your password was changed; your other sessions were signed out."));
      announce("Password changed.", "ok");
    } catch (err) {
      fill(result, errorBox(err, { current_password: "Current password", new_password: "New password" }));
      (err.status === 401 || err.status === 403 ? current : next).focus();
    } finally {
      button.disabled = false;
    }
  });
  view.append(form);
  if (!forced) view.append(h("p", {}, link("#/account", "Back to your account")));
  current.focus();
}
