// Campaigns: the list, planning one from a qualified patch and the assets as they run now, and
// the campaign page — stage timeline, the plan under review (patch, targets, bench runs, waves,
// digest), approval, operator controls, waves with per-asset progress (polled live), rollbacks
// and the assets a campaign ended without patching; for a campaign of an air-gapped site, its
// transfer bundles and the plan bundle to carry there. A campaign of any size shows its counts
// by state and wave, and its assets and the plan's targets a page at a time.
import { fill, session, api, apiAll, can, h, badge, assetBadge, assetStateWord, assetEndStates, compatBadge, table, link, utc, zoned, short, field, errorBox, announce, hasRoute, terminalCampaign, stateWord, durationWords, wordBadge, ApiError } from "../lib.js";
import { holdsNotice } from "./qualification.js";
import { siteLink, workerStatusBadge, waitWords, transferTable } from "./sites.js";

export async function renderList(view) {
  view.append(h("h1", {}, "Campaigns"));
  if (can("engineers")) view.append(h("p", {}, link("#/campaigns/new", "Plan a campaign", { class: "button", id: "new-campaign" })));
  const cs = await apiAll("/api/v1/campaigns");
  view.append(table("Campaigns", ["Campaign", "State", "Detail", "Created by", "Next window (UTC)", "Updated"],
    cs.map((c) => h("tr", {}, h("td", {}, link("#/campaigns/" + c.id, c.name)), h("td", {}, badge(c.status)), h("td", {}, c.detail || ""),
      h("td", {}, c.created_by), h("td", {}, c.next_window_start ? utc(c.next_window_start) : "—"), h("td", {}, utc(c.updated_at)))),
    { empty: "No campaigns yet.", id: "campaign-list" }));
}

export async function renderNew(view, _params, query) {
  view.append(h("h1", {}, "Plan a campaign"),
    h("p", {}, "A campaign applies one qualified patch to the production assets you tick, as they run now. otpatch adds a test-bench run for each version those assets run, validates the patch there first, and then waits for approval of the plan: what the approvers approve is exactly what runs."));
  const qualified = await apiAll("/api/v1/patches?status=qualified");
  const campaignNames = new Map();
  if (!qualified.length) {
    view.append(h("p", { class: "empty" }, "No qualified patch yet; a campaign needs one."));
    return;
  }
  const select = h("select", { required: true }, qualified.map((p) => h("option", { value: p.id, selected: p.id === query.get("patch") }, p.patch_ref + " " + p.version + " — " + p.title)));
  const name = h("input", { type: "text", required: true, maxlength: "200", autocomplete: "off" });
  const assets = h("fieldset", { id: "campaign-assets" });
  const acceptReason = h("textarea", { rows: "2", maxlength: "2000" });
  const acceptField = field("accept-reason", "Why deploying to a version the vendor does not state is acceptable", acceptReason,
    "Needed when you accept an asset whose version the vendor's compatibility statement does not mention; the approvers see it in the plan.");
  const threshold = h("input", { type: "number", min: "0", max: "1000", step: "1", inputmode: "numeric" });
  const result = h("div", { id: "campaign-result" });
  const button = h("button", { type: "submit", id: "create-campaign" }, "Create campaign and start bench validation");
  const form = h("form", { id: "campaign-form", class: "card" },
    field("campaign-patch", "Patch", select), field("campaign-name", "Campaign name", name, "Say what and where, e.g. “HMI auth bypass, packaging line 2”."),
    assets, acceptField,
    field("error-threshold", "Error threshold per wave (optional)", threshold,
      "How many failed assets a wave tolerates before the campaign halts; empty means none. A zone with SL-T 3–4 or safety-critical assets tolerates none: asking more for it is refused."),
    button, result);
  view.append(form);

  async function loadAssets() {
    const p = await api("/api/v1/patches/" + encodeURIComponent(select.value));
    const now = p.applicability_now || [];
    await nameCampaigns(campaignNames, now.map((a) => a.open_campaign));
    const prod = now.filter((a) => !a.test_bench).sort((a, b) => a.zone_name.localeCompare(b.zone_name) || a.name.localeCompare(b.name));
    const bench = now.filter((a) => a.test_bench);
    fill(assets, h("legend", {}, "Production assets to patch (as they run now)"),
      h("p", { class: "hint" }, "Tick each asset to patch; nothing is chosen for you. Greyed-out assets cannot be patched with this patch now, and say why."),
      table("Production assets of " + ((p.manifest || {}).product || "the patch's product"), ["Patch", "Asset", "Zone", "SL-T", "Safety-critical", "Installed now", "Vendor's compatibility", "Note"],
        prod.map((a) => assetRow(a, campaignNames)), { id: "campaign-asset-table", empty: "No production asset of this product is in the inventory." }),
      h("p", { class: "hint", id: "campaign-bench" }, bench.length
        ? "Test bench of this product: " + bench.map((b) => b.name + " runs " + b.installed_version).join(", ") +
          ". The plan picks one bench run per version among the assets you tick; a bench is first restored to a verified baseline of that version when it runs another."
        : "This product has no test-bench asset; a campaign cannot be validated."));
    acceptField.hidden = !prod.some((a) => a.applies && !a.open_campaign && a.compatibility === "not_stated");
  }
  select.addEventListener("change", () => loadAssets().catch((err) => fill(assets, errorBox(err))));
  await loadAssets();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const ids = [...assets.querySelectorAll("input[name=asset]:checked")].map((c) => c.value);
    if (!ids.length) { result.append(errorBox(new Error("tick at least one production asset"))); return; }
    const body = { name: name.value.trim(), patch_id: select.value, asset_ids: ids };
    const accepted = [...assets.querySelectorAll("input[name=accept]:checked")].map((c) => c.value).filter((id) => ids.includes(id));
    if (accepted.length) Object.assign(body, { accept_not_stated: accepted, accept_reason: acceptReason.value.trim() });
    if (threshold.value !== "") body.error_threshold = Number(threshold.value);
    button.disabled = true;
    try {
      const c = await api("/api/v1/campaigns", { method: "POST", body });
      announce("Campaign " + c.name + " created; bench validation starts.", "ok");
      location.hash = "#/campaigns/" + c.id;
    } catch (err) {
      result.append(errorBox(err, { name: "Campaign name", patch_id: "Patch", asset_ids: "Assets", accept_not_stated: "Accepted versions",
        accept_reason: "Reason for accepting", error_threshold: "Error threshold" }));
      result.querySelector("[role=alert]").scrollIntoView({ block: "nearest" });
    } finally {
      button.disabled = false;
    }
  });
}

