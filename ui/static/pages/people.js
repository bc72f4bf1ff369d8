// People (admins): every user with the roles he holds — since when, granted and confirmed by
// whom — and the grants waiting for a second admin; adding a user (his initial password shown
// once), granting and revoking roles, confirming or withdrawing a pending grant, resetting a
// password, switching off a lost second factor and disabling a user. The server applies the
// rules (two-person, no self-grant, not the last admin) and says why when it refuses.
import { session, api, apiAll, h, fill, field, table, utc, errorBox, announce, wordBadge, secretOnce, confirmDialog, allRoles } from "../lib.js";

// How a grant came about, in words.
const sourceWords = { admin: "granted by", oidc: "from his groups at the single sign-on provider", bootstrap: "granted at installation by", demo: "granted by the demo data" };

export async function render(view) {
  view.append(h("h1", {}, "People"),
    h("p", {}, "Roles are granted to people; a session or token acts as one person in one role he holds. Some roles (approver, safety, admin) take effect only once a second admin confirms them, and no admin grants, confirms or resets anything for himself."));
  const pending = h("section", { id: "pending-section", "aria-labelledby": "pending-title" });
  const add = h("section", { class: "card", id: "add-user", "aria-labelledby": "add-user-title" });
  const list = h("section", { id: "people-section", "aria-labelledby": "people-title" });
  view.append(pending, add, list);

  // One-time answers (initial passwords) stay shown by the person they concern for as long as
  // the page is open; a refusal stays until the next action on him.
  const secrets = new Map(), refusals = new Map();
  const vendors = new Map((await apiAll("/api/v1/vendors").catch(() => [])).map((v) => [v.id, v.display_name || v.name]));
  let users = [];

  async function load() {
    users = await apiAll("/api/v1/users");
    drawPending(pending, users, load);
    const sorted = [...users].sort((a, b) => (a.disabled_at ? 1 : 0) - (b.disabled_at ? 1 : 0) || a.username.localeCompare(b.username));
    fill(list, h("h2", { id: "people-title" }, "Everyone (" + users.length + ")"),
      h("div", { id: "people" }, sorted.map((u) => person(u, { vendors, secrets, refusals, reload: load }))));
  }

  drawAddUser(add, vendors, async (u, initial) => {
    secrets.set(u.id, secretOnce("initial-password-" + u.id, "Initial password of " + u.username, initial,
      "Give it to " + u.username + " by another channel than this one; it is shown only this once. At the first sign-in it must be changed."));
    await load();
    const card = list.querySelector(`.person[data-user="${CSS.escape(u.username)}"]`);
    if (card) { card.scrollIntoView({ block: "nearest" }); card.querySelector(".secret-once input")?.focus(); }
  });
  await load();
}

// drawPending lists the grants waiting for a second admin, to confirm or withdraw.
function drawPending(section, users, reload) {
  const result = section.querySelector("#pending-result") || h("div", { id: "pending-result", "aria-live": "polite" });
  const rows = [];
  for (const u of users) {
    for (const g of u.grants || []) {
      if (g.state !== "pending") continue;
      const mine = g.requested_by === session.actor.name;
      const act = async (what) => {
        result.replaceChildren();
        try {
          if (what === "confirm") {
            await api("/api/v1/grants/" + encodeURIComponent(g.id) + "/confirm", { method: "POST" });
            announce(g.role + " confirmed for " + u.username + "; it is in effect now.", "ok");
          } else {
            if (!await confirmDialog("Withdraw the " + g.role + " role asked for " + u.username + "?", "The request ends unconfirmed; " + u.username + " does not get the role.", "Withdraw")) return;
            await api("/api/v1/grants/" + encodeURIComponent(g.id), { method: "DELETE" });
            announce("The request for " + g.role + " for " + u.username + " was withdrawn.", "ok");
          }
          await reload();
        } catch (err) {
          fill(result, errorBox(err));
          result.scrollIntoView({ block: "nearest" });
        }
      };
      rows.push(h("tr", { dataset: { user: u.username, role: g.role, grant: g.id } },
        h("td", {}, u.username, u.disabled_at ? " (disabled)" : ""), h("td", {}, g.role), h("td", {}, g.requested_by + (mine ? " (you)" : "")), h("td", {}, utc(g.requested_at)),
        h("td", {}, h("div", { class: "buttons" },
          h("button", { type: "button", class: "confirm-grant", "aria-label": "Confirm " + g.role + " for " + u.username, onclick: () => act("confirm") }, "Confirm"),
          h("button", { type: "button", class: "withdraw-grant", "aria-label": "Withdraw " + g.role + " for " + u.username, onclick: () => act("withdraw") }, "Withdraw")),
        mine ? h("p", { class: "hint" }, "You asked for it: a second admin confirms.") : null)));
    }
  }
  fill(section, h("h2", { id: "pending-title" }, "Waiting for a second admin (" + rows.length + ")"),
    table("Role grants waiting for confirmation", ["Person", "Role", "Asked by", "Asked at", ""], rows, { id: "pending-grants", empty: "No grant is waiting for confirmation." }),
    result);
}

