package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
)

// zoneDoc is the part of a zone answer the window tests read.
type zoneDoc struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Window    domain.Window `json:"window"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// windowsDoc is a zone's coming window openings, as GET /windows answers them.
type windowsDoc struct {
	ZoneID      string `json:"zone_id"`
	Occurrences []struct {
		Start     time.Time `json:"start"`
		End       time.Time `json:"end"`
		OpenNow   *bool     `json:"open_now"`
		Continues bool      `json:"continues"`
	} `json:"occurrences"`
}

func openNow(v *bool) bool { return v != nil && *v }

func (e *env) zone(id string) zoneDoc {
	e.t.Helper()
	var z zoneDoc
	if code := e.call("GET", "/api/v1/zones/"+id, e.tokens.Engineer, nil, &z); code != http.StatusOK {
		e.t.Fatalf("get zone %s: %d", id, code)
	}
	return z
}

// TestWindowsThatNeverOpenAreRefused: a window with no occurrence in the coming year (30
// February, a blackout over the whole year) is refused with 422 and the reason, on a zone's
// window and on a new zone, and the zone is left as it was. A campaign in such a zone would be
// created and approved, then halt.
func TestWindowsThatNeverOpenAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := e.zone("zone_packaging")
	now := time.Now()
	yearOff := []domain.Blackout{{From: now.Add(-24 * time.Hour), To: now.AddDate(1, 0, 2), Reason: "decommissioning"}}
	tests := []struct {
		name         string
		window       domain.Window
		field, cause string
	}{
		{"30 February", domain.Window{Cron: "0 0 30 2 *", Duration: domain.Duration(time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2},
			"cron", `cron "0 0 30 2 *" never opens in the next 366 days (February has no 30th); pick a day that exists`},
		{"blackout over the whole year", domain.Window{Cron: "0 2 * * 6", Duration: domain.Duration(4 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 2, Blackouts: yearOff},
			"blackouts", "in the coming year, so the window would never open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problemDoc
			if code := e.call("PUT", "/api/v1/zones/zone_packaging/window", e.tokens.Engineer, tt.window, &p); code != http.StatusUnprocessableEntity {
				t.Fatalf("PUT window: %d %+v, want 422", code, p)
			}
			if len(p.Errors) != 1 || p.Errors[0].Field != tt.field || !strings.Contains(p.Errors[0].Message, tt.cause) {
				t.Errorf("refusal %+v, want %s: %q", p.Errors, tt.field, tt.cause)
			}
			if after := e.zone("zone_packaging"); !after.Window.Equal(before.Window) || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("the refused window changed the zone: %+v, was %+v", after, before)
			}

			var zp problemDoc
			zone := map[string]any{"site_id": "site_basel", "name": "Never " + tt.name, "sl_t": 2, "window": tt.window}
			if code := e.call("POST", "/api/v1/zones", e.tokens.Engineer, zone, &zp); code != http.StatusUnprocessableEntity {
				t.Fatalf("POST zone: %d %+v, want 422", code, zp)
			}
			if len(zp.Errors) != 1 || zp.Errors[0].Field != "window."+tt.field || !strings.Contains(zp.Errors[0].Message, tt.cause) {
				t.Errorf("zone refusal %+v, want window.%s: %q", zp.Errors, tt.field, tt.cause)
			}
			var zs []zoneDoc
			e.list("/api/v1/zones", e.tokens.Engineer, &zs)
			for _, z := range zs {
				if z.Name == zone["name"] {
					t.Errorf("the refused zone was created: %+v", z)
				}
			}
		})
	}
}

// TestWindowsShowNoOpeningInThePast: the Test Bench window opens every minute for an hour, so
// it is open all the time. Every zone's openings, on /windows and on the zone's own /windows,
// are the spans the engine uses: the first may have started before now only if it is open now,
// the others start after the one before has closed, and the bench shows one span, open now,
// that goes on (not a 25-hour window that opened an hour ago, then more that overlap it).
func TestWindowsShowNoOpeningInThePast(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	var all []windowsDoc
	if code := e.list("/api/v1/windows?openings=5", e.tokens.Engineer, &all); code != http.StatusOK {
		t.Fatalf("GET /windows: %d", code)
	}
	var one windowsDoc
	if code := e.call("GET", "/api/v1/zones/zone_bench/windows?openings=5", e.tokens.Engineer, nil, &one); code != http.StatusOK {
		t.Fatalf("GET zone_bench/windows: %d", code)
	}
	for _, z := range append(all, one) {
		if len(z.Occurrences) == 0 {
			t.Errorf("%s: no opening", z.ZoneID)
		}
		for i, o := range z.Occurrences {
			if o.OpenNow == nil {
				t.Errorf("%s opening %d has no open_now", z.ZoneID, i)
			}
			if o.Start.Before(now) && (i > 0 || !openNow(o.OpenNow) || !o.End.After(now)) {
				t.Errorf("%s opening %d %+v lies in the past", z.ZoneID, i, o)
			}
			if i > 0 && !o.Start.After(z.Occurrences[i-1].End) {
				t.Errorf("%s opening %d starts %s, before the one before closes (%s)", z.ZoneID, i, o.Start, z.Occurrences[i-1].End)
			}
		}
		if z.ZoneID != "zone_bench" {
			continue
		}
		if len(z.Occurrences) != 1 {
			t.Fatalf("bench: %d openings %+v, want one that does not close", len(z.Occurrences), z.Occurrences)
		}
		o := z.Occurrences[0]
		if !openNow(o.OpenNow) || !o.Continues || o.End.Before(now.Add(7*24*time.Hour)) {
			t.Errorf("bench opening %+v, want open now and still open a week from now", o)
		}
		if _, off := o.End.Zone(); off != 3600 && off != 7200 {
			t.Errorf("bench opening ends %s, not in Europe/Zurich time", o.End)
		}
	}
}

// TestWindowsPutAnswersTheStoredZone: PUT /zones/{id}/window answers with the zone as stored,
// with the new window and the new updated_at, the same as a GET afterwards.
func TestWindowsPutAnswersTheStoredZone(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOptions{postgres: backend == "postgres"})
			before := e.zone("zone_process")
			w := domain.Window{Cron: "0 3 * * 0", Duration: domain.Duration(3 * time.Hour), TimeZone: "Europe/Zurich", MaxParallel: 1}
			var put zoneDoc
			if code := e.call("PUT", "/api/v1/zones/zone_process/window", e.tokens.Engineer, w, &put); code != http.StatusOK {
				t.Fatalf("PUT window: %d", code)
			}
			stored := e.zone("zone_process")
			if !put.Window.Equal(w) || !stored.Window.Equal(w) {
				t.Errorf("answer window %+v, stored %+v, want %+v", put.Window, stored.Window, w)
			}
			if !put.UpdatedAt.After(before.UpdatedAt) || !put.UpdatedAt.Equal(stored.UpdatedAt) {
				t.Errorf("answer updated_at %s; stored %s, before the change %s", put.UpdatedAt, stored.UpdatedAt, before.UpdatedAt)
			}
		})
	}
}
