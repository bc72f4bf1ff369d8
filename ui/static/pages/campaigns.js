// Campaigns: the list, planning one from a qualified patch, and the campaign page — stage
// timeline, plan and digest, waves with per-asset progress (polled live), approval, operator
// controls, rollback details.
import { fill, session, api, can, h, badge, table, link, utc, zoned, short, field, errorBox, announce, hasRoute, terminalCampaign, stateWord } from "../lib.js";

export async function renderList(view) {
  view.append(h("h1", {}, "Campaigns"));
  if (can("engineers")) view.append(h("p", {}, link("#/campaigns/new", "Plan a campaign", { class: "button", id: "new-campaign" })));
  const cs = await api("/api/v1/campaigns");
  view.append(table("Campaigns", ["Campaign", "State", "Detail", "Created by", "Next window (UTC)", "Updated"],
    cs.map((c) => h("tr", {}, h("td", {}, link("#/campaigns/" + c.id, c.name)), h("td", {}, badge(c.status)), h("td", {}, c.detail || ""),
      h("td", {}, c.created_by), h("td", {}, c.next_window_start ? utc(c.next_window_start) : "—"), h("td", {}, utc(c.updated_at)))),
    { empty: "No campaigns yet.", id: "campaign-list" }));
}

export async function renderNew(view, _params, query) {
  view.append(h("h1", {}, "Plan a campaign"),
    h("p", {}, "A campaign applies one qualified patch to chosen assets. otpatch adds the product's test-bench assets, validates the patch there first, and then waits for approval of the plan."));
  const [patches, zones] = await Promise.all([api("/api/v1/patches"), api("/api/v1/zones")]);
  const bench = new Set(zones.filter((z) => z.test_bench).map((z) => z.id));
  const qualified = patches.filter((p) => p.status === "qualified");
  if (!qualified.length) {
    view.append(h("p", { class: "empty" }, "No qualified patch yet; a campaign needs one."));
    return;
  }
  const select = h("select", { required: true }, qualified.map((p) => h("option", { value: p.id, selected: p.id === query.get("patch") }, p.patch_ref + " " + p.version + " — " + p.title)));
  const name = h("input", { type: "text", required: true, maxlength: "200", autocomplete: "off" });
  const assets = h("fieldset", { id: "campaign-assets" });
  const result = h("div", {});
  const form = h("form", { id: "campaign-form", class: "card" },
    field("campaign-patch", "Patch", select), field("campaign-name", "Campaign name", name, "Say what and where, e.g. “HMI auth bypass, packaging line 2”."),
    assets, h("button", { type: "submit", id: "create-campaign" }, "Create campaign and start bench validation"), result);
  view.append(form);

  async function loadAssets() {
    const p = await api("/api/v1/patches/" + encodeURIComponent(select.value));
    const rows = ((p.qualification_report || {}).applicable || []);
    fill(assets, h("legend", {}, "Production assets to patch"));
    const prod = rows.filter((a) => !bench.has(a.zone_id));
    const tb = rows.filter((a) => bench.has(a.zone_id));
    if (!prod.length) assets.append(h("p", { class: "empty" }, "No production asset runs an affected version."));
    for (const a of prod) {
      const id = "asset-" + a.asset_id;
      assets.append(h("div", { class: "check" }, h("input", { type: "checkbox", id, name: "asset", value: a.asset_id, checked: true }),
        h("label", { for: id }, a.name + " (" + a.zone_id + ", " + a.installed_version + ")")));
    }
    if (tb.length) assets.append(h("p", { class: "hint" }, "Added for bench validation: " + tb.map((a) => a.name).join(", ")));
  }
  select.addEventListener("change", () => loadAssets().catch((err) => fill(assets, errorBox(err))));
  await loadAssets();

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    const ids = [...assets.querySelectorAll("input[name=asset]:checked")].map((c) => c.value);
    if (!ids.length) { result.append(errorBox(new Error("choose at least one production asset"))); return; }
    try {
      const c = await api("/api/v1/campaigns", { method: "POST", body: { name: name.value.trim(), patch_id: select.value, asset_ids: ids } });
      announce("Campaign " + c.name + " created; bench validation starts.", "ok");
      location.hash = "#/campaigns/" + c.id;
    } catch (err) {
      result.append(errorBox(err));
    }
  });
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
  const actions = h("section", { "aria-labelledby": "actions-title", id: "actions" });
  const waves = h("section", { "aria-labelledby": "waves-title", id: "waves" });
  const rollback = h("section", { "aria-labelledby": "rollback-title", id: "rollback" });
  const plan = h("section", { "aria-labelledby": "plan-title", id: "plan" });
  const history = h("section", { "aria-labelledby": "history-title" });
  view.append(header, timeline, actions, waves, rollback, plan, history);
  let actionsKey = "";

  const draw = (force) => {
    const targets = (c.plan && c.plan.targets) || [];
    const prodTarget = targets.find((t) => !t.test_bench) || targets[0];
    const tz = prodTarget && prodTarget.window ? prodTarget.window.time_zone : "";
    const paused = !!(c.live && c.live.paused);
    fill(header, 
      h("h1", {}, c.name),
      h("p", { class: "lead" }, "State: ", badge(c.status, { id: "campaign-status" }), paused ? [" ", badge("paused", { id: "campaign-paused" })] : null,
        c.detail ? h("span", { id: "campaign-detail" }, " — " + c.detail) : null),
      h("dl", { class: "facts" },
        h("dt", {}, "Patch"), h("dd", {}, link("#/patches/" + c.patch_id, c.patch_id)),
        h("dt", {}, "Created"), h("dd", {}, utc(c.created_at) + " by ", h("span", { id: "campaign-creator" }, c.created_by)),
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
        return h("li", { class: "stage stage-" + cls, "aria-current": i === cur ? "step" : null },
          h("span", { class: "stage-name" }, s.name), " — ", h("span", { class: "stage-state" }, state));
      })));

    drawWaves(waves, c);
    drawRollback(rollback, c);
    drawPlan(plan, c, targets);
    drawHistory(history, c);

    const key = [c.status, paused, (c.approvals || []).length].join("|");
    if (force || (key !== actionsKey && !actions.querySelector("dialog[open]") && !actions.contains(document.activeElement))) {
      actionsKey = key;
      drawActions(actions, c, paused, refresh);
      if (force) { const t = actions.querySelector("h2"); t.setAttribute("tabindex", "-1"); t.focus(); }
    }
  };

  // refresh reloads the campaign; force redraws the actions even while one has focus (after
  // the user acted).
  async function refresh(force) {
    c = await api(url + "?live=1");
    draw(force);
  }
  draw();
  const timer = setInterval(() => {
    if (terminalCampaign.includes(c.status)) return;
    refresh().catch(() => {});
  }, 2000);
  return () => clearInterval(timer);
}

