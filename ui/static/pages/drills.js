// Restore drills: each plan restores the newest verified production backup of its product or
// zone onto the test bench every interval and verifies it. The list shows each plan's last
// result, time to restore, next due date and whether it is overdue; engineers plan a drill and
// run one now.
import { api, apiAll, h, fill, table, link, utc, field, can, errorBox, announce, wordBadge } from "../lib.js";

const resultTone = { passed: "ok", failed: "bad", running: "wait" };

function resultBadge(result, attrs = {}) {
  return result ? wordBadge(resultTone[result] || "wait", result, attrs) : wordBadge("wait", "not run yet", attrs);
}

// seconds says a time to restore in words a person reads at a glance.
function seconds(ms) {
  if (ms === undefined || ms === null) return "—";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  return s < 120 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min";
}

function every(hours) {
  return hours % 24 === 0 ? (hours / 24) + (hours === 24 ? " day" : " days") : hours + " h";
}

function dueCell(d) {
  return d.overdue
    ? h("strong", { class: "error", dataset: { overdue: "1" } }, "✗ overdue since " + utc(d.next_due))
    : h("span", {}, utc(d.next_due));
}

export async function renderList(view) {
  view.append(h("h1", {}, "Restore drills"),
    h("p", { class: "hint" }, "A backup counts once it has been restored. Each drill restores the newest verified production backup of its product or zone onto a test-bench asset of the same product, verifies it there and keeps the run as evidence."));
  const list = h("div", {});
  const draw = async () => {
    const drills = await apiAll("/api/v1/drills");
    const overdue = drills.filter((d) => d.overdue).length;
    fill(list,
      h("p", { id: "drills-overdue", class: overdue ? "error" : "ok-text" }, overdue
        ? `✗ ${overdue} ${overdue === 1 ? "drill is" : "drills are"} overdue: no passing run within the interval.`
        : "✓ No drill is overdue."),
      table("Restore drills", ["Drill", "Of", "Every", "Last run (UTC)", "Result", "Time to restore", "Must pass by (UTC)", ""],
        drills.map((d) => h("tr", { dataset: { drill: d.id } },
          h("td", { class: "name" }, link("#/drills/" + encodeURIComponent(d.id), d.name || d.id)),
          h("td", {}, d.product_id ? "product " + d.product_id : "zone " + d.zone_id),
          h("td", {}, every(d.interval_hours)),
          h("td", {}, d.last_run_at ? utc(d.last_run_at) : "—"),
          h("td", {}, resultBadge(d.last_result)),
          h("td", {}, seconds(d.last_restore_ms)),
          h("td", {}, dueCell(d)),
          h("td", {}, can("engineers") ? runButton(d, draw) : null))),
        { id: "drill-list", empty: "No restore drill planned yet." }));
  };
  view.append(list);
  if (can("engineers")) view.append(await addForm(draw));
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  return () => clearInterval(timer);
}

// runButton starts a run of the drill now.
function runButton(d, done) {
  const b = h("button", { type: "button", class: "secondary", dataset: { run: d.id } }, "Run now");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await api("/api/v1/drills/" + encodeURIComponent(d.id) + "/run", { method: "POST" });
      announce("The drill " + (d.name || d.id) + " runs now; its result shows here when it ends.", "ok");
      await done();
    } catch (err) {
      announce("The drill did not start: " + (err.message || err), "error");
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// addForm lets an engineer plan a drill of a product or a production zone.
async function addForm(done) {
  const [products, zones] = await Promise.all([apiAll("/api/v1/products").catch(() => []), apiAll("/api/v1/zones").catch(() => [])]);
  const of = h("select", { required: true },
    h("optgroup", { label: "Products" }, products.map((p) => h("option", { value: "product:" + p.id }, p.name))),
    h("optgroup", { label: "Production zones" }, zones.filter((z) => !z.test_bench).map((z) => h("option", { value: "zone:" + z.id }, z.name))));
  const days = h("input", { type: "number", min: "1", max: "366", step: "1", value: "90", required: true });
  const button = h("button", { type: "submit", id: "drill-add" }, "Plan drill");
  const result = h("div", { id: "drill-add-result", "aria-live": "polite" });
  const form = h("form", { id: "drill-form", class: "card", "aria-labelledby": "drill-form-title" },
    h("h2", { id: "drill-form-title" }, "Plan a restore drill"),
    field("drill-of", "Drill the backups of", of, "A product (its assets in every production zone) or one production zone."),
    field("drill-days", "Must pass every (days)", days, "1 to 366 days; the drill runs on this interval and is overdue when no run passed within it."),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    button.disabled = true;
    const [kind, id] = of.value.split(":");
    const body = { interval_hours: Number(days.value) * 24 };
    body[kind + "_id"] = id;
    try {
      const d = await api("/api/v1/drills", { method: "POST", body });
      result.append(h("p", { class: "ok-text", id: "drill-add-ok" }, "✓ Planned ", link("#/drills/" + encodeURIComponent(d.id), d.name), "."));
      announce("The drill was planned; its schedule runs it every " + every(d.interval_hours) + ".", "ok");
      await done();
    } catch (err) {
      result.append(errorBox(err, { product_id: "Drill the backups of", zone_id: "Drill the backups of", interval_hours: "Must pass every" }));
      announce("The drill was not planned.", "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function renderDrill(view, [id]) {
  const url = "/api/v1/drills/" + encodeURIComponent(id);
  const body = h("div", {});
  view.append(body);
  const draw = async () => {
    let d;
    try {
      d = await api(url);
    } catch (err) {
      if (err.status === 404) { fill(body, h("h1", {}, "Drill not found"), link("#/drills", "Back to the drills")); return; }
      throw err;
    }
    fill(body,
      h("h1", {}, "Restore drill " + (d.name || d.id)),
      h("dl", { class: "facts", id: "drill-facts" },
        h("dt", {}, "Drills"), h("dd", {}, d.product_id ? "product " + d.product_id : "zone " + d.zone_id),
        h("dt", {}, "Must pass every"), h("dd", {}, every(d.interval_hours)),
        h("dt", {}, "Must pass by (UTC)"), h("dd", {}, dueCell(d)),
        h("dt", {}, "Next scheduled run (UTC)"), h("dd", {}, d.next_run ? utc(d.next_run) : (d.scheduled ? "—" : "no schedule"))),
      can("engineers") ? runButton(d, draw) : null,
      table("Runs", ["Started (UTC)", "By", "Result", "Backup restored", "Onto", "Version verified", "Time to restore", "Reason"],
        (d.runs || []).map((r) => h("tr", { dataset: { run: r.id } },
          h("td", {}, utc(r.started_at)), h("td", {}, r.started_by), h("td", {}, resultBadge(r.result)),
          h("td", {}, r.source_asset_id ? [r.source_asset_id, " ", h("small", {}, "(campaign ", link("#/campaigns/" + r.backup_campaign_id, r.backup_campaign_id), ")")] : "—"),
          h("td", {}, r.bench_asset_id || "—"), h("td", {}, r.verified_version || "—"),
          h("td", {}, r.result === "passed" ? seconds(r.restore_ms) : "—"), h("td", {}, r.reason || ""))),
        { id: "drill-runs", empty: "No run yet." }));
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
