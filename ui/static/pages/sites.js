// A site: where its device work runs and, with a site worker, the workers polling the site's
// task queue (their version, host and last poll) and a status line; engineers change the
// site's device work and how long it waits for a worker.
import { fill, api, apiAll, h, table, field, can, hasRoute, errorBox, announce, durationWords, utc, wordBadge, link } from "../lib.js";

/** deviceWorkWords says where a site's device work runs, in words. */
export function deviceWorkWords(site) {
  return site.device_work === "site_worker" ? "on a site worker: only a worker at the site reaches its devices" : "central: otpatch's central workers reach its devices";
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
  const header = h("div", {});
  const presence = h("section", { "aria-labelledby": "site-workers-title", id: "site-presence" });
  view.append(header, presence);

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
        h("dt", {}, "Zones"), h("dd", {}, zones.length ? zones.map((z) => z.name).join(", ") : "none"),
        h("dt", {}, "Added"), h("dd", {}, utc(site.created_at))));
    if (site.device_work !== "site_worker") {
      fill(presence, h("h2", { id: "site-workers-title" }, "Site workers"),
        h("p", {}, "None needed: the central workers run this site's device work."));
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
    view.append(changeForm(site, async (changed) => { site = changed; draw(); }));
  }
  const timer = setInterval(async () => {
    try { site = await api(url); draw(); } catch { /* the next try shows it */ }
  }, 15000);
  return () => clearInterval(timer);
}

// changeForm lets an engineer move the site's device work and set how long it waits for a worker.
function changeForm(site, done) {
  const mode = h("select", {},
    h("option", { value: "central", selected: site.device_work === "central" }, "central workers"),
    h("option", { value: "site_worker", selected: site.device_work === "site_worker" }, "a site worker"));
  const wait = h("input", { type: "number", min: "60", max: "2592000", step: "1", value: String(site.unreachable_after_seconds), required: true });
  const words = h("span", { id: "site-wait-words", "aria-live": "polite" });
  const sayWait = () => { words.textContent = wait.value ? "= " + waitWords(wait.value) : ""; };
  wait.addEventListener("input", sayWait);
  sayWait();
  const button = h("button", { type: "submit", id: "site-change" }, "Save");
  const result = h("div", { id: "site-change-result", "aria-live": "polite" });
  const form = h("form", { id: "site-form", class: "card", "aria-labelledby": "site-form-title" },
    h("h2", { id: "site-form-title" }, "Change where device work runs"),
    field("site-device-work-input", "Device work runs on", mode, "Central workers reach the site's devices from the central instance; a site worker (otpatch worker --site " + site.id + ") runs at the site, only dials out, and alone reaches them. The audit trail records who changed what, from and to."),
    field("site-wait-input", "Waiting limit for a site worker (seconds)", wait, "60 to 2,592,000 (30 days). After this long without a worker taking its device work, an asset ends ‘site unreachable’ with nothing deployed."),
    h("p", { class: "hint" }, words),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    try {
      const changed = await api("/api/v1/sites/" + encodeURIComponent(site.id), { method: "PATCH", body: { device_work: mode.value, unreachable_after_seconds: Number(wait.value) } });
      result.append(h("p", { class: "ok-text", id: "site-change-ok" }, "✓ Saved."));
      announce("The site was changed.", "ok");
      await done(changed);
    } catch (err) {
      result.append(errorBox(err, { device_work: "Device work", unreachable_after_seconds: "Waiting limit" }));
      announce("The site was not changed.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** siteLink links to a site's page. */
export function siteLink(id, text) { return link("#/sites/" + encodeURIComponent(id), text); }
