// Windows: the coming maintenance window openings of every zone, in the zone's time zone with
// its UTC offset, and its blackout periods. Openings are the spans the engine uses (overlapping
// occurrences joined): only the first may have started, and then it is shown as open now.
//
// Above the per-zone lists, a month calendar (Monday-first weeks, previous and next month) draws
// each opening in its day as a block naming the zone, its local start and end and its length,
// with the campaigns waiting for it, the blackout days and today marked. Days are UTC days unless
// another time zone is chosen; the days of the neighbouring months that fill its first and last
// weeks are drawn too, dimmed.
import { api, apiAll, h, fill, table, zoned, field, windowLength, durationWords, badge, link } from "../lib.js";

// calendarOpenings is how many openings of each zone the calendar asks for (the API's most).
const calendarOpenings = 100;
// crowded is how many openings of one zone a day cell draws one by one; more are summed up.
const crowded = 4;
const dayMs = 86400000;

export async function render(view, _params, query) {
  view.append(h("h1", {}, "Maintenance windows"));
  const n = Math.min(Math.max(parseInt(query.get("openings") || "5", 10) || 5, 1), 50);
  const count = h("select", {}, [3, 5, 10, 20].map((k) => h("option", { value: String(k), selected: k === n }, String(k))));
  count.addEventListener("change", () => { location.hash = "#/windows?openings=" + count.value; });
  const [zones, campaigns] = await Promise.all([apiAll("/api/v1/windows?openings=" + calendarOpenings), waitingCampaigns()]);
  view.append(await calendar(zones, campaigns));
  view.append(h("h2", {}, "Coming windows by zone"));
  view.append(h("form", { class: "inline", onsubmit: (e) => e.preventDefault() }, field("window-count", "Occurrences per zone", count)));
  for (const z of zones) {
    const w = z.window || {};
    const sec = h("section", { class: "card zone-windows", "aria-labelledby": "zone-" + z.zone_id, dataset: { zone: z.zone_id } },
      h("h2", { id: "zone-" + z.zone_id }, z.zone),
      h("p", {}, "Opens ", h("code", {}, w.cron || "—"), " for ", durationWords(w.duration), " in ", w.time_zone || "UTC", "; at most ", String(w.max_parallel || "—"), " assets at once."),
      table("Coming windows of " + z.zone, ["Opens (zone time)", "Closes (zone time)", "Length"], (z.occurrences || []).slice(0, n).map((o) =>
        h("tr", { class: o.open_now ? "open-now" : null }, h("td", {}, o.open_now ? h("strong", {}, "Open now") : zoned(o.start, w.time_zone)),
          h("td", {}, (o.continues ? "not before " : "") + zoned(o.end, w.time_zone)), h("td", {}, windowLength(o)))),
      { empty: "No coming window." }),
      (w.blackouts || []).length ? h("div", {}, h("h3", {}, "Blackout periods (no window opens)"), h("ul", {}, w.blackouts.map((b) =>
        h("li", { class: "blackout" }, "⛔ ", zoned(b.from, w.time_zone), " to ", zoned(b.to, w.time_zone), b.reason ? " — " + b.reason : "")))) : null);
    view.append(sec);
  }
}

// waitingCampaigns are the campaigns that wait for a window opening (next_window_start set).
async function waitingCampaigns() {
  try {
    return (await apiAll("/api/v1/campaigns")).filter((c) => c.next_window_start);
  } catch {
    return []; // the calendar still shows the openings
  }
}

// --- Dates in a time zone ---

const partFormats = new Map();

