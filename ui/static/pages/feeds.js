// CSAF feeds: the providers otpatch follows, how each one's last sync ended, and the
// documents it refused with their reasons. Engineers add a feed and sync one now.
import { api, apiAll, h, fill, table, link, utc, field, can, errorBox, announce, wordBadge, short } from "../lib.js";

// How a sync ended, as a badge tone.
const resultTone = { ok: "ok", refusals: "warn", failed: "bad" };

function resultBadge(result, attrs = {}) {
  return result ? wordBadge(resultTone[result] || "wait", result, attrs) : wordBadge("wait", "not synced yet", attrs);
}

export async function renderList(view) {
  view.append(h("h1", {}, "CSAF feeds"),
    h("p", { class: "hint" }, "Providers whose advisories are fetched on a schedule; each advisory's hash and OpenPGP signature are checked against the provider's keys before it is ingested."));
  const list = h("div", {});
  const draw = async () => {
    const feeds = await apiAll("/api/v1/feeds");
    fill(list, table("CSAF feeds", ["Provider", "Publisher", "Every", "Last sync", "Result", "Ingested", "Refused"],
      feeds.map((f) => h("tr", { dataset: { feed: f.id } },
        h("td", { class: "name" }, link("#/feeds/" + encodeURIComponent(f.id), f.url)), h("td", {}, f.publisher || "—"),
        h("td", {}, f.interval_minutes ? f.interval_minutes + " min" : "offline only"), h("td", {}, f.last_sync_at ? utc(f.last_sync_at) : "—"),
        h("td", {}, resultBadge(f.last_result)), h("td", {}, String(f.ingested)), h("td", {}, String(f.refused)))),
    { id: "feed-list", empty: "No feed yet." }));
  };
  view.append(list);
  if (can("engineers")) view.append(addForm(draw));
  await draw();
}

// addForm lets an engineer follow a provider.
function addForm(done) {
  const url = h("input", { type: "text", required: true, maxlength: "2000", placeholder: "psirt.example.com" });
  const every = h("input", { type: "number", min: "15", max: "10080", step: "1", value: "1440", required: true });
  const ca = h("textarea", { rows: "4", maxlength: "65536", spellcheck: "false", autocomplete: "off", class: "key" });
  const button = h("button", { type: "submit", id: "feed-add" }, "Add feed");
  const result = h("div", { id: "feed-add-result", "aria-live": "polite" });
  const form = h("form", { id: "feed-form", class: "card", "aria-labelledby": "feed-form-title" },
    h("h2", { id: "feed-form-title" }, "Follow a provider"),
    field("feed-url", "Provider", url, "Its domain (its provider-metadata.json is read from https://DOMAIN/.well-known/csaf/) or the HTTPS URL of its provider-metadata.json."),
    field("feed-interval", "Sync every (minutes)", every, "15 to 10,080 (7 days)."),
    field("feed-ca", "Extra CA (PEM, optional)", ca, "A plant's own provider mirror: the CA that signs its HTTPS certificate, trusted besides the system's roots for this feed only."),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    const body = { url: url.value.trim(), interval_minutes: Number(every.value) };
    if (ca.value.trim()) body.ca_pem = ca.value;
    try {
      const f = await api("/api/v1/feeds", { method: "POST", body });
      result.append(h("p", { class: "ok-text", id: "feed-add-ok" }, "✓ Added ", link("#/feeds/" + encodeURIComponent(f.id), f.url), "."));
      announce("The feed was added; its schedule syncs it every " + f.interval_minutes + " minutes.", "ok");
      await done();
    } catch (err) {
      result.append(errorBox(err, { url: "Provider", interval_minutes: "Sync every", ca_pem: "Extra CA" }));
      announce("The feed was not added.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function renderFeed(view, [id]) {
  const url = "/api/v1/feeds/" + encodeURIComponent(id);
  let f;
  try {
    f = await api(url);
  } catch (err) {
    if (err.status === 404) { view.append(h("h1", {}, "Feed not found"), link("#/feeds", "Back to the feeds")); return; }
    throw err;
  }
  const body = h("div", {});
  view.append(body);
  const draw = (f, sync) => fill(body,
    h("h1", {}, "Feed " + (f.publisher || f.url)),
    h("dl", { class: "facts", id: "feed-facts" },
      h("dt", {}, "Provider metadata"), h("dd", {}, h("code", {}, f.url)),
      h("dt", {}, "Schedule"), h("dd", { id: "feed-schedule" }, f.schedule_minutes ? "every " + f.schedule_minutes + " min" : "none: synced offline only (otpatch csaf sync --dir)"),
      h("dt", {}, "Trusted keys"), h("dd", { id: "feed-keys" }, f.trusted_keys.length ? f.trusted_keys.map((k) => h("code", { title: k }, short(k, 16))) : "none verified yet"),
      h("dt", {}, "Extra CA"), h("dd", {}, f.extra_ca ? "yes" : "no"),
      h("dt", {}, "Last sync"), h("dd", { id: "feed-last" }, resultBadge(f.last_result, { id: "feed-result" }), " ", f.last_sync_at ? utc(f.last_sync_at) : "",
        f.last_error ? h("div", { class: "error", id: "feed-error" }, f.last_error) : null),
      h("dt", {}, "Documents"), h("dd", {}, `${f.ingested} ingested, ${f.unchanged} unchanged, ${f.refused} refused`)),
    sync ? h("p", { id: "feed-sync-result", "aria-live": "polite" },
      `Synced now: ${sync.result}; ${sync.ingested} ingested, ${sync.unchanged} unchanged, ${sync.refused} refused, ${sync.skipped} not changed since the last sync.`) : null,
    can("engineers") && f.schedule_minutes ? syncButton(f.id, draw) : null,
    h("h2", {}, "Refused documents"),
    table("Refused documents", ["Document", "Reason", "Seen"], (f.refusals || []).map((d) =>
      h("tr", { dataset: { url: d.url } }, h("td", {}, d.url), h("td", { class: "wide" }, d.reason), h("td", {}, utc(d.seen_at)))),
    { id: "feed-refusals", empty: "No document of this feed was refused." }),
    h("h2", {}, "Documents"),
    table("Documents", ["Document", "Advisory", "Revision", "Outcome", "Seen"], (f.documents || []).map((d) =>
      h("tr", { dataset: { url: d.url } }, h("td", {}, d.url),
        h("td", {}, d.advisory_id ? link("#/advisories/" + encodeURIComponent(d.advisory_id), d.tracking_id) : d.tracking_id || "—"),
        h("td", {}, d.revision || "—"), h("td", {}, d.outcome), h("td", {}, utc(d.seen_at)))),
    { id: "feed-documents", empty: "No document fetched yet." }));
  draw(f);
}

function syncButton(id, draw) {
  const button = h("button", { type: "button", id: "feed-sync" }, "Sync now");
  button.addEventListener("click", async () => {
    button.disabled = true;
    announce("Syncing…");
    try {
      const res = await api("/api/v1/feeds/" + encodeURIComponent(id) + "/sync", { method: "POST" });
      announce("The feed was synced: " + res.sync.result + ".", res.sync.result === "ok" ? "ok" : "error");
      draw(res.feed, res.sync);
    } catch (err) {
      announce("The feed was not synced.", "error");
      button.after(errorBox(err));
      button.disabled = false;
    }
  });
  return button;
}