// nameCampaigns adds to names the names of the campaigns ids (blanks and known ones skipped).
export async function nameCampaigns(names, ids) {
  const todo = [...new Set(ids.filter((id) => id && !names.has(id)))];
  const cs = await Promise.all(todo.map((id) => api("/api/v1/campaigns/" + encodeURIComponent(id)).catch(() => null)));
  for (const c of cs) if (c) names.set(c.id, c.name);
}

// assetRow is one production asset in the planning form: a checkbox when the patch applies to
// the version it runs now and no open campaign holds it, otherwise why not. A version the
// vendor does not state needs its own explicit acceptance.
function assetRow(a, campaignNames) {
  const id = "asset-" + a.asset_id;
  const available = a.applies && !a.open_campaign;
  const box = h("input", { type: "checkbox", id, name: "asset", value: a.asset_id, disabled: !available });
  let compat = compatBadge(a.compatibility);
  if (available && a.compatibility === "not_stated") {
    const accept = h("input", { type: "checkbox", id: "accept-" + a.asset_id, name: "accept", value: a.asset_id, disabled: true });
    box.addEventListener("change", () => { accept.disabled = !box.checked; if (!box.checked) accept.checked = false; });
    compat = [compat, h("div", { class: "check" }, accept, h("label", { for: accept.id }, "Accept: deploy although the vendor does not state " + a.installed_version))];
  }
  let note = a.notes || "";
  if (!a.applies) note = a.reason;
  else if (a.open_campaign) note = ["Already a target of ", link("#/campaigns/" + a.open_campaign, campaignNames.get(a.open_campaign) || "an open campaign"), ", which has not ended"];
  return h("tr", { class: available ? null : "unavailable", dataset: { asset: a.asset_id } },
    h("td", {}, box), h("td", { class: "name" }, h("label", { for: id }, a.name)), h("td", {}, a.zone_name), h("td", {}, String(a.sl_t)),
    h("td", {}, a.safety_critical ? "yes" : "no"), h("td", {}, a.installed_version || "unknown"), h("td", {}, compat), h("td", { class: "note wide" }, note));
}

// The stages a campaign passes through, and which states belong to each.
const stages = [
  { name: "Planned", states: ["draft"] },
  { name: "Validated on the test bench", states: ["testing"], failed: ["test_failed"] },
  { name: "Approval of the plan", states: ["awaiting_approval"], failed: ["rejected"] },
  { name: "Scheduled for the maintenance window", states: ["approved", "scheduled"] },
  { name: "Deploying in waves", states: ["deploying"] },
  { name: "Outcome", states: ["completed"], failed: ["halted", "rolled_back", "aborted"] },
];
const assetSteps = ["pending", "backing_up", "backed_up", "deploying", "verifying", "done"];
const rollbackStates = ["failed", "rolling_back", "rolled_back", "rollback_failed"];

function stageIndex(status) {
  return stages.findIndex((s) => s.states.includes(status) || (s.failed || []).includes(status));
}

