// Windows: the coming maintenance window openings of every zone, in the zone's time zone with
// its UTC offset, and its blackout periods. Openings are the spans the engine uses (overlapping
// occurrences joined): only the first may have started, and then it is shown as open now.
import { apiAll, h, table, zoned, field, windowLength, durationWords } from "../lib.js";

export async function render(view, _params, query) {
  view.append(h("h1", {}, "Maintenance windows"));
  const n = Math.min(Math.max(parseInt(query.get("openings") || "5", 10) || 5, 1), 50);
  const count = h("select", {}, [3, 5, 10, 20].map((k) => h("option", { value: String(k), selected: k === n }, String(k))));
  count.addEventListener("change", () => { location.hash = "#/windows?openings=" + count.value; });
  view.append(h("form", { class: "inline", onsubmit: (e) => e.preventDefault() }, field("window-count", "Occurrences per zone", count)));
  const zones = await apiAll("/api/v1/windows?openings=" + n);
  for (const z of zones) {
    const w = z.window || {};
    const sec = h("section", { class: "card zone-windows", "aria-labelledby": "zone-" + z.zone_id, dataset: { zone: z.zone_id } },
      h("h2", { id: "zone-" + z.zone_id }, z.zone),
      h("p", {}, "Opens ", h("code", {}, w.cron || "—"), " for ", durationWords(w.duration), " in ", w.time_zone || "UTC", "; at most ", String(w.max_parallel || "—"), " assets at once."),
      table("Coming windows of " + z.zone, ["Opens (zone time)", "Closes (zone time)", "Length"], (z.occurrences || []).map((o) =>
        h("tr", { class: o.open_now ? "open-now" : null }, h("td", {}, o.open_now ? h("strong", {}, "Open now") : zoned(o.start, w.time_zone)),
          h("td", {}, (o.continues ? "not before " : "") + zoned(o.end, w.time_zone)), h("td", {}, windowLength(o)))),
      { empty: "No coming window." }),
      (w.blackouts || []).length ? h("div", {}, h("h3", {}, "Blackout periods (no window opens)"), h("ul", {}, w.blackouts.map((b) =>
        h("li", { class: "blackout" }, "⛔ ", zoned(b.from, w.time_zone), " to ", zoned(b.to, w.time_zone), b.reason ? " — " + b.reason : "")))) : null);
    view.append(sec);
  }
}