// drawAddUser is the form that adds a local account; added(user, initialPassword) follows.
function drawAddUser(section, vendors, added) {
  const username = h("input", { type: "text", required: true, maxlength: "128", autocomplete: "off", autocapitalize: "none", spellcheck: "false", pattern: "[A-Za-z0-9._+\\-]+" });
  const display = h("input", { type: "text", maxlength: "200", autocomplete: "off" });
  const vendor = h("select", {}, h("option", { value: "" }, "None: plant staff"), [...vendors].map(([id, name]) => h("option", { value: id }, name)));
  const button = h("button", { type: "submit", id: "add-user-submit" }, "Add person");
  const result = h("div", { id: "add-user-result", "aria-live": "polite" });
  const form = h("form", { id: "add-user-form" },
    h("div", { class: "inline" },
      field("new-username", "Username", username, "Letters, digits, . _ + -; it never changes."),
      field("new-display-name", "Full name (optional)", display),
      field("new-vendor", "Vendor", vendor, "For a vendor's staff, who may only hold the vendor role.")),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const body = { username: username.value.trim() };
    if (display.value.trim()) body.display_name = display.value.trim();
    if (vendor.value) body.vendor_id = vendor.value;
    button.disabled = true;
    try {
      const u = await api("/api/v1/users", { method: "POST", body });
      form.reset();
      announce(u.username + " added; grant a role next.", "ok");
      await added(u, u.initial_password);
    } catch (err) {
      fill(result, errorBox(err, { username: "Username", display_name: "Full name", vendor_id: "Vendor" }));
    } finally {
      button.disabled = false;
    }
  });
  fill(section, h("h2", { id: "add-user-title" }, "Add a person"),
    h("p", {}, "A local account signs in with a username and password. otpatch makes a one-time initial password, shown once, that the person changes at the first sign-in. Single sign-on users are added at their first sign-in, with the roles their groups give."),
    form);
}

// grantLine is one role a person holds or held, with who granted and confirmed it.
function grantLine(g) {
  const by = (sourceWords[g.source] || g.source) + (g.source === "admin" || g.source === "bootstrap" ? " " + g.requested_by : "");
  if (g.state === "active") {
    return [wordBadge("ok", g.role), " since " + utc(g.confirmed_at || g.requested_at) + ", " + by + (g.confirmed_by && g.confirmed_by !== g.requested_by ? ", confirmed by " + g.confirmed_by : "")];
  }
  if (g.state === "pending") {
    return [wordBadge("wait", g.role), " waiting for a second admin: asked by " + g.requested_by + " " + utc(g.requested_at)];
  }
  return [wordBadge("wait", g.role), " " + utc(g.confirmed_at || g.requested_at) + " to " + utc(g.ended_at) + ", " + by + (g.ended_by ? "; ended by " + g.ended_by : "")];
}

