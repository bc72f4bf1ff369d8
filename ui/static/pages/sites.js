// A site: where its device work runs and, with a site worker, the workers polling the site's
// task queue (their version, host and last poll) and a status line; an air-gapped site, its
// pinned transfer key and the transfer bundles written for it and imported from it. Engineers
// change the site's device work, how long it waits for a worker and its transfer key.
import { fill, api, apiAll, h, table, field, can, hasRoute, errorBox, announce, durationWords, utc, wordBadge, link, badge, short } from "../lib.js";
import { nameCampaigns } from "./campaigns.js";

// Where a site's device work runs, in words, by its device_work.
const deviceWork = {
  central: "central: otpatch's central workers reach its devices",
  site_worker: "on a site worker: only a worker at the site reaches its devices",
  air_gapped: "air-gapped: the site's own otpatch instance runs its campaigns; plans and results travel as signed transfer bundles",
};

/** deviceWorkWords says where a site's device work runs, in words. */
export function deviceWorkWords(site) { return deviceWork[site.device_work] || deviceWork.central; }

// Which way a transfer bundle went, from this instance's side.
const directionWords = { out: "written here", in: "imported here" };

/** transferTable lists transfer bundles (GET /api/v1/transfers), newest first: which way each
 * went, its kind and sequence, when it was made and until when it is accepted, who recorded it
 * here, the file's SHA-256 (whole in its title) and, for results, the campaign's status at the
 * site. With campaignNames (id → name) it has a column linking each bundle's campaign. */
export function transferTable(caption, transfers, campaignNames, { id, empty }) {
  const headers = ["Direction", "Kind", "Sequence"].concat(campaignNames ? ["Campaign"] : [],
    ["Made", "Expires", "Recorded here", "File SHA-256", "Status at the site"]);
  return table(caption, headers, transfers.map((t) =>
    h("tr", { dataset: { direction: t.direction, kind: t.kind, sequence: String(t.sequence) } },
      h("td", { class: "name" }, directionWords[t.direction] || t.direction), h("td", {}, t.kind), h("td", {}, String(t.sequence)),
      campaignNames ? h("td", {}, t.campaign_id ? link("#/campaigns/" + encodeURIComponent(t.campaign_id), campaignNames.get(t.campaign_id) || t.campaign_id) : "—") : null,
      h("td", {}, utc(t.created_at)), h("td", {}, utc(t.expires_at)), h("td", {}, utc(t.recorded_at), h("div", { class: "hint" }, "by " + t.recorded_by)),
      h("td", {}, h("code", { class: "bundle-sha256", title: t.file_sha256 }, short(t.file_sha256, 16))),
      h("td", { class: "wide" }, t.kind === "results" && t.status ? [badge(t.status), t.detail ? h("div", {}, t.detail) : null] : "—"))),
  { id, empty });
}

/** waitWords is a waiting limit in seconds as people read it ("1 h", "15 min"). */
export function waitWords(seconds) { return durationWords("PT" + Number(seconds || 0) + "S"); }

/** workerStatusBadge shows a site's worker status line in a tone: ok while a worker polls. */
export function workerStatusBadge(line, polling, attrs = {}) {
  return wordBadge(polling > 0 && !/misconfigured/.test(line) ? "ok" : polling > 0 ? "warn" : "bad", line, attrs);
}