function drawWaves(section, c) {
  const byWave = new Map();
  for (const a of c.assets || []) {
    const w = a.test_bench ? 0 : a.wave;
    if (!byWave.has(w)) byWave.set(w, []);
    byWave.get(w).push(a);
  }
  const done = (c.assets || []).filter((a) => a.state === "done").length;
  fill(section, h("h2", { id: "waves-title" }, "Waves"),
    h("p", { id: "waves-summary" }, done + " of " + (c.assets || []).length + " assets done."));
  for (const w of [...byWave.keys()].sort((a, b) => a - b)) {
    const list = byWave.get(w);
    const label = w === 0 ? "Test bench" : "Wave " + w + " (production)";
    const wDone = list.filter((a) => a.state === "done").length;
    section.append(h("h3", {}, label + " — " + wDone + " of " + list.length + " done"),
      table(label, ["Asset", "Version", "State", "Progress"], list.map((a) => {
        const step = assetSteps.indexOf(a.state);
        const bad = rollbackStates.includes(a.state);
        const value = step >= 0 ? step : bad ? assetSteps.length - 1 : 0;
        const text = step >= 0 ? "step " + step + " of " + (assetSteps.length - 1) + ": " + stateWord(a.state) : stateWord(a.state);
        return h("tr", { dataset: { asset: a.asset_id } },
          h("td", {}, a.name || a.asset_id),
          h("td", {}, (a.from_version || "?") + " → " + (a.to_version || "?")),
          h("td", {}, badge(a.state, { class: "asset-state" })),
          h("td", {}, h("progress", { max: String(assetSteps.length - 1), value: String(value), "aria-label": (a.name || a.asset_id) + " progress", class: bad ? "bad" : "" }),
            " ", h("span", { class: "progress-text" }, text)));
      })));
  }
}

function drawRollback(section, c) {
  const rows = (c.assets || []).filter((a) => rollbackStates.includes(a.state) || a.error);
  if (!rows.length) { section.replaceChildren(); section.hidden = true; return; }
  section.hidden = false;
  fill(section, h("h2", { id: "rollback-title" }, "Rollback"),
    h("p", {}, "Verification failed on these assets; otpatch restored their verified backups and verified the old version again. An asset in ‘rollback failed’ needs manual action."),
    table("Rolled-back assets", ["Asset", "State", "What failed", "Restored to", "Backup object", "Backup SHA-256"], rows.map((a) =>
      h("tr", {}, h("td", {}, a.name || a.asset_id), h("td", {}, badge(a.state)), h("td", {}, a.error || "—"), h("td", {}, a.from_version || "—"),
        h("td", {}, h("code", {}, a.backup_key || "—")), h("td", {}, h("code", { title: a.backup_sha256 || "" }, short(a.backup_sha256, 16))))),
    { id: "rollback-details" }));
}

function drawPlan(section, c, targets) {
  fill(section, h("h2", { id: "plan-title" }, "Plan"),
    h("p", {}, "Approvers approve this plan digest; any change to the plan voids earlier approvals."),
    h("p", {}, "Plan digest: ", h("code", { id: "plan-digest" }, c.plan_digest)),
    h("details", {}, h("summary", {}, "Targets and windows (" + targets.length + ")"),
      table("Plan targets", ["Asset", "Zone", "SL-T", "Safety-critical", "Test bench", "Window"], targets.map((t) =>
        h("tr", {}, h("td", {}, t.asset_id), h("td", {}, t.zone_id), h("td", {}, String(t.sl_t)), h("td", {}, t.safety_critical ? "yes" : "no"),
          h("td", {}, t.test_bench ? "yes" : "no"), h("td", {}, t.window ? h("code", {}, t.window.cron) : "—", t.window ? " " + t.window.duration + ", " + t.window.time_zone : ""))))));
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
        } catch (err) { result.append(errorBox(err)); }
      };
      section.append(h("form", { class: "card", id: "decision-form", onsubmit: (e) => e.preventDefault() },
        h("p", {}, "You approve the plan with digest ", h("code", {}, short(c.plan_digest, 16)), ": this patch, these targets and their windows."),
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
    if (!paused && opsRoute("pause")) ops.push(["pause", "Pause", "No new asset will start; assets already in flight finish their step. The campaign stays paused until someone resumes it, and it may miss its maintenance window.", false]);
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
