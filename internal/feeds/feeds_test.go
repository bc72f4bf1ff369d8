package feeds_test

import (
	"context"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/feeds"
	"github.com/otpatch/otpatch/internal/feeds/feedstest"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	st, err := store.Open(dsn, store.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// forEachDB runs test on SQLite and on PostgreSQL; fresh makes a new empty database.
func forEachDB(t *testing.T, test func(t *testing.T, fresh func() string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		n := 0
		test(t, func() string { n++; return filepath.Join(t.TempDir(), fmt.Sprintf("otpatch%d.db", n)) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testenv.PostgresDSN(t) // skips (or fails) here when there is no PostgreSQL
		test(t, func() string { return testenv.PostgresDSN(t) })
	})
}

var engineer = store.Event{Actor: "eve", Role: "engineer"}

func createFeed(t *testing.T, st *store.Store, url, ca string) store.Feed {
	t.Helper()
	f := store.Feed{URL: url, CAPEM: ca, IntervalMinutes: 60}
	if err := st.CreateFeed(context.Background(), &f, engineer); err != nil {
		t.Fatal(err)
	}
	return f
}

func online(t *testing.T, st *store.Store, p *feedstest.Provider, feedID string) feeds.Report {
	t.Helper()
	f, err := st.Feed(context.Background(), feedID)
	if err != nil {
		t.Fatal(err)
	}
	h, err := feeds.NewHTTPS(f.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&feeds.Sync{Store: st, Fetcher: h, Feed: f, Event: engineer}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func offline(t *testing.T, st *store.Store, fsys fstest.MapFS, accept ...string) feeds.Report {
	t.Helper()
	tree, err := feeds.OpenTree(fsys)
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.FeedByURL(context.Background(), tree.MetadataURL)
	if err != nil {
		f = createFeed(t, st, tree.MetadataURL, "")
	}
	rep, err := (&feeds.Sync{Store: st, Fetcher: tree, Feed: f, Accept: accept, Offline: true, Event: engineer}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sharedCSAF holds the real CISA advisories: ../shared beside the repository.
const sharedCSAF = "../../../shared/testdata/csaf"

// outcomes are a report's documents as "outcome: reason kind" by URL.
func outcomes(rep feeds.Report) map[string]string {
	out := map[string]string{}
	for _, d := range rep.Documents {
		kind, _, _ := strings.Cut(d.Reason, ":")
		out[d.URL] = string(d.Outcome) + " " + kind
	}
	return out
}

func assertOutcome(t *testing.T, rep feeds.Report, url string, want domain.FeedOutcome, reason string) {
	t.Helper()
	for _, d := range rep.Documents {
		if d.URL == url {
			if d.Outcome != want || !strings.HasPrefix(d.Reason, reason) {
				t.Errorf("%s: %s %q, want %s %q…", path.Base(url), d.Outcome, d.Reason, want, reason)
			}
			return
		}
	}
	t.Errorf("%s was not fetched; documents: %v", path.Base(url), outcomes(rep))
}

// TestProviderTreeSync syncs a provider tree served over HTTPS, with its certificate as the
// feed's extra CA: the advisories of its ROLIE feed and its directory are ingested once, an
// unchanged one is not fetched again, a newer revision replaces the stored one, and a tampered
// hash, a bad signature, a signature by an unknown key, an older revision and a document that
// is not CSAF are each refused with their reason. An offline sync of a copy of the same tree
// gives the same result.
func TestProviderTreeSync(t *testing.T) {
	forEachDB(t, func(t *testing.T, fresh func() string) {
		ctx := context.Background()
		p := feedstest.NewProvider(t)
		jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
		a := &feedstest.Advisory{Name: "icsa-21-131-09.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-131-09.json"), Updated: jan, InFeed: true, SHA256: true}
		b := &feedstest.Advisory{Name: "icsa-21-145-02.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-145-02.json"), Updated: jan, InFeed: true, InDir: true}
		c := &feedstest.Advisory{Name: "icsa-21-350-06.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-350-06.json"), Updated: jan, InDir: true}
		p.Docs = []*feedstest.Advisory{a, b, c}
		p.Publish()
		first := p.Snapshot()

		st := openStore(t, fresh())
		feed := createFeed(t, st, p.MetadataURL(), p.CAPEM())

		// Without the extra CA the provider's certificate is not trusted.
		h, _ := feeds.NewHTTPS("")
		if rep, err := (&feeds.Sync{Store: st, Fetcher: h, Feed: store.Feed{ID: feed.ID, URL: feed.URL}, Event: engineer}).Run(ctx); err != nil || rep.Result != feeds.ResultFailed || !strings.Contains(rep.Error, "certificate") {
			t.Fatalf("sync without the CA: %+v, %v; want failed for the certificate", rep, err)
		}

		rep := online(t, st, p, feed.ID)
		firstRep := rep
		if rep.Result != feeds.ResultOK || rep.Ingested != 3 || rep.Considered != 3 || len(rep.Keys) != 1 || rep.Keys[0] != feedstest.Fingerprint(p.Key) || rep.Publisher != "Test Provider" {
			t.Fatalf("first sync: %+v", rep)
		}
		for _, x := range []*feedstest.Advisory{a, b, c} {
			assertOutcome(t, rep, p.DocURL(x), domain.FeedIngested, "")
		}
		stored, err := st.AdvisoriesPage(ctx, store.AdvisoryFilter{Limit: 10})
		if err != nil || len(stored) != 3 {
			t.Fatalf("advisories stored: %d, %v; want 3", len(stored), err)
		}
		f, _ := st.Feed(ctx, feed.ID)
		if f.Ingested != 3 || f.Refused != 0 || f.LastResult != feeds.ResultOK || f.LastSyncAt == nil || f.Trusted != feedstest.Fingerprint(p.Key) {
			t.Fatalf("feed after the first sync: %+v", f)
		}

		// Nothing changed: nothing is fetched again.
		before := [3]int{p.Fetched(a), p.Fetched(b), p.Fetched(c)}
		rep = online(t, st, p, feed.ID)
		if rep.Skipped != 3 || len(rep.Documents) != 0 || [3]int{p.Fetched(a), p.Fetched(b), p.Fetched(c)} != before {
			t.Fatalf("second sync fetched again: %+v (fetches %v, before %v)", rep, [3]int{p.Fetched(a), p.Fetched(b), p.Fetched(c)}, before)
		}

		// A newer revision of a replaces the stored one; b and c are not fetched again.
		feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		oldA := a.Raw
		a.Raw, a.Updated = feedstest.Revised(t, oldA, feb), feb
		p.Publish()
		rep = online(t, st, p, feed.ID)
		assertOutcome(t, rep, p.DocURL(a), domain.FeedIngested, "")
		if len(rep.Documents) != 1 || p.Fetched(b) != before[1] || p.Fetched(c) != before[2] {
			t.Fatalf("revision sync: %v; b fetched %d times, c %d (before %d, %d)", outcomes(rep), p.Fetched(b), p.Fetched(c), before[1], before[2])
		}
		got, err := st.AdvisoriesPage(ctx, store.AdvisoryFilter{TrackingID: "ICSA-21-131-09", Limit: 2})
		if err != nil || len(got) != 1 || !got[0].CurrentRelease.Equal(feb) {
			t.Fatalf("ICSA-21-131-09 after the new revision: %+v, %v; want current release %s", got, err, feb)
		}

		// Tampered hash, bad signature, unknown key, an older revision, not CSAF.
		mar := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		stranger := feedstest.NewKey(t, "Stranger")
		d := &feedstest.Advisory{Name: "icsa-21-187-01.json", Raw: feedstest.RealAdvisory(t, sharedCSAF, "icsa-21-187-01.json"), Updated: mar, InFeed: true, Signer: stranger}
		e := &feedstest.Advisory{Name: "not-csaf.json", Raw: []byte(`{"document": {"title": "hello"}}`), Updated: mar, InDir: true}
		a.Raw, a.Updated = oldA, mar // the older revision, announced as a change
		b.Updated, c.Updated = mar, mar
		p.Docs = append(p.Docs, d, e)
		p.Publish()
		p.Overwrite(b, ".sha512", []byte(strings.Repeat("ab", 64)+"  "+b.Name+"\n"))
		p.Overwrite(c, ".asc", feedstest.Sign(t, p.Key, []byte("something else")))
		last := p.Snapshot()
		rep = online(t, st, p, feed.ID)
		assertOutcome(t, rep, p.DocURL(a), domain.FeedRefused, "older revision")
		assertOutcome(t, rep, p.DocURL(b), domain.FeedRefused, "hash mismatch")
		assertOutcome(t, rep, p.DocURL(c), domain.FeedRefused, "bad signature")
		assertOutcome(t, rep, p.DocURL(d), domain.FeedRefused, "unknown key: signed by key "+feedstest.Fingerprint(stranger))
		assertOutcome(t, rep, p.DocURL(e), domain.FeedRefused, "not CSAF 2.0")
		if rep.Result != feeds.ResultRefusals || rep.Refused != 5 {
			t.Fatalf("tampered sync: %+v", rep)
		}
		refusals, err := st.RecentFeedDocuments(ctx, feed.ID, domain.FeedRefused, 10)
		if err != nil || len(refusals) != 5 {
			t.Fatalf("refusals kept on the feed: %d, %v; want 5", len(refusals), err)
		}
		f, _ = st.Feed(ctx, feed.ID)
		if f.Refused != 5 || f.LastResult != feeds.ResultRefusals {
			t.Fatalf("feed after refusals: %+v", f)
		}
		if got, _ := st.AdvisoriesPage(ctx, store.AdvisoryFilter{Limit: 10}); len(got) != 3 {
			t.Fatalf("%d advisories stored after the refusals, want 3", len(got))
		}

		// Offline: a copy of the same tree, trusting the fingerprint the person gives, gives
		// what the online sync gave, on a database of its own.
		for _, tree := range []struct {
			name string
			fsys fstest.MapFS
			want feeds.Report
		}{{"first", first, firstRep}, {"tampered", last, freshOnline(t, fresh(), p)}} {
			offSt := openStore(t, fresh())
			if tree.name == "first" {
				// No fingerprint and no feed trusting the keys: refused as a whole.
				if rep := offline(t, offSt, tree.fsys); rep.Result != feeds.ResultFailed || !strings.Contains(rep.Error, "fingerprint") {
					t.Fatalf("offline without fingerprint: %+v", rep)
				}
				if rep := offline(t, offSt, tree.fsys, feedstest.Fingerprint(stranger)); rep.Result != feeds.ResultFailed {
					t.Fatalf("offline with a fingerprint the tree does not list: %+v", rep)
				}
			}
			got := offline(t, offSt, tree.fsys, feedstest.Fingerprint(p.Key))
			if g, w := outcomes(got), outcomes(tree.want); !maps.Equal(g, w) || got.Result != tree.want.Result {
				t.Errorf("%s tree: offline %s %v, online %s %v", tree.name, got.Result, g, tree.want.Result, w)
			}
		}
	})
}

// freshOnline syncs the provider as it is now into a new database.
func freshOnline(t *testing.T, dsn string, p *feedstest.Provider) feeds.Report {
	t.Helper()
	st := openStore(t, dsn)
	return online(t, st, p, createFeed(t, st, p.MetadataURL(), p.CAPEM()).ID)
}