export async function renderCampaign(view, [id]) {
  const url = "/api/v1/campaigns/" + encodeURIComponent(id);
  let c = await api(url + "?live=1");
  const header = h("div", {});
  const timeline = h("section", { "aria-labelledby": "timeline-title" });
  const siteWork = h("section", { "aria-labelledby": "campaign-sites-title", id: "campaign-sites", hidden: true });
  const carried = h("section", { "aria-labelledby": "campaign-transfer-title", id: "campaign-transfer", hidden: true });
  const review = h("section", { "aria-labelledby": "plan-review-title", id: "plan-review" });
  const actions = h("section", { "aria-labelledby": "actions-title", id: "actions" });
  const waves = h("section", { "aria-labelledby": "waves-title", id: "waves" });
  const wavesBody = h("div", {});
  const rollback = h("section", { "aria-labelledby": "rollback-title", id: "rollback" });
  const ended = h("section", { "aria-labelledby": "end-states-title", id: "end-states" });
  const history = h("section", { "aria-labelledby": "history-title" });
  view.append(header, timeline, siteWork, carried, review, actions, waves, rollback, ended, history);
  let actionsKey = "", reviewKey = "", transferKey = "";

  // The campaign's answer holds the first page of its assets and of its review's targets. More
  // pages are read when asked for (and the assets' pages read again on every refresh, to follow
  // their progress); the assets in the states the rollback and end-state sections list are read
  // by state. The targets read belong to one plan: a changed plan starts again from its first page.
  const more = { cursors: [], assets: [], next: "", targets: [], targetsNext: "", digest: c.plan_digest };
  let byState = new Map();
  const assetsURL = (query) => url + "/assets" + (query ? "?" + new URLSearchParams(query) : "");
  const readMore = async () => {
    const pages = await Promise.all(more.cursors.map((after) => api(assetsURL({ after }))));
    more.assets = pages.flatMap((p) => p.items);
    more.next = pages.length ? pages[pages.length - 1].next || "" : "";
  };
  const readByState = async () => {
    const counts = (c.asset_counts || {}).by_state || {};
    const wanted = c.assets_next ? [...rollbackStates, ...notPatchedStates].filter((st) => counts[st]) : [];
    const pages = await Promise.all(wanted.map((state) => api(assetsURL({ state }))));
    byState = new Map(wanted.map((st, i) => [st, pages[i].items]));
  };
  const moreBox = assetsMore(async () => {
    const after = more.cursors.length ? more.next : c.assets_next;
    if (!after) return;
    const p = await api(assetsURL({ after }));
    more.cursors.push(after);
    more.assets.push(...p.items);
    more.next = p.next || "";
    draw();
  });
  waves.append(wavesBody, moreBox.box);
  const moreTargets = async () => {
    const after = more.targets.length ? more.targetsNext : (c.review || {}).targets_next;
    if (!after) return;
    const p = await api(url + "/review/targets?after=" + encodeURIComponent(after));
    more.targets.push(...p.items);
    more.targetsNext = p.next || "";
    draw();
  };
  await readByState().catch(() => {});

  // A plan carried to an air-gapped site: the site, the campaign's transfer bundles (read with
  // the campaign) and, for engineers, the plan bundle to download. Only what changes is redrawn,
  // so the download button keeps its focus.
  const gapID = (c.plan && c.plan.transfer_site) || "";
  const readTransfers = async () => gapID && hasRoute("GET", "/api/v1/transfers")
    ? (await api("/api/v1/transfers?campaign_id=" + encodeURIComponent(id))).items : [];
  let transfers = await readTransfers().catch(() => []);
  const gap = gapID ? {
    site: await api("/api/v1/sites/" + encodeURIComponent(gapID)).catch(() => ({ id: gapID, name: gapID })),
    state: h("div", {}), list: h("div", {}),
    bundle: can("engineers") && hasRoute("POST", "/api/v1/transfers/export") ? planBundle(c, () => refresh().catch(() => {})) : null,
  } : null;
  if (gap) {
    carried.hidden = false;
    fill(carried, h("h2", { id: "campaign-transfer-title" }, "Air-gapped site"), gap.state, gap.bundle && gap.bundle.box, gap.list);
  }

  const draw = (force) => {
    const targets = (c.plan && c.plan.targets) || [];
    const prodTarget = targets.find((t) => !t.test_bench) || targets[0];
    const tz = prodTarget && prodTarget.window ? prodTarget.window.time_zone : "";
    const paused = !!(c.live && c.live.paused);
    const patch = c.review ? c.review.patch : null;
    fill(header,
      h("h1", {}, c.name),
      h("p", { class: "lead" }, "State: ", badge(c.status, { id: "campaign-status" }), paused ? [" ", badge("paused", { id: "campaign-paused" })] : null,
        c.detail ? h("span", { id: "campaign-detail" }, " — " + c.detail) : null),
      h("dl", { class: "facts" },
        h("dt", {}, "Patch"), h("dd", {}, link("#/patches/" + c.patch_id, patch ? patch.title + " (" + patch.version + ")" : c.patch_id)),
        h("dt", {}, "Created"), h("dd", {}, utc(c.created_at) + " by ", h("span", { id: "campaign-creator" }, c.created_by)),
        c.advisory ? [h("dt", {}, "From advisory"), h("dd", { id: "campaign-advisory" }, link("#/advisories/" + c.advisory.advisory_id, c.advisory.tracking_id), ", patch decided by " + c.advisory.decided_by)] : null,
        c.next_window_start && !terminalCampaign.includes(c.status) ? [h("dt", {}, "Next window"),
          h("dd", { id: "campaign-window" }, zoned(c.next_window_start, tz) + " until " + zoned(c.next_window_end, tz))] : null,
        h("dt", {}, "Updated"), h("dd", {}, utc(c.updated_at)),
        !terminalCampaign.includes(c.status) ? [h("dt", {}, "Live"), h("dd", {}, "This page updates every 2 seconds.")] : null));

    const cur = stageIndex(c.status);
    fill(timeline, h("h2", { id: "timeline-title" }, "Stages"),
      h("ol", { class: "timeline", id: "timeline" }, stages.map((s, i) => {
        let state = "not reached", cls = "todo";
        if (i < cur) { state = "done"; cls = "done"; }
        if (i === cur) {
          const failed = (s.failed || []).includes(c.status);
          state = (terminalCampaign.includes(c.status) ? (failed ? "ended here: " : "done: ") : "now: ") + stateWord(c.status);
          cls = failed ? "failed" : terminalCampaign.includes(c.status) ? "done" : "current";
        }
        // A plan carried to an air-gapped site is validated there, not here.
        if (gap && s.states.includes("testing")) { state = "at the site: its own instance validates the plan on the site's test bench"; cls = "todo"; }
        return h("li", { class: "stage stage-" + cls, "aria-current": i === cur ? "step" : null },
          h("span", { class: "stage-name" }, s.name), " — ", h("span", { class: "stage-state" }, state));
      })));

    // While the plan awaits approval its review comes before the decision; afterwards it is the
    // record of what was approved, below the progress.
    const asking = c.status === "awaiting_approval";
    const before = asking ? actions : history;
    if (review.nextSibling !== before) view.insertBefore(review, before);
    if (more.digest !== c.plan_digest) Object.assign(more, { targets: [], targetsNext: "", digest: c.plan_digest });
    const key = JSON.stringify([c.status, c.plan_digest, c.review, c.holds, more.targets.length]);
    if (key !== reviewKey) {
      reviewKey = key;
      const focused = document.activeElement && document.activeElement.id === "more-review-targets";
      drawReview(review, c, asking && can("deciders") && session.actor.name !== c.created_by, more, moreTargets);
      const again = review.querySelector("#more-review-targets");
      if (focused && again) again.focus();
    }
    drawSites(siteWork, c);
    if (gap) {
      const tk = JSON.stringify([c.status, transfers]);
      if (tk !== transferKey) {
        transferKey = tk;
        drawCarried(gap, c, transfers);
      }
      if (gap.bundle) gap.bundle.update(c);
    }
    const assets = (c.assets || []).concat(more.assets);
    const inState = (st) => c.assets_next ? byState.get(st) || [] : assets.filter((a) => a.state === st);
    drawWaves(wavesBody, c, assets);
    moreBox.update(assets.length, (c.asset_counts || {}).total || assets.length, more.cursors.length ? more.next : c.assets_next);
    drawRollback(rollback, c, inState);
    drawEndStates(ended, c, inState);
    drawHistory(history, c);

    // The actions are redrawn when what one may do changes (an ended campaign offers no pause),
    // unless someone is typing there or answering a confirmation; focus there moves to the
    // heading of the redrawn actions.
    const ak = [c.status, paused, c.plan_digest, (c.approvals || []).length].join("|");
    const focused = actions.contains(document.activeElement) ? document.activeElement : null;
    const busy = actions.querySelector("dialog[open]") || (focused && focused.matches("textarea, input"));
    if (force || (ak !== actionsKey && !busy)) {
      actionsKey = ak;
      drawActions(actions, c, paused, refresh);
      if (force || focused) { const t = actions.querySelector("h2"); t.setAttribute("tabindex", "-1"); t.focus(); }
    }
  };

  // refresh reloads the campaign; force redraws the actions even while one has focus (after
  // the user acted).
  async function refresh(force) {
    c = await api(url + "?live=1");
    await Promise.all([readTransfers().then((t) => { transfers = t; }).catch(() => {}), readMore().catch(() => {}), readByState().catch(() => {})]);
    draw(force);
  }
  draw();
  const timer = setInterval(() => {
    if (terminalCampaign.includes(c.status)) return;
    refresh().catch(() => {});
  }, 2000);
  return () => clearInterval(timer);
}

