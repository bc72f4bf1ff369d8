package feeds_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/feeds"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// sharedCSAF holds the real CISA advisories: ../shared beside the repository.
const sharedCSAF = "../../../shared/testdata/csaf"

func realAdvisory(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(sharedCSAF, name))
	if err != nil {
		t.Skipf("no CSAF advisory %s in %s (the shared test data lives beside the repository); skipping", name, sharedCSAF)
	}
	return raw
}

// revised is an advisory as its next revision: a later current release and version.
func revised(t testing.TB, raw []byte, release time.Time) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	tr := doc["document"].(map[string]any)["tracking"].(map[string]any)
	date := release.UTC().Format(time.RFC3339)
	tr["current_release_date"], tr["version"] = date, "99"
	tr["revision_history"] = append(tr["revision_history"].([]any), map[string]any{"date": date, "number": "99", "summary": "Revised"})
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(name)+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

func armoredPublic(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func sign(t testing.TB, e *openpgp.Entity, doc []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, e, bytes.NewReader(doc), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// advisoryFile is one advisory the test provider publishes.
type advisoryFile struct {
	name    string // file name under white/2021/
	raw     []byte
	updated time.Time
	inFeed  bool // listed in the ROLIE feed
	inDir   bool // listed in index.txt and changes.csv
	sha256  bool // a .sha256 hash file instead of .sha512
	signer  *openpgp.Entity
}

// provider is a CSAF trusted provider's tree served over HTTPS from 127.0.0.1: provider
// metadata, its public key, a ROLIE feed and a directory distribution of the same advisories.
type provider struct {
	t     testing.TB
	srv   *httptest.Server
	key   *openpgp.Entity
	mu    sync.Mutex
	files fstest.MapFS
	hits  map[string]int
	docs  []*advisoryFile
}

func newProvider(t testing.TB) *provider {
	p := &provider{t: t, key: newKey(t, "Provider"), files: fstest.MapFS{}, hits: map[string]int{}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		name := strings.TrimPrefix(r.URL.Path, "/")
		p.hits[name]++
		f, ok := p.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(f.Data)
	}))
	// The sync that does not trust the test CA makes the server log a handshake error.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// caPEM is the test server's certificate, the feed's extra CA.
func (p *provider) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}))
}

func (p *provider) base() string { return p.srv.URL + "/.well-known/csaf/" }

func (p *provider) metadataURL() string { return p.base() + "provider-metadata.json" }

func (p *provider) docURL(a *advisoryFile) string { return p.base() + "white/2021/" + a.name }

func (p *provider) put(name string, data []byte) {
	p.files[".well-known/csaf/"+name] = &fstest.MapFile{Data: data}
}