// person is one user's card: his roles and what an admin may do with his account.
function person(u, { vendors, secrets, refusals, reload }) {
  const me = u.id === session.actor.user_id;
  const local = u.sign_in === "password";
  const grants = u.grants || [];
  const live = grants.filter((g) => g.state !== "ended");
  const ended = grants.filter((g) => g.state === "ended");

  // act runs an admin action on this person and draws the list again; a refusal stays shown
  // on his card.
  const act = async (run) => {
    refusals.delete(u.id);
    try {
      await run();
    } catch (err) {
      refusals.set(u.id, errorBox(err));
    }
    await reload().catch((err) => announce("✗ The list was not read again: " + err.message, "error"));
  };

  const status = [];
  if (me) status.push(wordBadge("busy", "you"));
  if (u.disabled_at) status.push(wordBadge("bad", "disabled " + utc(u.disabled_at)));
  else if (u.locked) status.push(wordBadge("warn", "locked until " + utc(u.locked_until)));
  if (!u.disabled_at && u.must_change_password) status.push(wordBadge("wait", "must change password"));

  const about = [local ? "Local account" : "Single sign-on", local ? (u.totp_enabled_at ? ", second factor on" : ", no second factor") : "",
    u.vendor_id ? "; staff of " + (vendors.get(u.vendor_id) || u.vendor_id) : "", "; added " + utc(u.created_at) + (u.created_by ? " by " + u.created_by : "")].join("");

  const controls = [];
  if (!u.disabled_at && !me) {
    const held = new Set(live.map((g) => g.role));
    const offer = allRoles.filter((r) => !held.has(r) && (r === "vendor") === !!u.vendor_id);
    if (!local) {
      controls.push(h("p", { class: "hint" }, "His roles come from his groups at the single sign-on provider; change them there."));
    } else if (offer.length) {
      const select = h("select", { class: "grant-role" }, offer.map((r) => h("option", { value: r }, r)));
      const grant = h("form", { class: "inline grant-form" }, field("grant-role-" + u.id, "Role to grant", select),
        h("button", { type: "submit", class: "grant-submit" }, "Grant role"));
      grant.addEventListener("submit", (ev) => {
        ev.preventDefault();
        act(async () => {
          const g = await api("/api/v1/users/" + encodeURIComponent(u.id) + "/grants", { method: "POST", body: { role: select.value } });
          if (g.state === "pending") announce(g.role + " asked for " + u.username + ": it takes effect once a second admin confirms it.", "ok");
          else announce(g.role + " granted to " + u.username + "; it is in effect now.", "ok");
        });
      });
      controls.push(grant);
    }
    const buttons = [];
    if (local) {
      buttons.push(h("button", { type: "button", class: "reset-password", onclick: () => act(async () => {
        if (!await confirmDialog("Reset the password of " + u.username + "?", "otpatch makes a new one-time password, shown once, that " + u.username + " must change at the next sign-in. His sessions end now and a lockout is lifted. Since you could act as him with the password you issue, his roles that need a second admin go back to waiting for another admin's confirmation.", "Reset password")) return;
        const r = await api("/api/v1/users/" + encodeURIComponent(u.id) + "/password-reset", { method: "POST" });
        secrets.set(u.id, secretOnce("initial-password-" + u.id, "New one-time password of " + u.username, r.initial_password,
          "Give it to " + u.username + " by another channel; it is shown only this once and must be changed at the next sign-in."));
        announce("The password of " + u.username + " was reset. A role of his that needs a second admin waits for another admin's confirmation again.", "ok");
      }) }, "Reset password…"));
    }
    if (local && u.totp_enabled_at) {
      buttons.push(h("button", { type: "button", class: "reset-totp", onclick: () => act(async () => {
        if (!await confirmDialog("Switch off the second factor of " + u.username + "?", "For a lost device: " + u.username + " then signs in with the password alone until he sets up a new one.", "Switch it off")) return;
        await api("/api/v1/users/" + encodeURIComponent(u.id) + "/totp", { method: "DELETE" });
        announce("The second factor of " + u.username + " is off.", "ok");
      }) }, "Switch off second factor…"));
    }
    buttons.push(h("button", { type: "button", class: "disable-user danger", onclick: () => act(async () => {
      if (!await confirmDialog("Disable " + u.username + "?", "His sessions end at once and his tokens are refused from the next request. The account and its history stay in the audit trail.", "Disable", { danger: true })) return;
      await api("/api/v1/users/" + encodeURIComponent(u.id), { method: "DELETE" });
      announce(u.username + " is disabled.", "ok");
    }) }, "Disable…"));
    controls.push(h("div", { class: "buttons" }, buttons));
  } else if (me) {
    controls.push(h("p", { class: "hint" }, "Another admin grants your roles and resets your password."));
  }

  return h("section", { class: "card person" + (u.disabled_at ? " disabled" : ""), dataset: { user: u.username }, "aria-labelledby": "person-" + u.id },
    h("h3", { id: "person-" + u.id }, u.username, u.display_name ? " — " + u.display_name : "", " ", status),
    h("p", { class: "hint" }, about),
    h("ul", { class: "plain grants" }, live.length
      ? live.map((g) => h("li", { class: "grant", dataset: { role: g.role, state: g.state } }, grantLine(g),
        g.state === "active" && !u.disabled_at && !me ? [" ", h("button", { type: "button", class: "revoke-grant", "aria-label": "Revoke " + g.role + " of " + u.username, onclick: () => act(async () => {
          if (!await confirmDialog("Revoke the " + g.role + " role of " + u.username + "?", "Sessions acting in it end at once and tokens in it are refused from the next request.", "Revoke role", { danger: true })) return;
          await api("/api/v1/grants/" + encodeURIComponent(g.id), { method: "DELETE" });
          announce(g.role + " revoked from " + u.username + ".", "ok");
        }) }, "Revoke…")] : null))
      : h("li", { class: "empty" }, "No role: he cannot sign in until one is granted.")),
    ended.length ? h("details", { class: "earlier" }, h("summary", {}, "Earlier roles (" + ended.length + ")"),
      h("ul", { class: "plain" }, ended.map((g) => h("li", { dataset: { role: g.role, state: g.state } }, grantLine(g))))) : null,
    controls, secrets.get(u.id) || null, refusals.has(u.id) ? h("div", { class: "result" }, refusals.get(u.id)) : null);
}
