package ui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestBrowserWindowsCalendar: an engineer opens the Windows page of the demo plant. Above the
// per-zone lists, a month calendar of this month (UTC days, Monday-first weeks) draws every
// opening the API previews for Process Control (Sundays 02:00 Zurich time, 4 h) in its day, on
// the zone's clock, with the campaign that waits for it; the zones that open every few minutes
// are summed up per day and said to be previewed only so far; a blackout day and today are
// marked in words. Next shows the next month, previous this one again.
func TestBrowserWindowsCalendar(t *testing.T) {
	chromium(t)
	start := time.Now()
	s := newStack(t)
	sh := newShots(t)

	// A blackout tomorrow, in daytime UTC: no Process Control opening falls in it.
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	tomorrow := today.AddDate(0, 0, 1)
	process := domain.Window{Cron: "0 2 * * 0", Duration: domain.Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2,
		Blackouts: []domain.Blackout{{From: tomorrow.Add(6 * time.Hour), To: tomorrow.Add(18 * time.Hour), Reason: "annual shutdown audit"}}}
	if code := s.call("PUT", "/api/v1/zones/zone_process/window", s.tokens.Engineer, process, nil); code != http.StatusOK {
		t.Fatalf("set the process window with a blackout: %d", code)
	}

	// A campaign on a Process Control HMI waits for that zone's next opening.
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<16))
	campaignID := s.approvedCampaign("Process HMI update", patchID, []string{"ast_proc-hmi-01"})
	var waiting struct {
		Status          string     `json:"status"`
		PlanDigest      string     `json:"plan_digest"`
		NextWindowStart *time.Time `json:"next_window_start"`
	}
	// Process Control is SL-T 3: the plan needs the safety engineer's approval too.
	s.call("GET", "/api/v1/campaigns/"+campaignID, s.tokens.Engineer, nil, &waiting)
	if code := s.call("POST", "/api/v1/campaigns/"+campaignID+"/decisions", s.tokens.Safety, map[string]any{"decision": "approve", "plan_digest": waiting.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("the safety approval: %d", code)
	}
	s.waitFor("the campaign to wait for the process window", func() (bool, string) {
		s.call("GET", "/api/v1/campaigns/"+campaignID, s.tokens.Engineer, nil, &waiting)
		return waiting.NextWindowStart != nil, waiting.Status
	})

	var preview struct {
		Occurrences []struct {
			Start     time.Time `json:"start"`
			End       time.Time `json:"end"`
			Continues bool      `json:"continues"`
		} `json:"occurrences"`
	}
	if code := s.call("GET", "/api/v1/zones/zone_process/windows?openings=20", s.tokens.Engineer, nil, &preview); code != http.StatusOK {
		t.Fatalf("preview the process windows: %d", code)
	}
	// grid is the Monday-first weeks of the month holding day: its first and last day.
	grid := func(day time.Time) (time.Time, time.Time) {
		first := time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
		last := first.AddDate(0, 1, -1)
		return first.AddDate(0, 0, -(int(first.Weekday())+6)%7), last.AddDate(0, 0, (7-int(last.Weekday()))%7)
	}
	thisMonth := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/windows", "#calendar-table")
	engineer.run("wait for the zone lists", 20*time.Second, chromedp.WaitVisible(css(".zone-windows")))
	engineer.shot("windows-calendar")

	// checkRange checks the calendar shows the weeks of the month, Monday first, with the days
	// of the neighbouring months marked, and in them every process opening of the preview, on
	// the zone's clock.
	checkRange := func(month time.Time) {
		t.Helper()
		first, last := grid(month)
		n := int(last.Sub(first).Hours()/24) + 1
		days := eval[[]string](engineer, `[...document.querySelectorAll("#calendar-table td.calendar-day")].map((td) => td.dataset.date)`)
		if len(days) != n || n%7 != 0 || days[0] != first.Format(time.DateOnly) || days[n-1] != last.Format(time.DateOnly) {
			t.Fatalf("the calendar shows the days %q, want the %d from Monday %s to Sunday %s", days, n, first.Format(time.DateOnly), last.Format(time.DateOnly))
		}
		if first.Weekday() != time.Monday {
			t.Fatalf("the weeks start on %s", first.Weekday())
		}
		outside := eval[[]string](engineer, `[...document.querySelectorAll("#calendar-table td.calendar-day.outside-month")].map((td) => td.dataset.date)`)
		for _, d := range outside {
			if strings.HasPrefix(d, month.Format("2006-01")) {
				t.Errorf("%s is marked as another month's day", d)
			}
		}
		if want := n - (month.AddDate(0, 1, -1).Day()); len(outside) != want {
			t.Errorf("%d days are marked as other months', want %d", len(outside), want)
		}
		if got := engineer.text("#calendar-range"); !strings.Contains(got, month.Format("January 2006")) || !strings.Contains(got, fmt.Sprintf("Mon %d %s", first.Day(), first.Format("Jan"))) {
			t.Errorf("the range reads %q, want %s from Monday %s", got, month.Format("January 2006"), first.Format(time.DateOnly))
		}
		drawn := 0
		for _, o := range preview.Occurrences {
			if o.Start.Before(first) || !o.Start.Before(last.AddDate(0, 0, 1)) {
				continue
			}
			drawn++
			sel := fmt.Sprintf(`#calendar-table td[data-date=%q] li.opening[data-zone="zone_process"]`, o.Start.UTC().Format(time.DateOnly))
			if !engineer.exists(sel) {
				t.Errorf("no Process Control opening drawn on %s", o.Start.UTC().Format(time.DateOnly))
				continue
			}
			block := engineer.text(sel)
			local := o.Start.In(zurich).Format("15:04") + "–" + o.End.In(zurich).Format("15:04")
			for _, want := range []string{"Process Control", local, "Zurich time", "4 h"} {
				if !strings.Contains(block, want) {
					t.Errorf("the opening of %s lacks %q: %q", o.Start.UTC().Format(time.DateOnly), want, block)
				}
			}
		}
		if n := eval[int](engineer, `document.querySelectorAll('#calendar-table li.opening[data-zone="zone_process"]').length`); n != drawn {
			t.Errorf("the calendar draws %d Process Control openings, the API previews %d in these days", n, drawn)
		}
	}

	checkRange(thisMonth)
	if _, last := grid(thisMonth); len(preview.Occurrences) == 0 || preview.Occurrences[0].Start.After(last.AddDate(0, 0, 1)) {
		t.Fatalf("the weekly process window has no opening in this month's weeks: %+v", preview.Occurrences)
	}

	// The campaign shows in the opening it waits for.
	at := waiting.NextWindowStart.UTC()
	sel := fmt.Sprintf(`#calendar-table td[data-date=%q] li.opening[data-zone="zone_process"] li[data-campaign=%q]`, at.Format(time.DateOnly), campaignID)
	if !engineer.exists(sel) {
		t.Errorf("the campaign waiting for the opening of %s is not shown in it", at)
	} else if got := engineer.text(sel); !strings.Contains(got, "Process HMI update") {
		t.Errorf("the waiting campaign reads %q", got)
	}

	// Today, the blackout, the zones that open every few minutes.
	todaySel := fmt.Sprintf(`#calendar-table td.today[data-date=%q][aria-current="date"]`, today.Format(time.DateOnly))
	if !engineer.exists(todaySel) {
		t.Error("today is not marked")
	} else if got := engineer.text(todaySel); !strings.Contains(got, "Today") {
		t.Errorf("today's cell does not say so: %q", got)
	}
	blackoutSel := fmt.Sprintf(`#calendar-table td.blackout-day[data-date=%q]`, tomorrow.Format(time.DateOnly))
	if _, last := grid(thisMonth); tomorrow.After(last) {
		t.Log("tomorrow is past this month's last week: the blackout shows with the next month")
	} else if !engineer.exists(blackoutSel) {
		t.Error("the blackout day is not marked")
	} else if got := engineer.text(blackoutSel); !strings.Contains(got, "Blackout: Process Control") || !strings.Contains(got, "annual shutdown audit") {
		t.Errorf("the blackout day reads %q", got)
	}
	if !engineer.exists(`#calendar-table td.today li.opening.crowded[data-zone="zone_packaging"]`) {
		t.Error("today shows no summed-up openings of Packaging Line 2 (every 2 minutes)")
	}
	if got := engineer.text("#calendar-notes"); !strings.Contains(got, "Packaging Line 2") || !strings.Contains(got, "previewed until") {
		t.Errorf("the note on zones previewed only so far: %q", got)
	}
	if !eval[bool](engineer, `document.getElementById("calendar-prev").disabled`) {
		t.Error("previous is enabled on the first month, this one")
	}

	// Next shows the next month; previous this one again.
	next := thisMonth.AddDate(0, 1, 0)
	engineer.run("show the next month", 10*time.Second, chromedp.Click(css("#calendar-next")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("calendar-table").dataset.month === %q`, next.Format("2006-01"))))
	engineer.shot("windows-calendar-next")
	checkRange(next)
	if first, _ := grid(next); today.Before(first) && engineer.exists("#calendar-table td.today") {
		t.Error("the next month marks a day as today")
	}
	engineer.run("show this month again", 10*time.Second, chromedp.Click(css("#calendar-prev")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById("calendar-table").dataset.month === %q`, thisMonth.Format("2006-01"))))
	checkRange(thisMonth)

	// The per-zone lists are still there, in the zone's time zone.
	if w := engineer.text(`.zone-windows[data-zone="zone_process"]`); !strings.Contains(w, "Europe/Zurich") || !strings.Contains(w, "annual shutdown audit") {
		t.Errorf("the process zone's list: %q", w)
	}
	if n := eval[int](engineer, `document.querySelectorAll('.zone-windows[data-zone="zone_process"] tbody tr').length`); n != 5 {
		t.Errorf("the process zone's list shows %d openings, want the default 5", n)
	}
	engineer.checkAccessible("windows")
	t.Logf("%s took %s", t.Name(), time.Since(start).Round(time.Second))
}