// drawReview shows what the approvers approve, in names a person reads: the patch and its CVEs,
// every target with the version it runs and what the vendor says of that version, the bench
// runs that cover those versions and what they checked, the waves with their error thresholds
// and windows in the zone's own time, accepted not_stated versions, and the digest.
function drawReview(section, c, asking, more, moreTargets) {
  const r = c.review;
  const counts = c.plan_counts || {};
  section.className = asking ? "card review-ask" : "";
  const intro = [h("h2", { id: "plan-review-title" }, c.status === "awaiting_approval" ? "Plan to approve" : "Plan"),
    h("p", {}, asking ? "Read this before you decide. " : "",
      "What the approvers approve is exactly what runs: these targets, from these versions, in these waves and windows. Any change to the plan changes its digest and voids earlier approvals."), holdsNotice(c)];
  if (!r) {
    fill(section, intro, legacyPlan(c));
    return;
  }
  const p = r.patch;
  const targets = r.targets.concat(more.targets);
  const names = new Map(targets.map((t) => [t.asset_id, t.name]));
  const total = r.target_count || targets.length;
  const next = more.targets.length ? more.targetsNext : r.targets_next;
  const moreOf = (shown, all) => all > shown ? " … and " + (all - shown) + " more" : "";
  fill(section, intro,
    h("dl", { class: "facts", id: "review-patch" },
      h("dt", {}, "Patch"), h("dd", {}, p.title),
      h("dt", {}, "Vendor and product"), h("dd", {}, p.vendor + ", " + p.product + " (patch version " + p.version + ")"),
      h("dt", {}, "Every target ends at"), h("dd", { id: "review-to-version" }, r.to_version || p.fixed_version),
      h("dt", {}, "Fixes"), h("dd", {}, p.cves.length
        ? h("ul", { class: "plain", id: "review-cves" }, p.cves.map((v) => h("li", {}, h("strong", {}, v.id), " — CVSS " + v.cvss)))
        : h("span", { id: "review-cves" }, "no CVE listed")),
      p.restart_required ? [h("dt", {}, "Restart required"), h("dd", {}, p.restart_required)] : null,
      h("dt", {}, "Approvals needed"), h("dd", { id: "review-approvals" }, String(r.approvals_required),
        r.needs_safety ? ", one of them from the safety role (the plan has SL-T 3–4 or safety-critical targets)" : "",
        "; the campaign's creator cannot approve it."),
      h("dt", {}, "Plan digest"), h("dd", {}, h("code", { id: "plan-digest" }, c.plan_digest)),
      hasRoute("GET", "/api/v1/campaigns/{campaignID}/plan") ? [h("dt", {}, "Whole plan"), h("dd", {},
        h("a", { href: "/api/v1/campaigns/" + encodeURIComponent(c.id) + "/plan", id: "whole-plan", download: "plan-" + c.id + ".json" }, "Download the whole plan (JSON)"),
        counts.shortened ? " — this page shows the targets a page at a time; the file holds every one, as approved." : "")] : null),
    h("h3", {}, "Targets"),
    table("Targets: the version each runs, what the vendor says of it, and the bench run that covers it",
      ["Asset", "Zone", "SL-T", "Safety-critical", "Wave", "Version", "Vendor's compatibility", "Test-bench run"], targets.map((t) =>
        h("tr", { dataset: { asset: t.asset_id } }, h("td", { class: "name" }, t.name), h("td", {}, t.zone_name), h("td", {}, String(t.sl_t)), h("td", {}, t.safety_critical ? "yes" : "no"),
          h("td", {}, String(t.wave)), h("td", { class: "name" }, t.from_version + " → " + r.to_version),
          h("td", { class: "compat-cell" }, compatBadge(t.compatibility), t.accepted_not_stated ? h("div", { class: "hint" }, "accepted by " + ((r.acceptance || {}).by || "the planner")) : null),
          h("td", { class: "coverage wide" }, t.covered_by ? "covered by " + t.covered_by + " (" + t.from_version + " → " + r.to_version + ")" : h("strong", { class: "warn-text" }, "⚠ not covered")))),
      { id: "review-targets" }),
    total > targets.length || next ? h("div", { id: "review-targets-more" },
      h("p", { id: "review-targets-shown" }, "Showing " + targets.length + " of " + total + " targets, in wave order."),
      next ? h("div", { class: "buttons" }, h("button", { type: "button", id: "more-review-targets", onclick: (ev) => {
        ev.target.disabled = true;
        moreTargets().catch((err) => { ev.target.disabled = false; ev.target.parentNode.after(errorBox(err)); });
      } }, "Show " + Math.min(100, total - targets.length) + " more targets")) : null) : null,
    r.uncovered.length ? h("p", { class: "card warn", id: "review-uncovered", role: "note" }, "⚠ No test-bench run covers the version that ",
      r.uncovered.join(", ") + moreOf(r.uncovered.length, counts.uncovered), (counts.uncovered || r.uncovered.length) === 1 ? " runs: it is" : " run: they are",
      " patched without the patch having been tried on their version.") : null,
    h("h3", {}, "Test-bench runs"),
    table("Test-bench runs", ["Bench asset", "Version", "Prepared by", "Result", "When", "Checks"], r.bench.map((b) =>
      h("tr", { dataset: { asset: b.asset_id } }, h("td", { class: "name" }, b.name), h("td", { class: "name" }, b.from_version + " → " + b.to_version),
        h("td", {}, b.prepare === "restore_baseline" ? "restoring its verified " + b.from_version + " baseline first" : "none: it runs " + b.from_version),
        h("td", {}, assetBadge(b.state, { class: "bench-state" }), b.result ? h("div", {}, b.result) : null),
        h("td", {}, b.state === "pending" ? "not run yet" : utc(b.at)),
        h("td", { class: "wide" }, b.checks.length ? h("ul", { class: "plain" }, b.checks.map((k) => h("li", {}, "✓ " + k))) : "—"))),
    { id: "review-bench", empty: "No bench run." }),
    h("h3", {}, "Waves"),
    table("Waves in order, each inside its zone's maintenance window", ["Wave", "Zone", "Assets", "Error threshold", "Window", "Next opening (zone time)"], r.waves.map((w) =>
      h("tr", {}, h("td", {}, String(w.n)), h("td", {}, w.zone_name), h("td", { class: "wide" }, w.assets.join(", ") + moreOf(w.assets.length, w.asset_count)),
        h("td", {}, w.error_threshold ? w.error_threshold + " failed asset" + (w.error_threshold === 1 ? "" : "s") + " tolerated" : "0: halts at the first failed asset"),
        h("td", { class: "wide" }, h("code", {}, w.window.cron), " for " + durationWords(w.window.duration) + ", " + w.window.time_zone + ", at most " + w.window.max_parallel + " at once"),
        h("td", { class: "wide" }, terminalCampaign.includes(c.status) ? "—" : !w.window.next_start ? "none in the coming year"
          : (w.window.open_now ? "open now, until " : zoned(w.window.next_start, w.window.time_zone) + " until ") + (w.window.continues ? "at least " : "") + zoned(w.window.next_end, w.window.time_zone)))),
    { id: "review-waves" }),
    r.acceptance ? h("p", { class: "card warn", id: "review-acceptance" }, h("strong", {}, r.acceptance.by), " accepted deploying to ",
      r.acceptance.asset_ids.map((a) => names.get(a) || a).join(", ") + moreOf(r.acceptance.asset_ids.length, counts.accepted_not_stated), " although the vendor's compatibility statement does not mention the version they run. Reason: “", r.acceptance.reason, "”.") : null);
}

