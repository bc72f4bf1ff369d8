// Endpoints and agents: how each asset is reached, its pull agent with its last contact (a
// silent agent marked stale) and what host the agent says it runs on; and the unknown devices
// agents and imported network scans saw, each waiting for an engineer to claim or reject it.
import { api, apiAll, h, fill, table, field, utc, can, errorBox, announce, wordBadge, sendFile, refusal } from "../lib.js";

const stateTone = { open: "warn", claimed: "ok", rejected: "wait" };

function reach(e) {
  if (!e.endpoint) return e.adapter === "simulator" ? "simulated" : "— (no endpoint set)";
  return e.endpoint.address ? e.endpoint.address + (e.endpoint.user ? " as " + e.endpoint.user : "") : "agent dials out";
}

export async function render(view) {
  view.append(h("h1", {}, "Endpoints & agents"),
    h("p", { class: "hint" }, "How each asset is reached. A pull agent that has not asked for work for 5 minutes, or never, is stale."));
  const endpoints = h("div", {});
  const devices = h("div", {});
  view.append(endpoints, h("h2", { id: "unknown-title" }, "Unknown devices"),
    h("p", { class: "hint" }, "Devices agents and imported network scans saw that no asset of the inventory knows. Claim one for an asset, or reject it with the reason; either clears its alarm."),
    devices);
  const drawEndpoints = async () => {
    const rows = await apiAll("/api/v1/endpoints");
    fill(endpoints, table("Endpoints and agents", ["Asset", "Adapter", "Endpoint", "Agent", "Last contact", "Host"],
      rows.map((e) => h("tr", { dataset: { asset: e.asset_id } },
        h("td", { class: "name" }, e.name), h("td", {}, e.adapter), h("td", {}, reach(e)),
        h("td", {}, e.agent_credential_id ? e.agent_credential_id : e.adapter === "agent" ? "no credential" : "—"),
        h("td", { class: "contact" }, e.last_contact_at ? utc(e.last_contact_at) : "never",
          e.stale ? [" ", wordBadge("warn", "stale", { class: "stale" })] : null),
        h("td", {}, e.host ? [e.host.hostname, e.host.os ? " · " + e.host.os : "", e.host.known ? null : [" ", wordBadge("bad", "unknown host")]] : "—"))),
    { id: "endpoint-list", empty: "No asset yet." }));
  };
  const drawDevices = async () => {
    const [ds, assets] = await Promise.all([apiAll("/api/v1/discoveries"), can("engineers") ? apiAll("/api/v1/assets") : []]);
    fill(devices, table("Unknown devices", ["Device", "Addresses", "MAC", "Seen", "Source", "State", ""],
      ds.map((d) => h("tr", { dataset: { discovery: d.id } },
        h("td", { class: "name" }, d.hostname || "—", d.vendor || d.model ? h("div", { class: "hint" }, [d.vendor, d.model].filter(Boolean).join(" ")) : null),
        h("td", {}, d.addresses.join(", ") || "—"), h("td", {}, d.macs.join(", ") || "—"),
        h("td", {}, utc(d.last_seen_at), d.sightings > 1 ? h("div", { class: "hint" }, d.sightings + " sightings since " + utc(d.first_seen_at)) : null),
        h("td", {}, d.source === "agent" ? "agent of " + d.reported_by : d.source === "site" ? d.reported_by + " (neighbour table)" : "import by " + d.reported_by),
        h("td", {}, wordBadge(stateTone[d.state] || "wait", d.state, { class: "discovery-state" }),
          d.state === "claimed" ? h("div", { class: "hint" }, "as " + d.asset_id) : null,
          d.state === "rejected" ? h("div", { class: "hint" }, d.reason) : null),
        h("td", {}, d.state === "open" && can("engineers") ? decide(d, assets, drawAll) : null))),
    { id: "discovery-list", empty: "No unknown device was seen." }));
  };
  const drawAll = async () => { await Promise.all([drawEndpoints(), drawDevices()]); };
  if (can("engineers")) view.append(askSites(drawDevices), scanForm(drawDevices));
  await drawAll();
}

