// Notifications: the signed-in person's subscriptions (e-mail per kind of event); admins also
// the webhooks, the secret of a new one shown once, each one's delivery log and a test.
import { api, h, fill, table, utc, field, can, errorBox, announce, wordBadge } from "../lib.js";

export async function render(view) {
  view.append(h("h1", {}, "Notifications"),
    h("p", { class: "hint" }, "Be told by e-mail of what waits for you; each message links to the page where you act."));
  const mine = h("div", {});
  let kinds = [];
  const drawMine = async () => {
    const res = await api("/api/v1/subscriptions");
    kinds = res.kinds;
    fill(mine, table("My subscriptions", ["Kind", "When", "Address", "For", ""],
      res.items.map((s) => h("tr", { dataset: { subscription: s.id } },
        h("td", {}, h("code", {}, s.kind)), h("td", {}, s.description + (s.hours_before ? " (" + s.hours_before + " h before)" : "")),
        h("td", {}, s.email), h("td", {}, s.own ? "me" : "role " + s.role),
        h("td", {}, s.own || can("admins") ? unsubscribe(s, drawMine) : ""))),
    { id: "subscription-list", empty: "No subscription yet." }));
  };
  view.append(mine);
  await drawMine();
  view.append(subscribeForm(kinds, drawMine));
  if (can("admins")) view.append(await webhooks());
}

function unsubscribe(s, done) {
  const b = h("button", { type: "button", class: "secondary" }, "Unsubscribe");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await api("/api/v1/subscriptions/" + encodeURIComponent(s.id), { method: "DELETE" });
      announce("Unsubscribed from " + s.kind + ".", "ok");
      await done();
    } catch (err) {
      announce(err.message, "error");
      b.disabled = false;
    }
  });
  return b;
}

function subscribeForm(kinds, done) {
  const kind = h("select", { required: true }, ...kinds.map((k) => h("option", { value: k.kind }, k.kind + " — " + k.description)));
  const email = h("input", { type: "email", required: true, maxlength: "254", placeholder: "name@plant.example" });
  const hours = h("input", { type: "number", min: "1", max: "336", value: "24" });
  const role = h("select", {}, h("option", { value: "" }, "me"), ...["engineer", "approver", "safety", "auditor", "admin"].map((r) => h("option", { value: r }, "everyone acting as " + r)));
  const button = h("button", { type: "submit", id: "subscribe" }, "Subscribe");
  const result = h("div", { id: "subscribe-result", "aria-live": "polite" });
  const form = h("form", { id: "subscribe-form", class: "card", "aria-labelledby": "subscribe-title" },
    h("h2", { id: "subscribe-title" }, "Subscribe"),
    field("subscribe-kind", "Kind", kind, "What to be told of."),
    field("subscribe-email", "Address", email, "Where the e-mail goes."),
    field("subscribe-hours", "Hours before (window opening)", hours, "For window_opening: how long before the window opens."),
    can("admins") ? field("subscribe-role", "For", role, "An admin subscribes a distribution list for a whole role.") : "",
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    const body = { kind: kind.value, email: email.value.trim() };
    if (kind.value === "window_opening") body.hours_before = Number(hours.value);
    if (can("admins") && role.value) body.role = role.value;
    try {
      await api("/api/v1/subscriptions", { method: "POST", body });
      announce("Subscribed to " + body.kind + ".", "ok");
      await done();
    } catch (err) {
      result.append(errorBox(err, { kind: "Kind", email: "Address", hours_before: "Hours before", role: "For" }));
      announce("The subscription was not made.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// webhooks is the admins' part: the list, a form that shows a new webhook's secret once, the
// delivery log of the one chosen and its test button.
async function webhooks() {
  const box = h("section", { id: "webhooks", "aria-labelledby": "webhooks-title" }, h("h2", { id: "webhooks-title" }, "Webhooks"),
    h("p", { class: "hint" }, "Notifications are POSTed as CloudEvents 1.0, signed in the Otpatch-Signature header with the webhook's secret."));
  const list = h("div", {});
  const log = h("div", { id: "webhook-log" });
  const showLog = async (w) => {
    const res = await api("/api/v1/webhooks/" + encodeURIComponent(w.id) + "/deliveries");
    fill(log, table("Deliveries to " + w.url, ["Time", "Notification", "Kind", "Attempt", "Result", "HTTP", "Error"],
      res.items.map((d) => h("tr", { dataset: { delivery: d.id } }, h("td", {}, utc(d.at)), h("td", {}, h("code", {}, d.notification_key)), h("td", {}, d.kind),
        h("td", {}, String(d.attempt)), h("td", {}, wordBadge(d.status === "sent" ? "ok" : "bad", d.status)), h("td", {}, d.http_status ? String(d.http_status) : "—"),
        h("td", {}, d.error || ""))),
    { id: "delivery-list", empty: "Nothing sent yet." }));
  };
  const draw = async () => {
    const res = await api("/api/v1/webhooks");
    fill(list, table("Webhooks", ["URL", "Kinds", "Created", ""],
      res.items.map((w) => {
        const logButton = h("button", { type: "button", class: "secondary" }, "Delivery log");
        logButton.addEventListener("click", () => showLog(w));
        const test = h("button", { type: "button", class: "webhook-test" }, "Send test");
        test.addEventListener("click", async () => {
          test.disabled = true;
          try {
            await api("/api/v1/webhooks/" + encodeURIComponent(w.id) + "/test", { method: "POST" });
            announce("A test is on its way to " + w.url + ".", "ok");
            await showLog(w);
          } catch (err) {
            announce(err.message, "error");
          } finally {
            test.disabled = false;
          }
        });
        return h("tr", { dataset: { webhook: w.id } }, h("td", { class: "name" }, h("code", {}, w.url)),
          h("td", {}, w.kinds.length ? w.kinds.join(", ") : "every kind"), h("td", {}, utc(w.created_at)), h("td", {}, logButton, " ", test));
      }),
    { id: "webhook-list", empty: "No webhook yet." }));
  };
  const url = h("input", { type: "url", required: true, maxlength: "2000", placeholder: "https://soc.plant.example/otpatch" });
  const button = h("button", { type: "submit", id: "webhook-add" }, "Add webhook");
  const result = h("div", { id: "webhook-add-result", "aria-live": "polite" });
  const form = h("form", { id: "webhook-form", class: "card" }, h("h3", {}, "Add a webhook"),
    field("webhook-url", "URL", url, "Where the CloudEvents are POSTed."), button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    try {
      const w = await api("/api/v1/webhooks", { method: "POST", body: { url: url.value.trim() } });
      result.append(h("div", { class: "ok-text", id: "webhook-secret" },
        h("p", {}, "✓ Added. Its secret is shown this once: copy it to the receiver now."), h("code", { class: "key" }, w.secret)));
      announce("The webhook was added; copy its secret now, it is not shown again.", "ok");
      await draw();
    } catch (err) {
      result.append(errorBox(err, { url: "URL", kinds: "Kinds" }));
      announce("The webhook was not added.", "error");
    } finally {
      button.disabled = false;
    }
  });
  box.append(list, form, log);
  await draw();
  return box;
}