// legacyPlan shows a plan made before plans carried names, bench runs and waves.
function legacyPlan(c) {
  const targets = (c.plan && c.plan.targets) || [];
  const names = new Map((c.assets || []).map((a) => [a.asset_id, a.name]));
  const counts = c.plan_counts || {};
  return [h("p", {}, "Plan digest: ", h("code", { id: "plan-digest" }, c.plan_digest)),
    counts.shortened ? h("p", { class: "hint" }, "The first " + targets.length + " of the plan's " + counts.targets + " targets; ",
      h("a", { href: "/api/v1/campaigns/" + encodeURIComponent(c.id) + "/plan", id: "whole-plan", download: "plan-" + c.id + ".json" }, "download the whole plan"), " to read them all.") : null,
    table("Plan targets", ["Asset", "Zone", "SL-T", "Safety-critical", "Test bench", "Window"], targets.map((t) =>
      h("tr", {}, h("td", {}, names.get(t.asset_id) || t.asset_id), h("td", {}, t.zone_id), h("td", {}, String(t.sl_t)), h("td", {}, t.safety_critical ? "yes" : "no"),
        h("td", {}, t.test_bench ? "yes" : "no"), h("td", {}, t.window ? h("code", {}, t.window.cron) : "—", t.window ? " " + durationWords(t.window.duration) + ", " + t.window.time_zone : ""))))];
}

// drawWaves shows the counts of the campaign's assets by state and wave, and the assets read so
// far (the first page, and those shown with “Show more”) under their waves.
function drawWaves(section, c, assets) {
  const counts = c.asset_counts || { total: assets.length, by_state: {}, waves: [] };
  const count = (st) => counts.by_state[st] || 0;
  const byWave = new Map();
  for (const a of assets) {
    const w = a.test_bench ? 0 : a.wave;
    if (!byWave.has(w)) byWave.set(w, []);
    byWave.get(w).push(a);
  }
  const others = notPatchedStates.filter((st) => count(st)).map((st) => count(st) + " " + assetStateWord(st));
  fill(section, h("h2", { id: "waves-title" }, "Waves"),
    h("p", { id: "waves-summary" }, count("done") + " of " + counts.total + " assets done" + others.map((o) => "; " + o).join("") + "."));
  for (const wc of counts.waves) {
    const list = byWave.get(wc.wave) || [];
    const label = wc.wave === 0 ? "Test bench" : "Wave " + wc.wave + " (production)";
    const states = Object.entries(wc.by_state).filter(([st]) => st !== "done").map(([st, n]) => n + " " + assetStateWord(st));
    section.append(...[h("h3", { dataset: { wave: String(wc.wave) } }, label + " — " + (wc.by_state.done || 0) + " of " + wc.total + " done"),
      states.length && wc.total > list.length ? h("p", { class: "hint wave-states" }, states.join(", ") + ".") : null,
      list.length ? table(label, ["Asset", "Version", "State", "Progress"], list.map((a) => {
        const step = assetSteps.indexOf(a.state);
        const bad = rollbackStates.includes(a.state);
        const value = step >= 0 ? step : bad ? assetSteps.length - 1 : 0;
        const text = (step >= 0 ? "step " + step + " of " + (assetSteps.length - 1) + ": " : "") + assetStateWord(a.state);
        return h("tr", { dataset: { asset: a.asset_id } },
          h("td", {}, a.name || a.asset_id),
          h("td", {}, (a.from_version || "?") + " → " + (a.to_version || "?")),
          h("td", {}, assetBadge(a.state, { class: "asset-state" })),
          h("td", {}, h("progress", { max: String(assetSteps.length - 1), value: String(value), "aria-label": (a.name || a.asset_id) + " progress", class: bad ? "bad" : "" }),
            " ", h("span", { class: "progress-text" }, text)));
      })) : null,
      wc.total > list.length ? h("p", { class: "hint" }, list.length ? "Showing " + list.length + " of the wave's " + wc.total + " assets."
        : "Its " + wc.total + " assets come after those shown above.") : null].filter(Boolean));
  }
}