export async function renderSite(view, [id]) {
  const url = "/api/v1/sites/" + encodeURIComponent(id);
  let site = await api(url);
  const zones = await apiAll("/api/v1/zones?site_id=" + encodeURIComponent(id)).catch(() => []);
  // An air-gapped site's transfer bundles, and the names of their campaigns.
  const campaignNames = new Map();
  const readTransfers = async () => {
    if (site.device_work !== "air_gapped" || !hasRoute("GET", "/api/v1/transfers")) return [];
    const list = (await api("/api/v1/transfers?site_id=" + encodeURIComponent(id))).items;
    await nameCampaigns(campaignNames, list.map((t) => t.campaign_id));
    return list;
  };
  let transfers = await readTransfers().catch(() => []);
  const header = h("div", {});
  const presence = h("section", { "aria-labelledby": "site-workers-title", id: "site-presence" });
  const bundles = h("section", { "aria-labelledby": "site-transfers-title", id: "site-transfers", hidden: true });
  view.append(header, presence, bundles);

  const draw = () => {
    const polling = site.workers.filter((w) => w.polling).length;
    fill(header,
      h("h1", {}, "Site " + site.name),
      h("dl", { class: "facts", id: "site-facts" },
        h("dt", {}, "Device work"), h("dd", { id: "site-device-work" }, deviceWorkWords(site)),
        site.device_work === "site_worker" ? [
          h("dt", {}, "Task queue"), h("dd", {}, h("code", { id: "site-task-queue" }, site.task_queue)),
          h("dt", {}, "Waits for a worker"), h("dd", { id: "site-wait" }, waitWords(site.unreachable_after_seconds),
            "; then the asset ends ‘site unreachable’, nothing deployed"),
          h("dt", {}, "Workers"), h("dd", {}, workerStatusBadge(site.worker_status, polling, { id: "site-worker-status" }))] : null,
        site.device_work === "air_gapped" ? [
          h("dt", {}, "Transfer key"), h("dd", {}, site.transfer_key
            ? h("code", { id: "site-transfer-key" }, site.transfer_key)
            : h("span", { class: "warn-text", id: "site-transfer-key-none" }, "⚠ none pinned: bundles from this site are refused until its key is pinned"))] : null,
        h("dt", {}, "Zones"), h("dd", {}, zones.length ? zones.map((z) => z.name).join(", ") : "none"),
        h("dt", {}, "Added"), h("dd", {}, utc(site.created_at))));
    drawBundles(bundles, site, transfers, campaignNames);
    if (site.device_work !== "site_worker") {
      fill(presence, h("h2", { id: "site-workers-title" }, "Site workers"),
        h("p", {}, site.device_work === "air_gapped" ? "None needed: the site's own otpatch instance runs this site's device work."
          : "None needed: the central workers run this site's device work."));
      return;
    }
    fill(presence, h("h2", { id: "site-workers-title" }, "Site workers"),
      h("p", { class: "hint" }, "Processes polling this site's task queue, as Temporal reports them; this page asks again every 15 seconds. ",
        "A worker counts as polling when its last poll is at most 2 minutes old. Start one at the site with ",
        h("code", {}, "otpatch worker --site " + site.id), "."),
      table("Workers of site " + site.name, ["Worker", "Version", "Host", "First seen", "Last poll", "Polling"], site.workers.map((w) =>
        h("tr", { dataset: { identity: w.identity } },
          h("td", { class: "wide" }, h("code", {}, w.identity), w.problem ? h("div", { class: "warn-text worker-problem" }, "⚠ " + w.problem) : null),
          h("td", {}, w.version || "—"), h("td", {}, w.host || "—"), h("td", {}, utc(w.first_seen_at)), h("td", { class: "last-poll" }, utc(w.last_poll_at)),
          h("td", {}, w.polling ? wordBadge("ok", "polling", { class: "worker-polling" }) : wordBadge("wait", "not polling", { class: "worker-polling" })))),
      { id: "site-workers", empty: "No worker has polled this site's task queue yet." }));
  };
  draw();
  if (can("engineers") && hasRoute("PATCH", "/api/v1/sites/{siteID}")) {
    view.append(changeForm(site, async (changed) => {
      site = changed;
      transfers = await readTransfers().catch(() => transfers);
      draw();
    }));
  }
  const timer = setInterval(async () => {
    try {
      site = await api(url);
      transfers = await readTransfers();
      draw();
    } catch { /* the next try shows it */ }
  }, 15000);
  return () => clearInterval(timer);
}