// publish writes the whole tree again from p.docs.
func (p *provider) publish() {
	t := p.t
	p.mu.Lock()
	defer p.mu.Unlock()
	pmd := gocsaf.NewProviderMetadata(p.metadataURL())
	pmd.Defaults()
	cat, name, ns := gocsaf.CSAFCategoryVendor, "Test Provider", "https://provider.example"
	pmd.Publisher = &gocsaf.Publisher{Category: &cat, Name: &name, Namespace: &ns}
	pmd.SetLastUpdated(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pmd.SetPGP(fingerprint(p.key), p.base()+"openpgp/provider.asc")
	tlp := gocsaf.TLPLabel(gocsaf.TLPLabelWhite)
	feedURL := gocsaf.JSONURL(p.base() + "white/feed-white.json")
	pmd.Distributions = []gocsaf.Distribution{
		{Rolie: &gocsaf.ROLIE{Feeds: []gocsaf.Feed{{Summary: "WHITE advisories", TLPLabel: &tlp, URL: &feedURL}}}},
		{DirectoryURL: p.base() + "white/"},
	}
	var buf bytes.Buffer
	if _, err := pmd.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p.put("provider-metadata.json", bytes.Clone(buf.Bytes()))
	p.put("openpgp/provider.asc", armoredPublic(t, p.key))

	feed := gocsaf.ROLIEFeed{Feed: gocsaf.FeedData{ID: "white", Title: "WHITE advisories", Updated: gocsaf.TimeStamp(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Entry: []*gocsaf.Entry{}}}
	var index, changes strings.Builder
	for _, a := range p.docs {
		rel := "2021/" + a.name
		p.put("white/"+rel, a.raw)
		hashName := "white/" + rel + ".sha512"
		if a.sha256 {
			s := sha256.Sum256(a.raw)
			hashName = "white/" + rel + ".sha256"
			p.put(hashName, []byte(hex.EncodeToString(s[:])+"  "+a.name+"\n"))
		} else {
			s := sha512.Sum512(a.raw)
			p.put(hashName, []byte(hex.EncodeToString(s[:])+"  "+a.name+"\n"))
		}
		signer := a.signer
		if signer == nil {
			signer = p.key
		}
		p.put("white/"+rel+".asc", sign(t, signer, a.raw))
		if a.inFeed {
			u := p.docURL(a)
			feed.Feed.Entry = append(feed.Feed.Entry, &gocsaf.Entry{ID: strings.TrimSuffix(a.name, ".json"), Titel: a.name,
				Link:    []gocsaf.Link{{Rel: "self", HRef: u}, {Rel: "hash", HRef: p.base() + hashName}, {Rel: "signature", HRef: u + ".asc"}},
				Content: gocsaf.Content{Type: "application/json", Src: u}, Format: gocsaf.Format{Schema: "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", Version: "2.0"},
				Published: gocsaf.TimeStamp(a.updated), Updated: gocsaf.TimeStamp(a.updated)})
		}
		if a.inDir {
			index.WriteString(rel + "\n")
			changes.WriteString(`"` + rel + `","` + a.updated.UTC().Format(time.RFC3339) + `"` + "\n")
		}
	}
	buf.Reset()
	if _, err := feed.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p.put("white/feed-white.json", bytes.Clone(buf.Bytes()))
	p.put("white/index.txt", []byte(index.String()))
	p.put("white/changes.csv", []byte(changes.String()))
}

// overwrite replaces one published file (after publish) to tamper with it.
func (p *provider) overwrite(a *advisoryFile, suffix string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.put("white/2021/"+a.name+suffix, data)
}

func (p *provider) fetched(a *advisoryFile) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[".well-known/csaf/white/2021/"+a.name]
}

// snapshot is the tree as it is now, for an offline sync.
func (p *provider) snapshot() fstest.MapFS {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := fstest.MapFS{}
	for k, v := range p.files {
		out[k] = &fstest.MapFile{Data: bytes.Clone(v.Data)}
	}
	return out
}

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

func online(t *testing.T, st *store.Store, p *provider, feedID string) feeds.Report {
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
		p := newProvider(t)
		jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
		a := &advisoryFile{name: "icsa-21-131-09.json", raw: realAdvisory(t, "icsa-21-131-09.json"), updated: jan, inFeed: true, sha256: true}
		b := &advisoryFile{name: "icsa-21-145-02.json", raw: realAdvisory(t, "icsa-21-145-02.json"), updated: jan, inFeed: true, inDir: true}
		c := &advisoryFile{name: "icsa-21-350-06.json", raw: realAdvisory(t, "icsa-21-350-06.json"), updated: jan, inDir: true}
		p.docs = []*advisoryFile{a, b, c}
		p.publish()
		first := p.snapshot()

		st := openStore(t, fresh())
		feed := createFeed(t, st, p.metadataURL(), p.caPEM())

		// Without the extra CA the provider's certificate is not trusted.
		h, _ := feeds.NewHTTPS("")
		if rep, err := (&feeds.Sync{Store: st, Fetcher: h, Feed: store.Feed{ID: feed.ID, URL: feed.URL}, Event: engineer}).Run(ctx); err != nil || rep.Result != feeds.ResultFailed || !strings.Contains(rep.Error, "certificate") {
			t.Fatalf("sync without the CA: %+v, %v; want failed for the certificate", rep, err)
		}

		rep := online(t, st, p, feed.ID)
		firstRep := rep
		if rep.Result != feeds.ResultOK || rep.Ingested != 3 || rep.Considered != 3 || len(rep.Keys) != 1 || rep.Keys[0] != fingerprint(p.key) || rep.Publisher != "Test Provider" {
			t.Fatalf("first sync: %+v", rep)
		}
		for _, x := range []*advisoryFile{a, b, c} {
			assertOutcome(t, rep, p.docURL(x), domain.FeedIngested, "")
		}
		stored, err := st.AdvisoriesPage(ctx, store.AdvisoryFilter{Limit: 10})
		if err != nil || len(stored) != 3 {
			t.Fatalf("advisories stored: %d, %v; want 3", len(stored), err)
		}
		f, _ := st.Feed(ctx, feed.ID)
		if f.Ingested != 3 || f.Refused != 0 || f.LastResult != feeds.ResultOK || f.LastSyncAt == nil || f.Trusted != fingerprint(p.key) {
			t.Fatalf("feed after the first sync: %+v", f)
		}

		// Nothing changed: nothing is fetched again.
		before := [3]int{p.fetched(a), p.fetched(b), p.fetched(c)}
		rep = online(t, st, p, feed.ID)
		if rep.Skipped != 3 || len(rep.Documents) != 0 || [3]int{p.fetched(a), p.fetched(b), p.fetched(c)} != before {
			t.Fatalf("second sync fetched again: %+v (fetches %v, before %v)", rep, [3]int{p.fetched(a), p.fetched(b), p.fetched(c)}, before)
		}

		// A newer revision of a replaces the stored one; b and c are not fetched again.
		feb := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		oldA := a.raw
		a.raw, a.updated = revised(t, oldA, feb), feb
		p.publish()
		rep = online(t, st, p, feed.ID)
		assertOutcome(t, rep, p.docURL(a), domain.FeedIngested, "")
		if len(rep.Documents) != 1 || p.fetched(b) != before[1] || p.fetched(c) != before[2] {
			t.Fatalf("revision sync: %v; b fetched %d times, c %d (before %d, %d)", outcomes(rep), p.fetched(b), p.fetched(c), before[1], before[2])
		}
		got, err := st.AdvisoriesPage(ctx, store.AdvisoryFilter{TrackingID: "ICSA-21-131-09", Limit: 2})
		if err != nil || len(got) != 1 || !got[0].CurrentRelease.Equal(feb) {
			t.Fatalf("ICSA-21-131-09 after the new revision: %+v, %v; want current release %s", got, err, feb)
		}

		// Tampered hash, bad signature, unknown key, an older revision, not CSAF.
		mar := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		stranger := newKey(t, "Stranger")
		d := &advisoryFile{name: "icsa-21-187-01.json", raw: realAdvisory(t, "icsa-21-187-01.json"), updated: mar, inFeed: true, signer: stranger}
		e := &advisoryFile{name: "not-csaf.json", raw: []byte(`{"document": {"title": "hello"}}`), updated: mar, inDir: true}
		a.raw, a.updated = oldA, mar // the older revision, announced as a change
		b.updated, c.updated = mar, mar
		p.docs = append(p.docs, d, e)
		p.publish()
		p.overwrite(b, ".sha512", []byte(strings.Repeat("ab", 64)+"  "+b.name+"\n"))
		p.overwrite(c, ".asc", sign(t, p.key, []byte("something else")))
		last := p.snapshot()
		rep = online(t, st, p, feed.ID)
		assertOutcome(t, rep, p.docURL(a), domain.FeedRefused, "older revision")
		assertOutcome(t, rep, p.docURL(b), domain.FeedRefused, "hash mismatch")
		assertOutcome(t, rep, p.docURL(c), domain.FeedRefused, "bad signature")
		assertOutcome(t, rep, p.docURL(d), domain.FeedRefused, "unknown key: signed by key "+fingerprint(stranger))
		assertOutcome(t, rep, p.docURL(e), domain.FeedRefused, "not CSAF 2.0")
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
				if rep := offline(t, offSt, tree.fsys, fingerprint(stranger)); rep.Result != feeds.ResultFailed {
					t.Fatalf("offline with a fingerprint the tree does not list: %+v", rep)
				}
			}
			got := offline(t, offSt, tree.fsys, fingerprint(p.key))
			if g, w := outcomes(got), outcomes(tree.want); !maps.Equal(g, w) || got.Result != tree.want.Result {
				t.Errorf("%s tree: offline %s %v, online %s %v", tree.name, got.Result, g, tree.want.Result, w)
			}
		}
	})
}

// freshOnline syncs the provider as it is now into a new database.
func freshOnline(t *testing.T, dsn string, p *provider) feeds.Report {
	t.Helper()
	st := openStore(t, dsn)
	return online(t, st, p, createFeed(t, st, p.metadataURL(), p.caPEM()).ID)
}