// assetsMore is the “Show more assets” control below the waves. It stays in place while the
// waves are redrawn, so it keeps the focus; update says how many are shown and whether more follow.
function assetsMore(load) {
  const shown = h("p", { id: "campaign-assets-shown" });
  const button = h("button", { type: "button", id: "more-assets" });
  const result = h("div", { "aria-live": "polite" });
  const box = h("div", { id: "campaign-assets-more", hidden: true }, shown, h("div", { class: "buttons" }, button), result);
  let busy = false;
  button.addEventListener("click", async () => {
    busy = button.disabled = true;
    result.replaceChildren();
    try { await load(); } catch (err) { fill(result, errorBox(err)); } finally { busy = button.disabled = false; }
  });
  const update = (n, total, next) => {
    box.hidden = n >= total && !next;
    shown.textContent = "Showing " + n + " of " + total + " assets, in the order they run.";
    button.textContent = "Show " + Math.min(100, Math.max(total - n, 0)) + " more assets";
    button.hidden = !next;
    if (!busy) button.disabled = false;
  };
  return { box, update };
}

// drawRollback lists the assets that failed and were rolled back (inState reads those of a state:
// all of them in a campaign answered whole, the first page of each in a larger one).
function drawRollback(section, c, inState) {
  const rows = rollbackStates.flatMap(inState);
  const total = rollbackStates.reduce((n, st) => n + (((c.asset_counts || {}).by_state || {})[st] || 0), 0);
  if (!rows.length) { section.replaceChildren(); section.hidden = true; return; }
  section.hidden = false;
  fill(section, h("h2", { id: "rollback-title" }, "Failed and rolled back"),
    h("p", {}, "The change failed on these assets (deploy or verification); otpatch restored their verified backups and verified the old version again. An asset in ‘rollback failed’ needs manual action."),
    table("Rolled-back assets", ["Asset", "State", "What failed", "Restored to", "Backup object", "Backup SHA-256"], rows.map((a) =>
      h("tr", {}, h("td", { class: "name" }, a.name || a.asset_id), h("td", {}, assetBadge(a.state)), h("td", {}, a.error || "—"), h("td", {}, a.from_version || "—"),
        h("td", {}, h("code", {}, a.backup_key || "—")), h("td", {}, h("code", { title: a.backup_sha256 || "" }, short(a.backup_sha256, 16))))),
    { id: "rollback-details" }),
    total > rows.length ? h("p", { class: "hint" }, "Showing " + rows.length + " of " + total + ": the first of each state.") : null);
}

// The end states the campaign page groups under "Not patched": those on which nothing failed,
// and site_unreachable, where no worker of the asset's site took its device work.
const notPatchedStates = [...assetEndStates, "site_unreachable"];

// What each end state means; none of them is a failed verification.
const endStateMeaning = {
  site_unreachable: "No worker of their site took their device work within the site's waiting limit; otpatch deployed nothing. Start the site's worker (otpatch worker --site …) and plan them again.",
  aborted: "An abort interrupted the change; otpatch restored the verified backup and verified the old version again. The patch did not fail on them.",
  not_started: "The campaign ended before their turn; otpatch did not touch them.",
  drifted: "The device did not run the version the approved plan names; otpatch left it as it was and deployed nothing.",
  skipped: "The campaign was cancelled before otpatch touched them.",
};

// drawSites names each site of the campaign's assets whose device work runs on a site worker,
// with its workers' presence: "site Plant B: no worker polling since …" says why its assets wait.
function drawSites(section, c) {
  const sites = c.sites || [];
  if (!sites.length) { section.replaceChildren(); section.hidden = true; return; }
  section.hidden = false;
  const ended = terminalCampaign.includes(c.status);
  const waiting = sites.filter((s) => !s.workers_polling);
  fill(section, h("h2", { id: "campaign-sites-title" }, "Sites with site workers"),
    h("ul", { class: "plain", id: "campaign-site-list" }, sites.map((s) => h("li", { dataset: { site: s.site_id } },
      "site ", siteLink(s.site_id, s.name), ": ", workerStatusBadge(s.worker_status, s.workers_polling, { class: "site-worker-status" }),
      h("span", { class: "hint" }, " — waits " + waitWords(s.unreachable_after_seconds) + " for a worker")))),
    !ended && waiting.length ? h("p", { class: "card warn", id: "campaign-sites-warning", role: "note" }, "⚠ Device work at ",
      waiting.map((s) => s.name).join(", "), " waits until a worker of the site polls; after the site's waiting limit without one, its assets end ‘",
      assetStateWord("site_unreachable"), "’.") : null);
}

