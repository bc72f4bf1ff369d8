// Package feedstest serves a CSAF provider's tree over HTTPS from 127.0.0.1 for tests: provider
// metadata, the provider's OpenPGP key, a ROLIE feed and a directory distribution (index.txt,
// changes.csv) of the same advisories, each with its hash file and detached signature.
package feedstest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
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
)

// RealAdvisory reads a real advisory of dir (the shared test data beside the repository,
// ../shared/testdata/csaf), skipping the test when it is not there.
func RealAdvisory(t testing.TB, dir, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Skipf("no CSAF advisory %s in %s (the shared test data lives beside the repository); skipping", name, dir)
	}
	return raw
}

// revised is an advisory as its next revision: a later current release and version.
func Revised(t testing.TB, raw []byte, release time.Time) []byte {
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

// NewKey makes an EdDSA OpenPGP key.
func NewKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(name)+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Fingerprint is the key's fingerprint as provider metadata lists it.
func Fingerprint(e *openpgp.Entity) string {
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

// Sign makes an armored detached signature of doc.
func Sign(t testing.TB, e *openpgp.Entity, doc []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, e, bytes.NewReader(doc), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Advisory is one advisory the test provider publishes.
type Advisory struct {
	Name    string // file name under white/2021/
	Raw     []byte
	Updated time.Time
	InFeed  bool            // listed in the ROLIE feed
	InDir   bool            // listed in index.txt and changes.csv
	SHA256  bool            // a .sha256 hash file instead of .sha512
	Signer  *openpgp.Entity // nil: the provider's key
}

// provider is a CSAF trusted provider's tree served over HTTPS from 127.0.0.1: provider
// metadata, its public key, a ROLIE feed and a directory distribution of the same advisories.
type Provider struct {
	t   testing.TB
	srv *httptest.Server
	// Key signs the advisories and is the one key the provider metadata lists.
	Key *openpgp.Entity
	// Docs are the advisories Publish writes.
	Docs  []*Advisory
	mu    sync.Mutex
	files fstest.MapFS
	hits  map[string]int
}

// NewProvider starts the provider's HTTPS server (stopped with the test); Publish writes its tree.
func NewProvider(t testing.TB) *Provider {
	p := &Provider{t: t, Key: NewKey(t, "Provider"), files: fstest.MapFS{}, hits: map[string]int{}}
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
func (p *Provider) CAPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}))
}

// Base is the URL of the provider's .well-known/csaf/ directory.
func (p *Provider) Base() string { return p.srv.URL + "/.well-known/csaf/" }

// MetadataURL is the URL of its provider-metadata.json.
func (p *Provider) MetadataURL() string { return p.Base() + "provider-metadata.json" }

// DocURL is the URL of an advisory.
func (p *Provider) DocURL(a *Advisory) string { return p.Base() + "white/2021/" + a.Name }

func (p *Provider) put(name string, data []byte) {
	p.files[".well-known/csaf/"+name] = &fstest.MapFile{Data: data}
}

// publish writes the whole tree again from p.Docs.
func (p *Provider) Publish() {
	t := p.t
	p.mu.Lock()
	defer p.mu.Unlock()
	pmd := gocsaf.NewProviderMetadata(p.MetadataURL())
	pmd.Defaults()
	cat, name, ns := gocsaf.CSAFCategoryVendor, "Test Provider", "https://provider.example"
	pmd.Publisher = &gocsaf.Publisher{Category: &cat, Name: &name, Namespace: &ns}
	pmd.SetLastUpdated(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	pmd.SetPGP(Fingerprint(p.Key), p.Base()+"openpgp/provider.asc")
	tlp := gocsaf.TLPLabel(gocsaf.TLPLabelWhite)
	feedURL := gocsaf.JSONURL(p.Base() + "white/feed-white.json")
	pmd.Distributions = []gocsaf.Distribution{
		{Rolie: &gocsaf.ROLIE{Feeds: []gocsaf.Feed{{Summary: "WHITE advisories", TLPLabel: &tlp, URL: &feedURL}}}},
		{DirectoryURL: p.Base() + "white/"},
	}
	var buf bytes.Buffer
	if _, err := pmd.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p.put("provider-metadata.json", bytes.Clone(buf.Bytes()))
	p.put("openpgp/provider.asc", armoredPublic(t, p.Key))

	feed := gocsaf.ROLIEFeed{Feed: gocsaf.FeedData{ID: "white", Title: "WHITE advisories", Updated: gocsaf.TimeStamp(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Entry: []*gocsaf.Entry{}}}
	var index, changes strings.Builder
	for _, a := range p.Docs {
		rel := "2021/" + a.Name
		p.put("white/"+rel, a.Raw)
		hashName := "white/" + rel + ".sha512"
		if a.SHA256 {
			s := sha256.Sum256(a.Raw)
			hashName = "white/" + rel + ".sha256"
			p.put(hashName, []byte(hex.EncodeToString(s[:])+"  "+a.Name+"\n"))
		} else {
			s := sha512.Sum512(a.Raw)
			p.put(hashName, []byte(hex.EncodeToString(s[:])+"  "+a.Name+"\n"))
		}
		signer := a.Signer
		if signer == nil {
			signer = p.Key
		}
		p.put("white/"+rel+".asc", Sign(t, signer, a.Raw))
		if a.InFeed {
			u := p.DocURL(a)
			feed.Feed.Entry = append(feed.Feed.Entry, &gocsaf.Entry{ID: strings.TrimSuffix(a.Name, ".json"), Titel: a.Name,
				Link:    []gocsaf.Link{{Rel: "self", HRef: u}, {Rel: "hash", HRef: p.Base() + hashName}, {Rel: "signature", HRef: u + ".asc"}},
				Content: gocsaf.Content{Type: "application/json", Src: u}, Format: gocsaf.Format{Schema: "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", Version: "2.0"},
				Published: gocsaf.TimeStamp(a.Updated), Updated: gocsaf.TimeStamp(a.Updated)})
		}
		if a.InDir {
			index.WriteString(rel + "\n")
			changes.WriteString(`"` + rel + `","` + a.Updated.UTC().Format(time.RFC3339) + `"` + "\n")
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
func (p *Provider) Overwrite(a *Advisory, suffix string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.put("white/2021/"+a.Name+suffix, data)
}

// Fetched is how often the advisory's document was read.
func (p *Provider) Fetched(a *Advisory) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[".well-known/csaf/white/2021/"+a.Name]
}

// snapshot is the tree as it is now, for an offline sync.
func (p *Provider) Snapshot() fstest.MapFS {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := fstest.MapFS{}
	for k, v := range p.files {
		out[k] = &fstest.MapFile{Data: bytes.Clone(v.Data)}
	}
	return out
}