// askSites asks the worker of every site with site workers for its neighbour table now (the
// hourly run does it too) and says what each saw, or why a site was skipped.
function askSites(reload) {
  const button = h("button", { type: "button", id: "ask-sites" }, "Ask the site workers now");
  const result = h("div", { id: "sites-result", "aria-live": "polite" });
  button.addEventListener("click", async () => {
    result.replaceChildren(h("p", { class: "hint" }, "Waiting for each site's worker (at most 30 seconds)…"));
    button.disabled = true;
    try {
      const doc = await api("/api/v1/discoveries/sites", { method: "POST" });
      result.replaceChildren(doc.sites.length === 0
        ? h("p", { class: "hint" }, "No site runs its device work on site workers.")
        : h("ul", { id: "sites-reports" }, doc.sites.map((r) => h("li", { dataset: { site: r.site_id } }, r.skipped
          ? [h("strong", {}, r.site_name), ": skipped: " + r.skipped]
          : [h("strong", {}, r.site_name), ": its worker saw " + r.neighbors + (r.neighbors === 1 ? " neighbour" : " neighbours") + "; " + r.new + " new unknown, " + r.alarms + " alarms raised",
            h("div", { class: "hint" }, r.worker)]))));
      await reload();
    } catch (err) {
      result.replaceChildren(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "sites-title" },
    h("h2", { id: "sites-title" }, "What the site workers see"),
    h("p", {}, "Every hour, the worker of each site whose device work runs at the site reads its host's neighbour table: the IP and MAC address of each device it exchanged traffic with. No packet is sent to the control network."),
    button, result);
}

// scanForm imports a network scan: nmap's XML report (nmap -oX) or a CSV of sightings, all or
// nothing; a refused file lists each bad host or row.
function scanForm(reload) {
  const file = h("input", { type: "file", accept: ".xml,.csv,application/xml,text/xml,text/csv", required: true });
  const button = h("button", { type: "submit", id: "import-scan" }, "Import scan");
  const result = h("div", { id: "scan-result", "aria-live": "polite" });
  const form = h("form", { id: "scan-form", class: "card", "aria-labelledby": "scan-title" },
    h("h2", { id: "scan-title" }, "Import a network scan"),
    h("p", {}, "nmap's XML report (", h("code", {}, "nmap -oX"), "; hosts found up), or a CSV whose first line names some of ",
      h("code", {}, "ip,mac,hostname,vendor,model,seen_at"), " (a switch's address table). All or nothing: if a host or row is wrong, nothing is imported and each is listed."),
    field("scan-file", "Scan file", file, "At most 1 MiB and 5,000 hosts or rows. Scan only what the plant's rules allow: active scans can upset old controllers."),
    button, result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    result.replaceChildren();
    if (!file.files.length) {
      result.append(errorBox(new Error("choose a scan file to import")));
      return;
    }
    button.disabled = true;
    try {
      const body = await file.files[0].text();
      const type = body.replace(/^\ufeff/, "").trimStart().startsWith("<") ? "application/xml" : "text/csv";
      const { ok, status, doc } = await sendFile("/api/v1/discoveries/import", body, type);
      if (!ok) {
        refusal(result, "scan", status, doc);
        announce("The scan was refused; nothing was imported.", "error");
        return;
      }
      const said = doc.rows + " seen: " + doc.known + " known, " + doc.new + " new unknown, " + doc.seen + " seen before; " + doc.alarms + " alarms raised.";
      result.append(h("p", { class: "ok-text", id: "scan-ok" }, "✓ " + said));
      announce("Imported the scan: " + said, "ok");
      form.reset();
      await reload();
    } catch (err) {
      result.append(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// decide lets an engineer claim a device for an asset or reject it with a reason.
function decide(d, assets, done) {
  const asset = h("select", { "aria-label": "Asset for " + (d.hostname || d.id), class: "claim-asset" },
    h("option", { value: "" }, "Claim for…"), ...assets.map((a) => h("option", { value: a.id }, a.name)));
  const claim = h("button", { type: "button", class: "claim" }, "Claim");
  const reason = h("input", { type: "text", maxlength: "500", placeholder: "why it is no asset", "aria-label": "Reason to reject " + (d.hostname || d.id), class: "reject-reason" });
  const reject = h("button", { type: "button", class: "reject danger" }, "Reject");
  const out = h("div", { "aria-live": "polite" });
  const send = async (path, body, word) => {
    out.replaceChildren();
    claim.disabled = reject.disabled = true;
    try {
      await api("/api/v1/discoveries/" + encodeURIComponent(d.id) + path, { method: "POST", body });
      announce("The device was " + word + "; its alarm is cleared.", "ok");
      await done();
    } catch (err) {
      out.append(errorBox(err, { asset_id: "Asset", reason: "Reason" }));
      claim.disabled = reject.disabled = false;
    }
  };
  claim.addEventListener("click", () => send("/claim", { asset_id: asset.value }, "claimed"));
  reject.addEventListener("click", () => send("/reject", { reason: reason.value }, "rejected"));
  return h("div", { class: "decide" }, asset, " ", claim, " ", reason, " ", reject, out);
}
