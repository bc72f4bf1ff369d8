// Audit: the trail (a Merkle tree log) with filters, its verification against the signed
// checkpoints, the newest checkpoint, exports and the evidence bundle of a campaign.
import { fill, api, apiAll, h, table, utc, short, field, errorBox, hasRoute } from "../lib.js";

const filters = [
  ["actor", "Actor", "text"], ["action", "Action", "text"], ["campaign_id", "Campaign id", "text"],
  ["patch_id", "Patch id", "text"], ["asset_id", "Asset id", "text"], ["from", "From (UTC)", "datetime-local"], ["to", "Until (UTC)", "datetime-local"],
];

function toRFC3339(local) { return local ? local + (local.length === 16 ? ":00Z" : "Z") : ""; }
function fromRFC3339(s) { return s ? s.replace(/Z$/, "").slice(0, 16) : ""; }

export async function render(view, _params, query) {
  view.append(h("h1", {}, "Audit trail"),
    h("p", {}, "Every transition, decision and refused request is an event in an append-only Merkle tree log. At least every minute the server signs the log's size and root hash as a checkpoint; verification recomputes every event, compares the log with every checkpoint and names the first event that does not verify."));

  // Chain verification.
  const verifyOut = h("div", { id: "verify-result", "aria-live": "polite" });
  const verifyBtn = h("button", { type: "button", id: "verify-chain" }, "Verify the log");
  verifyBtn.addEventListener("click", async () => {
    fill(verifyOut, h("p", {}, "Verifying…"));
    try {
      const r = await api("/api/v1/audit/verify");
      verifyOut.dataset.ok = String(r.ok);
      fill(verifyOut, r.ok
        ? h("p", { class: "ok-text" }, "✓ Log intact: ", String(r.events), " events verified, root ", h("code", {}, short(r.tree_root, 16)),
          r.notes ? ", matching " + r.notes + " signed checkpoints (the newest of a log of " + r.note_size + " events)" : ", no signed checkpoints compared",
          r.checkpoints ? " and " + r.checkpoints + " checkpoints of the older chain" : "", ".")
        : h("p", { class: "error", role: "alert" }, "✗ Log broken", r.broken_at ? " at event #" + r.broken_at : "", ": ", r.problem || "unknown problem"));
    } catch (err) { fill(verifyOut, errorBox(err)); }
  });
  // The newest signed checkpoint, as GET /api/v1/audit/checkpoint serves it.
  const cpOut = h("pre", { id: "audit-checkpoint", class: "note" });
  const cpSection = h("details", {}, h("summary", {}, "Newest signed checkpoint"),
    h("p", {}, "A C2SP checkpoint note: the log's origin, size and root hash, signed with the key at ", h("code", {}, "/api/v1/audit/key"),
      ". docs/audit-format.md says how to check it and the inclusion proofs without otpatch."), cpOut);
  cpSection.addEventListener("toggle", async () => {
    if (!cpSection.open || cpOut.textContent) return;
    try {
      const res = await api("/api/v1/audit/checkpoint", { raw: true });
      cpOut.textContent = res.ok ? await res.text() : "No checkpoint: " + ((await res.json().catch(() => ({}))).detail || res.status);
    } catch (err) { fill(cpOut, errorBox(err)); }
  });
  view.append(h("section", { "aria-labelledby": "verify-title", class: "card" }, h("h2", { id: "verify-title" }, "Log verification"), verifyBtn, verifyOut, cpSection));

  // Filters.
  const inputs = {};
  const form = h("form", { id: "audit-filters", class: "card filters" }, h("h2", {}, "Search"));
  for (const [name, label, type] of filters) {
    inputs[name] = h("input", { type, name, autocomplete: "off", value: type === "datetime-local" ? fromRFC3339(query.get(name)) : query.get(name) || "" });
    form.append(field("audit-" + name, label, inputs[name]));
  }
  form.append(h("div", { class: "buttons" }, h("button", { type: "submit", id: "audit-search" }, "Search"),
    h("button", { type: "button", onclick: () => { location.hash = "#/audit"; } }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = "#/audit?" + params().toString();
  });
  view.append(form);

  function params() {
    const q = new URLSearchParams();
    for (const [name, , type] of filters) {
      const v = inputs[name].value.trim();
      if (v) q.set(name, type === "datetime-local" ? toRFC3339(v) : v);
    }
    return q;
  }

  // Exports and the evidence bundle, when the server has them.
  const exports = h("section", { "aria-labelledby": "export-title", id: "exports" }, h("h2", { id: "export-title" }, "Exports"));
  const q = params();
  if (hasRoute("GET", "/api/v1/audit/export")) {
    exports.append(h("p", {}, "The events matching the search: ",
      h("a", { href: "/api/v1/audit/export?" + new URLSearchParams([...q, ["format", "jsonl"]]).toString(), download: "otpatch-audit.jsonl", id: "export-jsonl" }, "JSON Lines"), " · ",
      h("a", { href: "/api/v1/audit/export?" + new URLSearchParams([...q, ["format", "csv"]]).toString(), download: "otpatch-audit.csv", id: "export-csv" }, "CSV")));
  }
  if (hasRoute("GET", "/api/v1/campaigns/{campaignID}/evidence")) {
    const campaigns = await apiAll("/api/v1/campaigns").catch(() => []);
    const sel = h("select", {}, campaigns.map((c) => h("option", { value: c.id, selected: c.id === q.get("campaign_id") }, c.name + " (" + c.status.replaceAll("_", " ") + ")")));
    const dl = h("a", { id: "evidence-download", download: "" }, "Download the evidence bundle");
    const update = () => { dl.href = "/api/v1/campaigns/" + encodeURIComponent(sel.value) + "/evidence"; };
    sel.addEventListener("change", update);
    if (campaigns.length) {
      update();
      exports.append(h("div", { class: "inline" }, field("evidence-campaign", "Evidence bundle of campaign", sel), dl));
    }
  }
  if (exports.childElementCount > 1) view.append(exports);

  // Events.
  const list = h("section", { "aria-labelledby": "events-title" }, h("h2", { id: "events-title" }, "Events"));
  view.append(list);
  // after is the cursor of the next page, as the server gave it; "" for the first page.
  let after = "";
  const more = h("button", { type: "button", id: "audit-more" }, "Next page");
  async function page() {
    const qq = params();
    qq.set("limit", "100");
    if (after) qq.set("after", after);
    const res = await api("/api/v1/audit/events?" + qq.toString());
    list.querySelector("#audit-more")?.remove();
    const first = res.items.length ? res.items[0].seq : 0;
    list.append(table("Audit events" + (after && first ? " from #" + first : ""), ["#", "When (UTC)", "Actor", "Role", "Action", "Subject", "Details", "Hash"], res.items.map((e) =>
      h("tr", {}, h("td", {}, String(e.seq)), h("td", {}, utc(e.at)), h("td", {}, e.actor), h("td", {}, e.role), h("td", {}, e.action),
        h("td", {}, e.subject_type + " " + e.subject_id), h("td", {}, e.details && e.details !== "{}" ? h("details", {}, h("summary", {}, "details"), h("pre", {}, pretty(e.details))) : ""),
        h("td", {}, h("code", { title: e.hash }, short(e.hash, 10))))),
    { empty: "No event matches.", id: after ? undefined : "audit-events" }));
    if (res.next) { after = res.next; list.append(more); }
  }
  more.addEventListener("click", () => page().catch((err) => list.append(errorBox(err))));
  await page().catch((err) => list.append(errorBox(err)));
}

function pretty(s) {
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; }
}