// partsIn is a moment's calendar date and clock time in a time zone.
function partsIn(ms, tz) {
  if (!partFormats.has(tz)) {
    partFormats.set(tz, new Intl.DateTimeFormat("en-GB", { timeZone: tz, year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric", hourCycle: "h23" }));
  }
  const p = Object.fromEntries(partFormats.get(tz).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: +p.year, m: +p.month, d: +p.day, hh: +p.hour, mm: +p.minute, ss: +p.second };
}

// offsetMs is how far a time zone's clock is ahead of UTC at a moment.
function offsetMs(ms, tz) {
  const p = partsIn(ms, tz);
  return Date.UTC(p.y, p.m - 1, p.d, p.hh, p.mm, p.ss) - Math.floor(ms / 1000) * 1000;
}

// midnight is the moment a civil day (Date.UTC of its date) starts in a time zone.
function midnight(civil, tz) {
  let ms = civil - offsetMs(civil, tz);
  ms = civil - offsetMs(ms, tz); // once more across a change of offset
  return ms;
}

// civilDay is the civil date (as Date.UTC of it) a moment falls on in a time zone.
function civilDay(ms, tz) {
  const p = partsIn(ms, tz);
  return Date.UTC(p.y, p.m - 1, p.d);
}

const pad = (v) => String(v).padStart(2, "0");
const weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const weekdayOf = (civil) => weekdays[(new Date(civil).getUTCDay() + 6) % 7];
const dateWords = (civil) => { const d = new Date(civil); return `${d.getUTCDate()} ${months[d.getUTCMonth()]}`; };
const isoDate = (civil) => new Date(civil).toISOString().slice(0, 10);
const clock = (ms, tz) => { const p = partsIn(ms, tz); return pad(p.hh) + ":" + pad(p.mm); };

// offsetWords is a time zone's UTC offset at a moment: "UTC+01:00".
function offsetWords(ms, tz) {
  const off = Math.round(offsetMs(ms, tz) / 60000);
  const a = Math.abs(off);
  return "UTC" + (off < 0 ? "−" : "+") + pad(Math.floor(a / 60)) + ":" + pad(a % 60);
}

// --- The calendar ---

// calendar builds the month calendar of the zones' openings, with its controls.
async function calendar(zones, campaigns) {
  const zoneNames = new Map(zones.map((z) => [z.zone_id, z.zone]));
  const zoneTZs = [...new Set(zones.map((z) => (z.window || {}).time_zone).filter((tz) => tz && tz !== "UTC"))].sort();
  const shown = await campaignsByOpening(zones, campaigns);
  const state = { tz: "UTC", month: 0 };

  const prev = h("button", { type: "button", id: "calendar-prev" }, "◀ Previous month");
  const next = h("button", { type: "button", id: "calendar-next" }, "Next month ▶");
  const range = h("p", { id: "calendar-range", class: "calendar-range", "aria-live": "polite" });
  const tzSelect = h("select", {}, h("option", { value: "UTC" }, "UTC"), zoneTZs.map((tz) => h("option", { value: tz }, tz)));
  const grid = h("div", { id: "calendar-grid" });
  const notes = h("div", { id: "calendar-notes" });

  const draw = () => {
    const m = monthDays(state.tz, state.month);
    const days = m.days, last = days[days.length - 1];
    fill(range, h("strong", { id: "calendar-month" }, m.name), " — weeks from ", weekdayOf(days[0]), " ", dateWords(days[0]), " to ", weekdayOf(last), " ", dateWords(last), " ",
      String(new Date(last).getUTCFullYear()), " (days in ", state.tz, ")");
    prev.disabled = state.month <= 0;
    fill(grid, calendarTable(zones, shown, m, state.tz));
    fill(notes, previewNotes(zones, days, state.tz));
  };
  prev.addEventListener("click", () => { state.month = Math.max(0, state.month - 1); draw(); });
  next.addEventListener("click", () => { state.month += 1; draw(); });
  tzSelect.addEventListener("change", () => { state.tz = tzSelect.value; draw(); });
  draw();

  return h("section", { class: "card window-calendar", id: "window-calendar", "aria-labelledby": "calendar-title" },
    h("h2", { id: "calendar-title" }, "Calendar of window openings"),
    h("div", { class: "calendar-controls" },
      h("div", { class: "buttons" }, prev, next),
      field("calendar-tz", "Days in", tzSelect, "Each opening also shows its zone's own clock.")),
    range,
    h("p", { class: "hint", id: "calendar-start-hint" }, "The calendar starts with this month: openings already past are not previewed."),
    grid, notes,
    campaigns.length && !shown.size ? h("p", { class: "hint" }, "No waiting campaign's next window is among the previewed openings.") : null,
    zoneNames.size ? null : h("p", { class: "empty" }, "No zone has a maintenance window."));
}

// campaignsByOpening maps "zone id|opening start" to the campaigns that wait for that opening:
// a campaign's next window starts within it. When openings of several zones hold it, the
// campaign's plan tells which of those zones it patches.
async function campaignsByOpening(zones, campaigns) {
  const out = new Map();
  for (const c of campaigns) {
    const at = Date.parse(c.next_window_start);
    const hits = [];
    for (const z of zones) {
      for (const o of z.occurrences || []) {
        if (Date.parse(o.start) <= at && at < Date.parse(o.end)) hits.push([z.zone_id, o.start]);
      }
    }
    let keep = hits;
    if (hits.length > 1) {
      try {
        const detail = await api("/api/v1/campaigns/" + encodeURIComponent(c.id));
        // The plan's waves name every production zone; a large plan's target list is cut short.
        const plan = detail.plan || {};
        const planned = new Set(plan.waves && plan.waves.length ? plan.waves.map((w) => w.zone_id)
          : (plan.targets || []).filter((t) => !t.test_bench).map((t) => t.zone_id));
        keep = hits.filter(([zone]) => planned.has(zone));
      } catch { keep = []; }
    }
    for (const [zone, start] of keep) {
      const key = zone + "|" + Date.parse(start);
      if (!out.has(key)) out.set(key, []);
      out.get(key).push(c);
    }
  }
  return out;
}

// horizon is the end of what the server previewed of a zone: its last opening's end when it
// gave as many as asked (more follow) or that opening is still open at its end, else Infinity.
function horizon(z) {
  const occ = z.occurrences || [];
  const last = occ[occ.length - 1];
  return last && (occ.length >= calendarOpenings || last.continues) ? Date.parse(last.end) : Infinity;
}

// monthDays is the month offset months after today's in a time zone: its name, its first and
// last day, and the days of its Monday-first weeks (28 to 42, civil dates as Date.UTC).
function monthDays(tz, offset) {
  const today = new Date(civilDay(Date.now(), tz));
  const first = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + offset, 1);
  const last = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + offset + 1, 0);
  const start = first - ((new Date(first).getUTCDay() + 6) % 7) * dayMs;
  const end = last + (6 - (new Date(last).getUTCDay() + 6) % 7) * dayMs;
  const days = [];
  for (let d = start; d <= end; d += dayMs) days.push(d);
  const f = new Date(first);
  return { name: monthNames[f.getUTCMonth()] + " " + f.getUTCFullYear(), first, last, days };
}

const monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

function calendarTable(zones, shown, m, tz) {
  const today = civilDay(Date.now(), tz);
  const days = m.days;
  const cells = days.map((civil, i) => dayCell(zones, shown, civil, tz, civil === today, i, civil < m.first || civil > m.last));
  const weeks = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(h("tr", {}, cells.slice(i, i + 7)));
  return h("div", { class: "calendar-wrap", role: "region", "aria-label": "Window openings by day", tabindex: "0" },
    h("table", { class: "calendar month", id: "calendar-table", dataset: { month: isoDate(m.first).slice(0, 7) } },
      h("caption", {}, "Window openings in ", m.name, " (weeks from ", dateWords(days[0]), " to ", dateWords(days[days.length - 1]), "), days in ", tz),
      h("thead", {}, h("tr", {}, weekdays.map((d) => h("th", { scope: "col" }, d)))),
      h("tbody", {}, weeks)));
}

// dayCell is one day: its date, the blackouts on it and the openings that overlap it.
function dayCell(zones, shown, civil, tz, isToday, index, outside) {
  const from = midnight(civil, tz), to = midnight(civil + dayMs, tz);
  const blocks = [], blackouts = [];
  zones.forEach((z, zi) => {
    const w = z.window || {};
    const ztz = w.time_zone || "UTC";
    for (const b of w.blackouts || []) {
      if (Date.parse(b.from) < to && Date.parse(b.to) > from) blackouts.push(h("li", { class: "calendar-blackout", dataset: { zone: z.zone_id } }, "⛔ Blackout: ", h("strong", {}, z.zone), b.reason ? " — " + b.reason : ""));
    }
    const here = (z.occurrences || []).filter((o) => Date.parse(o.start) < to && Date.parse(o.end) > from);
    const cut = horizon(z);
    const colour = "zone-tone-" + (zi % 6);
    if (here.length > crowded) {
      blocks.push([Date.parse(here[0].start), crowdBlock(z, here, ztz, colour, cut < to)]);
      return;
    }
    for (const o of here) {
      const key = z.zone_id + "|" + Date.parse(o.start);
      blocks.push([Math.max(Date.parse(o.start), from), openingBlock(z, o, ztz, tz, from, to, colour, shown.get(key) || [])]);
    }
    if (here.length && cut < to && cut >= from) blocks.push([cut, h("li", { class: "opening preview-end " + colour, dataset: { zone: z.zone_id } }, h("strong", {}, z.zone), ": more openings follow, not previewed")]);
  });
  blocks.sort((a, b) => a[0] - b[0]);
  const label = weekdayOf(civil) + " " + dateWords(civil) + (isToday ? ", today" : "");
  return h("td", { class: ["calendar-day", isToday ? "today" : null, blackouts.length ? "blackout-day" : null, index % 7 >= 5 ? "weekend" : null, outside ? "outside-month" : null].filter(Boolean).join(" "),
    "aria-current": isToday ? "date" : null, dataset: { date: isoDate(civil) } },
  h("p", { class: "calendar-date" }, h("span", { class: "calendar-weekday" }, weekdayOf(civil) + " "), h("time", { datetime: isoDate(civil) }, dateWords(civil)),
    isToday ? h("span", { class: "today-mark" }, "Today") : null),
  blackouts.length ? h("ul", { class: "plain calendar-blackouts", "aria-label": "Blackouts on " + label }, blackouts) : null,
  blocks.length ? h("ul", { class: "plain openings", "aria-label": "Openings on " + label }, blocks.map((b) => b[1])) : h("p", { class: "calendar-none" }, "No opening"));
}

// openingBlock is one opening drawn in a day: the zone, its start and end on the zone's clock
// (and on the calendar's, when that is another), its length, and the campaigns waiting for it.
// An opening over several days shows in each: where it opens, all day, where it closes.
function openingBlock(z, o, ztz, tz, from, to, colour, waiting) {
  const s = Date.parse(o.start), e = Date.parse(o.end);
  const cellDay = civilDay(from, tz);
  const least = o.continues ? "at least " : "";
  // A time on a clock, with its date where that is not the cell's day.
  const at = (ms, clockTZ) => (civilDay(ms, clockTZ) !== cellDay ? weekdayOf(civilDay(ms, clockTZ)) + " " + dateWords(civilDay(ms, clockTZ)) + " " : "") + clock(ms, clockTZ);
  const span = (clockTZ) => s >= from && e <= to ? at(s, clockTZ) + "–" + (o.continues ? "at least " : "") + at(e, clockTZ)
    : s >= from ? "from " + at(s, clockTZ)
      : e <= to ? "until " + least + at(e, clockTZ) + " (open since " + at(s, clockTZ) + ")"
        : "open all day, until " + least + at(e, clockTZ);
  const zoneClock = ztz === "UTC" ? "UTC" : ztz.split("/").pop().replaceAll("_", " ") + " time (" + offsetWords(s, ztz) + ")";
  return h("li", { class: "opening " + colour + (o.open_now ? " open-now" : ""), dataset: { zone: z.zone_id, start: o.start } },
    h("strong", { class: "opening-zone" }, z.zone),
    o.open_now ? h("span", { class: "open-now-mark" }, "● open now") : null,
    h("span", { class: "opening-time" }, h("time", { datetime: o.start }, span(ztz)), " ", zoneClock),
    tz !== ztz && (s >= from || e <= to) ? h("span", { class: "opening-other" }, "= ", span(tz), " ", tz) : null,
    h("span", { class: "opening-length" }, least + lengthWords(e - s)),
    waiting.length ? h("ul", { class: "plain opening-campaigns", "aria-label": "Campaigns waiting for this opening" }, waiting.map((c) =>
      h("li", { dataset: { campaign: c.id } }, "▸ ", link("#/campaigns/" + c.id, c.name || c.id), " ", badge(c.status)))) : null);
}

// lengthWords is a length of time in days, hours and minutes: "7 d 1 h", "4 h", "1 min 40 s".
function lengthWords(ms) {
  let secs = Math.round(ms / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
    if (secs >= size) {
      parts.push(Math.floor(secs / size) + " " + unit);
      secs %= size;
    }
  }
  return parts.slice(0, 2).join(" ") || "0 s";
}

// crowdBlock sums up a zone that opens more often in a day than the cell can draw.
function crowdBlock(z, here, ztz, colour, cutHere) {
  const lengths = [...new Set(here.map((o) => lengthWords(Date.parse(o.end) - Date.parse(o.start))))];
  return h("li", { class: "opening crowded " + colour, dataset: { zone: z.zone_id, start: here[0].start, count: String(here.length) } },
    h("strong", { class: "opening-zone" }, z.zone),
    h("span", { class: "opening-time" }, `${here.length} openings, ${clock(Date.parse(here[0].start), ztz)}–${clock(Date.parse(here[here.length - 1].end), ztz)} `,
      ztz.split("/").pop().replaceAll("_", " ") + " time (" + offsetWords(Date.parse(here[0].start), ztz) + ")"),
    h("span", { class: "opening-length" }, (lengths.length === 1 ? lengths[0] : lengths.length + " lengths") + " each, cron ", h("code", {}, (z.window || {}).cron || "—")),
    cutHere ? h("span", { class: "opening-length" }, "More follow; the preview ends here.") : null);
}

// previewNotes says which zones open so often that the server's preview ends before the range
// does: their later openings are not drawn.
function previewNotes(zones, days, tz) {
  const end = midnight(days[days.length - 1] + dayMs, tz);
  const cut = zones.filter((z) => horizon(z) < end);
  if (!cut.length) return null;
  return h("div", { class: "calendar-note" },
    h("p", {}, "These zones open so often (or stay open so long) that the server's preview of their next ", String(calendarOpenings),
      " openings ends before the days shown do; their later openings are not drawn:"),
    h("ul", {}, cut.map((z) => h("li", { dataset: { zone: z.zone_id } }, h("strong", {}, z.zone), " (", h("code", {}, (z.window || {}).cron || "—"), "): previewed until ",
      zoned(new Date(horizon(z)).toISOString(), (z.window || {}).time_zone)))));
}