// drawCarried shows where a plan carried to an air-gapped site stands: the site, whether its
// results came back, and the campaign's transfer bundles.
function drawCarried(gap, c, transfers) {
  const results = transfers.find((t) => t.direction === "in" && t.kind === "results");
  fill(gap.state,
    h("p", {}, "The targets are at air-gapped site ", siteLink(gap.site.id, gap.site.name),
      ". The plan is approved here; then its plan bundle is carried to the site on removable media, where the site's own otpatch instance validates it on the site's test bench and deploys it in the plan's windows. ",
      "Its results come back the same way, as a results bundle imported here (otpatch transfer import); until then this instance knows nothing of what happened at the site."),
    results
      ? h("p", { id: "campaign-results-latest" }, "Latest results from the site (bundle ", String(results.sequence), ", imported ", utc(results.recorded_at), " by ", results.recorded_by, "): ",
        badge(results.status), results.detail ? " — " + results.detail : "")
      : h("p", { class: "lead", id: "campaign-results-pending" }, wordBadge("wait", "Results not returned yet"),
        " No results bundle of site " + gap.site.name + " has been imported for this campaign."));
  fill(gap.list, h("h3", {}, "Transfer bundles of this campaign"),
    transferTable("Transfer bundles of campaign " + c.name, transfers, null,
      { id: "campaign-transfers", empty: "No transfer bundle of this campaign was written or imported yet." }));
}

// Campaign statuses in which the plan bundle can be written: approved, and not ended.
const bundleStatuses = ["approved", "scheduled", "deploying"];