// drawBundles shows an air-gapped site's transfer bundles: the plans written here for it and
// the results and inventories imported from it.
function drawBundles(section, site, transfers, campaignNames) {
  if (site.device_work !== "air_gapped") { section.replaceChildren(); section.hidden = true; return; }
  section.hidden = false;
  fill(section, h("h2", { id: "site-transfers-title" }, "Transfer bundles"),
    h("p", { class: "hint" }, "Plan bundles written here for the site's own instance, and results and inventory bundles imported from it, newest first (at most 100). ",
      "Before importing a bundle, compare its file's SHA-256 with the one shown where it was written; this page asks again every 15 seconds."),
    transferTable("Transfer bundles of site " + site.name, transfers, campaignNames,
      { id: "site-transfer-list", empty: "No transfer bundle was written for this site or imported from it yet." }));
}

// changeForm lets an engineer move the site's device work, set how long it waits for a worker
// and pin the transfer key of an air-gapped site's own instance.
function changeForm(site, done) {
  const mode = h("select", {},
    h("option", { value: "central", selected: site.device_work === "central" }, "central workers"),
    h("option", { value: "site_worker", selected: site.device_work === "site_worker" }, "a site worker"),
    h("option", { value: "air_gapped", selected: site.device_work === "air_gapped" }, "the site's own otpatch instance (air-gapped)"));
  const wait = h("input", { type: "number", min: "60", max: "2592000", step: "1", value: String(site.unreachable_after_seconds), required: true });
  const words = h("span", { id: "site-wait-words", "aria-live": "polite" });
  const sayWait = () => { words.textContent = wait.value ? "= " + waitWords(wait.value) : ""; };
  wait.addEventListener("input", sayWait);
  sayWait();
  // The key pinned now: transfer_key is sent only when the field says otherwise.
  let pinned = site.transfer_key || "";
  const key = h("textarea", { rows: "4", maxlength: "1000", spellcheck: "false", autocomplete: "off", class: "key" });
  key.value = pinned;
  const keyField = field("site-transfer-key-input", "Transfer key of the site's own instance", key,
    "The public key of the site's instance, as otpatch transfer key (GET /api/v1/transfers/key) prints it there: its public_key, or its PEM. Results and inventory bundles from the site are imported only when this key signed them; empty the field to unpin it.");
  const showKey = () => { keyField.hidden = mode.value !== "air_gapped"; };
  mode.addEventListener("change", showKey);
  showKey();
  const button = h("button", { type: "submit", id: "site-change" }, "Save");
  const result = h("div", { id: "site-change-result", "aria-live": "polite" });
  const form = h("form", { id: "site-form", class: "card", "aria-labelledby": "site-form-title" },
    h("h2", { id: "site-form-title" }, "Change where device work runs"),
    field("site-device-work-input", "Device work runs on", mode, "Central workers reach the site's devices from the central instance; a site worker (otpatch worker --site " + site.id + ") runs at the site, only dials out, and alone reaches them; an air-gapped site has no network path at all: its own otpatch instance runs the campaigns approved here, carried to it as signed transfer bundles on removable media. The audit trail records who changed what, from and to."),
    field("site-wait-input", "Waiting limit for a site worker (seconds)", wait, "60 to 2,592,000 (30 days). After this long without a worker taking its device work, an asset ends ‘site unreachable’ with nothing deployed."),
    h("p", { class: "hint" }, words),
    keyField,
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    const body = { device_work: mode.value, unreachable_after_seconds: Number(wait.value) };
    if (mode.value === "air_gapped" && key.value.trim() !== pinned) body.transfer_key = key.value.trim();
    try {
      const changed = await api("/api/v1/sites/" + encodeURIComponent(site.id), { method: "PATCH", body });
      pinned = changed.transfer_key || "";
      key.value = pinned;
      result.append(h("p", { class: "ok-text", id: "site-change-ok" }, "✓ Saved."));
      announce("The site was changed.", "ok");
      await done(changed);
    } catch (err) {
      result.append(errorBox(err, { device_work: "Device work", unreachable_after_seconds: "Waiting limit", transfer_key: "Transfer key" }));
      announce("The site was not changed.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** siteLink links to a site's page. */
export function siteLink(id, text) { return link("#/sites/" + encodeURIComponent(id), text); }
