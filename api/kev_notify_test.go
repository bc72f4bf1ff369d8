package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/teststack"
)

// TestKEVAdvisoryNotification: a webhook takes kev_advisory. An advisory for the demo plant
// is ingested before any KEV catalog names its CVEs, and nothing is told; a catalog that
// lists CVE-2026-31337 makes one notification naming the HMIs it hits, a newer catalog that
// adds CVE-2026-31338 one more for the switches, and a second advisory naming the listed CVE,
// ingested after the catalog, one more. Each is told once: a check run again records nothing.
func TestKEVAdvisoryNotification(t *testing.T) {
	rc, hook := startReceiver(t, 0)

	const baseURL = "https://otpatch.plant.example"
	s := teststack.New(t, teststack.Options{Notify: notify.Settings{BaseURL: baseURL, RetryInitial: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond, Attempts: 3}})
	e := &env{t: t, url: s.URL, store: s.Store, objects: s.Objects, sim: s.Sim, tokens: s.Tokens, keys: s.Keys, temporal: s.Temporal, refusals: s.Refusals}
	ctx := context.Background()

	var subs struct {
		Kinds []struct{ Kind string } `json:"kinds"`
	}
	if code := e.call("GET", "/api/v1/subscriptions", e.tokens.Engineer, nil, &subs); code != http.StatusOK ||
		!slices.ContainsFunc(subs.Kinds, func(k struct{ Kind string }) bool { return k.Kind == "kev_advisory" }) {
		t.Fatalf("kinds one may subscribe to: %d %+v, want kev_advisory among them", code, subs.Kinds)
	}
	var wh struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if code := e.call("POST", "/api/v1/webhooks", e.tokens.Admin, map[string]any{"url": hook.URL + "/kev", "kinds": []string{"kev_advisory"}}, &wh); code != http.StatusCreated {
		t.Fatalf("create webhook: %d", code)
	}
	if err := (&engine.Gateway{Temporal: s.Temporal.GetDefaultClient()}).ScheduleNotifications(ctx, time.Second); err != nil {
		t.Fatal(err)
	}

	// The advisory first: its CVEs are in no catalog yet.
	var first advisoryDoc
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-11-20T00:00:00Z")), &first); code != http.StatusCreated {
		t.Fatalf("ingest the advisory: %d", code)
	}
	if code := e.call("GET", "/api/v1/advisories/"+first.ID, e.tokens.Engineer, nil, &first); code != http.StatusOK {
		t.Fatalf("read the advisory: %d", code)
	}
	var hmis, switches []string
	for _, a := range first.AffectedAssets {
		switch a.Remedy.Kind {
		case "update":
			hmis = append(hmis, a.AssetID)
		case "mitigate":
			switches = append(switches, a.AssetID)
		}
	}
	slices.Sort(hmis)
	slices.Sort(switches)
	if len(hmis) == 0 || len(switches) == 0 {
		t.Fatalf("the advisory hits HMIs %v and switches %v; the test needs both", hmis, switches)
	}
	acts := &activities.Activities{Store: s.Store, Now: time.Now}
	if res, err := acts.CheckClock(ctx); err != nil || res.Recorded != 0 {
		t.Fatalf("a check before any catalog: %+v %v, want nothing recorded", res, err)
	}

	// A catalog that lists CVE-2026-31337.
	raw, err := os.ReadFile(filepath.Join(exploitationFixtures, "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	catalog := bytes.Replace(raw, []byte("CVE-2021-44228"), []byte("CVE-2026-31337"), 1)
	if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "application/json", catalog, nil); code != http.StatusCreated {
		t.Fatalf("import the catalog: %d", code)
	}
	told := func(n int) map[string]notify.CloudEvent {
		t.Helper()
		out := map[string]notify.CloudEvent{}
		e.waitWithin(2*time.Minute, "the KEV notifications", func() (bool, string) {
			clear(out)
			for _, r := range rc.events() {
				var ce notify.CloudEvent
				if err := json.Unmarshal(r.body, &ce); err != nil {
					return false, err.Error()
				}
				if !verifySignature(wh.Secret, r.signature, r.body) {
					t.Fatalf("the signature of %s does not verify", r.body)
				}
				key := ce.Data.Details["tracking_id"].(string) + " " + ce.Data.Details["cve"].(string)
				if _, dup := out[key]; dup {
					t.Fatalf("%s told twice", key)
				}
				out[key] = ce
			}
			return len(out) >= n, strings.Join(mapKeys(out), ", ")
		})
		if len(out) != n {
			t.Fatalf("told %v, want %d", mapKeys(out), n)
		}
		return out
	}
	ce := told(1)["ACME-SA-2026-014 CVE-2026-31337"]
	if ce.Type != "org.otpatch.notification.kev_advisory" || ce.Data.Link != baseURL+"/#/advisories/"+first.ID || ce.Subject != "advisories/"+first.ID {
		t.Errorf("the notification: type %q, link %q, subject %q", ce.Type, ce.Data.Link, ce.Subject)
	}
	if got := idsOf(ce.Data.Details["asset_ids"]); !slices.Equal(got, hmis) {
		t.Errorf("it names assets %v, want the HMIs %v", got, hmis)
	}
	for _, want := range []string{"CVE-2026-31337", "known exploited", "ACME-SA-2026-014", strings.TrimPrefix(hmis[0], "ast_")} {
		if !strings.Contains(ce.Data.Text, want) && !strings.Contains(ce.Data.Title, want) {
			t.Errorf("the notification does not say %q: %q / %q", want, ce.Data.Title, ce.Data.Text)
		}
	}

	// A newer catalog that adds CVE-2026-31338: one more, for the switches.
	newer := bytes.Replace(catalog, []byte("CVE-2021-3156"), []byte("CVE-2026-31338"), 1)
	newer = bytes.Replace(newer, []byte(`"dateReleased": "2026-12-01T14:59:01.4402Z"`), []byte(`"dateReleased": "2026-12-02T14:00:00Z"`), 1)
	if code := e.postFile("/api/v1/exploitation/kev", e.tokens.Engineer, "application/json", newer, nil); code != http.StatusCreated {
		t.Fatalf("import the newer catalog: %d", code)
	}
	if got := idsOf(told(2)["ACME-SA-2026-014 CVE-2026-31338"].Data.Details["asset_ids"]); !slices.Equal(got, switches) {
		t.Errorf("the second names assets %v, want the switches %v", got, switches)
	}

	// An advisory ingested after the catalog that lists its CVE.
	second := acmeAdvisory("2026-12-03T00:00:00Z")
	second["document"].(map[string]any)["tracking"].(map[string]any)["id"] = "ACME-SA-2026-015"
	second["vulnerabilities"] = second["vulnerabilities"].([]any)[:1]
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, second), nil); code != http.StatusCreated {
		t.Fatalf("ingest the second advisory: %d", code)
	}
	told(3)

	// Told once each: the check records nothing again, nor does a revision of an advisory.
	if code := e.postAdvisory(e.tokens.Engineer, mustJSON(t, acmeAdvisory("2026-12-04T00:00:00Z")), nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("a revision of the first advisory: %d", code)
	}
	if res, err := acts.CheckClock(ctx); err != nil || res.Recorded != 0 {
		t.Errorf("a check after all was told: %+v %v, want nothing recorded", res, err)
	}
	if n := e.auditCount(notify.KEVAdvisoryAction); n != 3 {
		t.Errorf("%d %s events, want 3", n, notify.KEVAdvisoryAction)
	}
}

func idsOf(v any) []string {
	var out []string
	vs, _ := v.([]any)
	for _, x := range vs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