// planBundle offers an engineer the campaign's plan bundle: the answer of POST
// /api/v1/transfers/export is saved as a file (with the session cookie and CSRF token, as api
// sends them) and its SHA-256 shown, for the operator to compare at the site before importing
// it. onSaved reloads the campaign and its transfers.
function planBundle(c, onSaved) {
  let campaign = c, busy = false;
  const button = h("button", { type: "button", id: "download-plan-bundle", "aria-describedby": "download-plan-bundle-hint" }, "Download plan bundle");
  const hint = h("p", { class: "hint", id: "download-plan-bundle-hint" });
  const result = h("div", { id: "campaign-bundle-result", "aria-live": "polite" });
  const ready = () => bundleStatuses.includes(campaign.status);
  button.addEventListener("click", async () => {
    busy = button.disabled = true;
    result.replaceChildren();
    try {
      const res = await api("/api/v1/transfers/export", { method: "POST", body: { kind: "plan", campaign_id: campaign.id }, raw: true });
      if (!res.ok) {
        const text = await res.text();
        let doc = {};
        try { doc = text ? JSON.parse(text) : {}; } catch { doc = { detail: text }; }
        throw new ApiError(res.status, doc);
      }
      const blob = await res.blob();
      const named = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      const name = named ? named[1] : campaign.plan.transfer_site + "-plan-" + res.headers.get("X-Bundle-Sequence") + ".tar";
      const sha = res.headers.get("X-Bundle-SHA256") || "";
      const href = URL.createObjectURL(blob);
      const save = h("a", { href, download: name, hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      // The browser reads the file from the object URL after the click; it is let go later.
      setTimeout(() => URL.revokeObjectURL(href), 60000);
      fill(result,
        h("p", { class: "ok-text", id: "campaign-bundle-saved" }, "✓ Saved ", h("code", {}, name), " (" + blob.size.toLocaleString("en") + " bytes, bundle " + res.headers.get("X-Bundle-Sequence") + ")",
          res.headers.get("X-Bundle-Again") === "true" ? ": the bundle written before, the same file again." : "."),
        h("p", {}, "Its SHA-256, to compare with what the import prints at the site before trusting the copy: ", h("code", { id: "campaign-bundle-sha256" }, sha)));
      announce("The plan bundle " + name + " was saved.", "ok");
      await onSaved();
    } catch (err) {
      fill(result, errorBox(err));
      announce("The plan bundle was not written.", "error");
    } finally {
      busy = false;
      button.disabled = !ready();
    }
  });
  const box = h("div", { class: "card", id: "campaign-bundle" }, h("h3", {}, "Plan bundle for the site"), hint, button, result);
  const update = (now) => {
    campaign = now;
    if (!busy) button.disabled = !ready();
    hint.textContent = ready()
      ? "One signed file with the approved plan, its approvals and the patch's files, for the site's own instance (otpatch transfer import FILE there). Asked again before it expires, the same file is written again."
      : terminalCampaign.includes(campaign.status) ? "The campaign has ended; no plan bundle is written for it."
        : "The plan bundle can be written once the plan is approved.";
  };
  return { box, update };
}

// drawEndStates groups the assets the campaign ended without patching, or restored after an
// abort, each group under its own words (inState as for drawRollback).
function drawEndStates(section, c, inState) {
  const counts = (c.asset_counts || {}).by_state || {};
  const groups = notPatchedStates.map((st) => [st, inState(st)]).filter(([, list]) => list.length);
  if (!groups.length) { section.replaceChildren(); section.hidden = true; return; }
  section.hidden = false;
  fill(section, h("h2", { id: "end-states-title" }, "Not patched"),
    groups.map(([st, list]) => h("div", { class: "end-group", id: "end-" + st, dataset: { state: st } },
      h("h3", {}, assetBadge(st), " " + (counts[st] || list.length) + ((counts[st] || list.length) === 1 ? " asset" : " assets")),
      h("p", {}, endStateMeaning[st]),
      table(assetStateWord(st), ["Asset", "Where", "Version", "Why"], list.map((a) =>
        h("tr", { dataset: { asset: a.asset_id } }, h("td", { class: "name" }, a.name || a.asset_id), h("td", {}, a.test_bench ? "test bench" : "wave " + a.wave),
          h("td", {}, a.from_version || "—"), h("td", {}, a.error || "—")))),
      counts[st] > list.length ? h("p", { class: "hint" }, "Showing the first " + list.length + "; the assets above list them all.") : null)));
}

function drawHistory(section, c) {
  const aps = c.approvals || [];
  const ops = c.operations || [];
  fill(section, h("h2", { id: "history-title" }, "Decisions and operations"),
    table("Approvals and rejections", ["When", "Who", "Role", "Decision", "Reason", "Plan digest"], aps.map((a) =>
      h("tr", {}, h("td", {}, utc(a.at)), h("td", {}, a.actor), h("td", {}, a.role), h("td", {}, a.decision), h("td", {}, a.reason || ""), h("td", {}, h("code", {}, short(a.plan_digest))))),
    { id: "approvals", empty: "No decision yet." }),
    ops.length ? table("Pauses, resumes and aborts", ["When", "Who", "Action", "Reason"], ops.map((o) =>
      h("tr", {}, h("td", {}, utc(o.at)), h("td", {}, o.actor), h("td", {}, o.action), h("td", {}, o.reason || ""))), { id: "operations" }) : null,
    can("auditors") ? h("p", {}, link("#/audit?campaign_id=" + encodeURIComponent(c.id), "Audit trail of this campaign")) : null,
    can("auditors") && hasRoute("GET", "/api/v1/campaigns/{campaignID}/evidence")
      ? h("p", {}, h("a", { href: "/api/v1/campaigns/" + encodeURIComponent(c.id) + "/evidence", download: "", id: "evidence-link" }, "Download the evidence bundle")) : null);
}

// drawActions shows the controls the signed-in person may use now: approve / reject for
// approvers who did not create the campaign, pause / resume / abort for engineers.
function drawActions(section, c, paused, refresh) {
  fill(section, h("h2", { id: "actions-title" }, "Actions"));
  const me = session.actor;
  const result = h("div", { id: "action-result" });
  let any = false;
  if (c.status === "awaiting_approval") {
    if (can("deciders") && me.name !== c.created_by) {
      any = true;
      const reason = h("textarea", { rows: "2", maxlength: "2000" });
      const decide = async (decision) => {
        result.replaceChildren();
        if (decision === "reject" && !reason.value.trim()) { result.append(errorBox(new Error("say why you reject the plan"))); reason.focus(); return; }
        try {
          await api("/api/v1/campaigns/" + encodeURIComponent(c.id) + "/decisions", { method: "POST", body: { decision, reason: reason.value.trim(), plan_digest: c.plan_digest } });
          announce(decision === "approve" ? "You approved plan " + short(c.plan_digest) + "." : "You rejected the plan.", "ok");
          await refresh(true);
        } catch (err) {
          // A refused decision (the plan changed meanwhile, say): show the plan as it is now,
          // and why, so the approver reads it again before deciding.
          await refresh(true).catch(() => {});
          fill(section.querySelector("#action-result") || result, errorBox(err));
        }
      };
      section.append(h("form", { class: "card", id: "decision-form", onsubmit: (e) => e.preventDefault() },
        h("p", {}, "You decide on the plan with digest ", h("code", {}, short(c.plan_digest, 16)), ": the patch, targets, bench results, waves and windows shown above."),
        field("decision-reason", "Reason (required to reject)", reason),
        h("div", { class: "buttons" },
          h("button", { type: "button", id: "approve", onclick: () => decide("approve") }, "Approve plan"),
          h("button", { type: "button", id: "reject", class: "danger", onclick: () => decide("reject") }, "Reject plan"))));
    } else if (me.name === c.created_by) {
      section.append(h("p", { id: "creator-note" }, "You created this campaign, so you cannot approve it; an approver other than you must."));
    } else if (!can("deciders")) {
      section.append(h("p", { id: "decision-note" }, "Waiting for an approver (roles approver or safety)."));
    }
  }
  const opsRoute = (op) => hasRoute("POST", "/api/v1/campaigns/{campaignID}/" + op);
  if (can("engineers") && !terminalCampaign.includes(c.status)) {
    const ops = [];
    // A campaign carried to an air-gapped site runs there: it is paused at the site's instance.
    if (!paused && opsRoute("pause") && !(c.plan && c.plan.transfer_site)) ops.push(["pause", "Pause", "No new asset will start; assets already in flight finish their step. The campaign stays paused until someone resumes it, and it may miss its maintenance window.", false]);
    if (paused && opsRoute("resume")) ops.push(["resume", "Resume", "Assets that have not started yet will start again in the next open window.", false]);
    if (opsRoute("abort")) ops.push(["abort", "Abort", "No new work starts. Assets in flight are rolled back to their verified backups; assets already verified stay patched. The campaign ends ‘aborted’ and cannot be resumed.", true]);
    if (ops.length) {
      any = true;
      section.append(h("div", { class: "buttons", id: "operator-controls" }, ops.map(([op, label, consequence, needsReason]) =>
        h("button", { type: "button", id: op + "-campaign", class: op === "abort" ? "danger" : "", onclick: () => confirmOp(section, c, op, label, consequence, needsReason, result, refresh) }, label + " campaign…"))));
    }
  }
  if (!any && !section.querySelector("p")) section.append(h("p", { class: "empty" }, terminalCampaign.includes(c.status) ? "The campaign has ended; nothing more to do." : "Nothing for you to do now."));
  section.append(result);
}

// confirmOp asks before pausing, resuming or aborting, naming what will happen.
function confirmOp(section, c, op, label, consequence, needsReason, result, refresh) {
  const reason = h("textarea", { rows: "2", maxlength: "2000", required: needsReason });
  const dialog = h("dialog", { "aria-labelledby": "confirm-title", id: "confirm-dialog" },
    h("form", { method: "dialog" },
      h("h2", { id: "confirm-title" }, label + " “" + c.name + "”?"),
      h("p", { id: "confirm-consequence" }, consequence),
      field("confirm-reason", needsReason ? "Reason (required)" : "Reason (optional)", reason),
      h("div", { class: "buttons" },
        h("button", { type: "submit", value: "confirm", id: "confirm-" + op, class: op === "abort" ? "danger" : "" }, label + " now"),
        h("button", { type: "submit", value: "cancel", formnovalidate: true, id: "confirm-cancel" }, "Cancel"))));
  section.append(dialog);
  dialog.addEventListener("close", async () => {
    const go = dialog.returnValue === "confirm";
    dialog.remove();
    if (!go) { announce(label + " cancelled."); return; }
    try {
      await api("/api/v1/campaigns/" + encodeURIComponent(c.id) + "/" + op, { method: "POST", body: { reason: reason.value.trim() } });
      announce(label + " sent.", "ok");
      await refresh(true);
    } catch (err) { fill(result, errorBox(err)); }
  });
  dialog.showModal();
  reason.focus();
}
