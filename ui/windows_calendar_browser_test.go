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
// per-zone lists, a 14-day calendar starting on this week's Monday (UTC days) draws every
// opening the API previews for Process Control (Sundays 02:00 Zurich time, 4 h) in its day, on
// the zone's clock, with the campaign that waits for it; the zones that open every few minutes
// are summed up per day and said to be previewed only so far; a blackout day and today are
// marked in words. Next moves the range 14 days on, previous back.
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
	if code := s.call("GET", "/api/v1/zones/zone_process/windows?openings=10", s.tokens.Engineer, nil, &preview); code != http.StatusOK {
		t.Fatalf("preview the process windows: %d", code)
	}
	monday := today.AddDate(0, 0, -(int(today.Weekday())+6)%7)

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/windows", "#calendar-table")
	engineer.run("wait for the zone lists", 20*time.Second, chromedp.WaitVisible(css(".zone-windows")))
	engineer.shot("windows-calendar")

	// checkRange checks the calendar shows the 14 days from first, and in them every process
	// opening of the preview, on the zone's clock.
	checkRange := func(first time.Time) {
		t.Helper()
		days := eval[[]string](engineer, `[...document.querySelectorAll("#calendar-table td.calendar-day")].map((td) => td.dataset.date)`)
		if len(days) != 14 || days[0] != first.Format(time.DateOnly) || days[13] != first.AddDate(0, 0, 13).Format(time.DateOnly) {
			t.Fatalf("the calendar shows the days %q, want the 14 from %s", days, first.Format(time.DateOnly))
		}
		if got := engineer.text("#calendar-range"); !strings.Contains(got, fmt.Sprintf("Mon %d %s", first.Day(), first.Format("Jan"))) {
			t.Errorf("the range reads %q, want it from Monday %s", got, first.Format(time.DateOnly))
		}
		drawn := 0
		for _, o := range preview.Occurrences {
			if o.Start.Before(first) || !o.Start.Before(first.AddDate(0, 0, 14)) {
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

	checkRange(monday)
	if len(preview.Occurrences) == 0 || preview.Occurrences[0].Start.After(monday.AddDate(0, 0, 14)) {
		t.Fatalf("the weekly process window has no opening in the first 14 days: %+v", preview.Occurrences)
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
	if !engineer.exists(blackoutSel) {
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
		t.Error("previous is enabled on the first range, which starts this week")
	}

	// Next moves 14 days on; previous back.
	next := monday.AddDate(0, 0, 14)
	engineer.run("show the next 14 days", 10*time.Second, chromedp.Click(css("#calendar-next")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("#calendar-table td.calendar-day").dataset.date === %q`, next.Format(time.DateOnly))))
	engineer.shot("windows-calendar-next")
	checkRange(next)
	if engineer.exists("#calendar-table td.today") {
		t.Error("the next 14 days mark a day as today")
	}
	engineer.run("show the previous 14 days", 10*time.Second, chromedp.Click(css("#calendar-prev")),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("#calendar-table td.calendar-day").dataset.date === %q`, monday.Format(time.DateOnly))))
	checkRange(monday)

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
