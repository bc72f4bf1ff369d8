// Package feeds fetches the advisories a CSAF 2.0 provider publishes (CSAF 2.0 §7): it reads
// the provider metadata, the OpenPGP keys it lists (each checked against the fingerprint the
// metadata gives), its ROLIE feeds and directory distributions (index.txt, changes.csv), and
// for each advisory that changed since the last sync checks the .sha512/.sha256 hash file and
// the detached .asc signature against the provider's keys before ingesting it the way a
// posted advisory is ingested. What fails is refused with its reason and kept on the feed.
// The same sync reads a copy of the provider's tree carried to an air-gapped site.
package feeds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gocsaf "github.com/gocsaf/csaf/v3/csaf"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Bounds on what one sync reads.
const (
	maxMetadataBytes  = 1 << 20
	maxKeyBytes       = 256 << 10
	maxFeedBytes      = 32 << 20
	maxListBytes      = 8 << 20
	maxHashBytes      = 4 << 10
	maxSignatureBytes = 64 << 10
	maxKeys           = 16
	maxDistributions  = 32
	// MaxDocuments bounds the advisories one sync considers.
	MaxDocuments = 20_000
	// maxReason bounds a refusal's reason as stored.
	maxReason = 500
)

// Results of a sync.
const (
	ResultOK       = domain.FeedSyncOK
	ResultRefusals = domain.FeedSyncRefusals
	ResultFailed   = domain.FeedSyncFailed
)

// MetadataURL turns what a person gives for a feed into the provider-metadata.json URL: an
// HTTPS URL as it is, a domain (host[:port]) through the well-known place
// https://DOMAIN/.well-known/csaf/provider-metadata.json.
func MetadataURL(given string) (string, error) {
	given = strings.TrimSpace(given)
	if given == "" {
		return "", errors.New("give the provider's domain or the URL of its provider-metadata.json")
	}
	if !strings.Contains(given, "://") {
		host := strings.TrimSuffix(given, "/")
		if strings.ContainsAny(host, "/?#@ ") {
			return "", fmt.Errorf("%q is neither a domain nor a URL", given)
		}
		given = "https://" + host + "/.well-known/csaf/provider-metadata.json"
	}
	u, err := url.Parse(given)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q is not a URL", given)
	case u.Scheme != "https":
		return "", fmt.Errorf("%s is not HTTPS: feeds are read over HTTPS only", u.Redacted())
	case u.Host == "" || u.User != nil:
		return "", fmt.Errorf("%q names no host (or carries credentials)", given)
	case !strings.HasSuffix(u.Path, ".json"):
		return "", fmt.Errorf("%s does not name a JSON document (provider-metadata.json)", u.Redacted())
	}
	if h, _, err := net.SplitHostPort(u.Host); err == nil && h == "" {
		return "", fmt.Errorf("%q names no host", given)
	}
	u.Fragment = ""
	return u.String(), nil
}

// NormalizeFingerprint upper-cases a fingerprint and drops its spaces; it answers "" for one
// that is not 40 or more hex digits.
func NormalizeFingerprint(fp string) string {
	fp = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(fp), " ", ""))
	if len(fp) < 40 || len(fp) > 64 {
		return ""
	}
	if _, err := hex.DecodeString(fp); err != nil {
		return ""
	}
	return fp
}

func parseMetadata(raw []byte) (*gocsaf.ProviderMetadata, error) {
	var pmd gocsaf.ProviderMetadata
	if err := json.Unmarshal(raw, &pmd); err != nil {
		return nil, fmt.Errorf("the provider metadata is not CSAF provider metadata: %v", err)
	}
	if err := pmd.Validate(); err != nil {
		return nil, fmt.Errorf("the provider metadata is not valid: %v", err)
	}
	return &pmd, nil
}

// Sync is one sync of a feed.
type Sync struct {
	Store   *store.Store
	Fetcher Fetcher
	// Feed is the feed synced; its pinned fingerprints (if any) restrict the keys trusted.
	Feed store.Feed
	// Accept are fingerprints trusted besides the feed's pinned ones (an offline sync: the
	// fingerprint the person gives, and the keys earlier syncs verified). With Offline set, a
	// key is trusted only when its fingerprint is among the feed's pinned ones or Accept.
	Accept  []string
	Offline bool
	// Event is the audit event the sync's writes carry (actor, request); its action is set here.
	Event store.Event
}

// Report is what a sync did.
type Report struct {
	FeedID    string `json:"feed_id"`
	URL       string `json:"url"`
	Publisher string `json:"publisher"`
	// Result is ok, refusals (some documents were refused) or failed (Error says why).
	Result domain.FeedResult `json:"result"`
	Error  string            `json:"error,omitempty"`
	// Keys are the fingerprints of the provider keys the sync trusted.
	Keys []string `json:"keys"`
	// Considered is how many documents the provider lists; Skipped those not fetched because
	// they did not change since they were stored.
	Considered int `json:"considered"`
	Skipped    int `json:"skipped"`
	Ingested   int `json:"ingested"`
	Unchanged  int `json:"unchanged"`
	Refused    int `json:"refused"`
	// Documents are the documents fetched, with what was done with each.
	Documents []store.FeedDocument `json:"documents"`
}

// candidate is one advisory the provider lists.
type candidate struct {
	url        string
	changed    time.Time
	hashURLs   []string
	signature  string
	fromFeed   bool
	distribDir string
}

// Run syncs the feed and records what it saw (store.RecordFeedSync). A provider that cannot
// be read fails the sync (Result failed, recorded on the feed); only a store failure is an
// error.
func (s *Sync) Run(ctx context.Context) (Report, error) {
	rep := Report{FeedID: s.Feed.ID, URL: s.Feed.URL, Keys: []string{}, Documents: []store.FeedDocument{}}
	if err := s.run(ctx, &rep); err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.Result, rep.Error = ResultFailed, clip(err.Error())
	}
	ev := s.Event
	ev.Details = map[string]any{"url": s.Feed.URL, "offline": s.Offline, "considered": rep.Considered, "skipped": rep.Skipped,
		"ingested": rep.Ingested, "unchanged": rep.Unchanged, "refused": rep.Refused, "keys": rep.Keys}
	_, err := s.Store.RecordFeedSync(context.WithoutCancel(ctx), s.Feed.ID, store.FeedSync{At: s.Store.Now(), Publisher: rep.Publisher,
		Trusted: strings.Join(rep.Keys, ","), Result: rep.Result, Error: rep.Error, Documents: rep.Documents}, ev)
	return rep, err
}

func (s *Sync) run(ctx context.Context, rep *Report) error {
	raw, err := s.Fetcher.Fetch(ctx, s.Feed.URL, maxMetadataBytes)
	if err != nil {
		return fmt.Errorf("reading the provider metadata: %w", err)
	}
	pmd, err := parseMetadata(raw)
	if err != nil {
		return err
	}
	if pmd.Publisher != nil && pmd.Publisher.Name != nil {
		rep.Publisher = *pmd.Publisher.Name
	}
	keys, fps, err := s.keys(ctx, pmd)
	if err != nil {
		return err
	}
	rep.Keys = fps
	cands, err := s.candidates(ctx, pmd)
	if err != nil {
		return err
	}
	rep.Considered = len(cands)
	seen, err := s.Store.FeedDocuments(ctx, s.Feed.ID, MaxDocuments)
	if err != nil {
		return err
	}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return err
		}
		if old, ok := seen[c.url]; ok && old.Outcome != domain.FeedRefused && old.Changed != nil && !c.changed.IsZero() && old.Changed.Equal(c.changed) {
			rep.Skipped++
			continue
		}
		d := s.document(ctx, c, keys)
		switch d.Outcome {
		case domain.FeedIngested:
			rep.Ingested++
		case domain.FeedUnchanged:
			rep.Unchanged++
		default:
			rep.Refused++
		}
		rep.Documents = append(rep.Documents, d)
	}
	rep.Result = ResultOK
	if rep.Refused > 0 {
		rep.Result = ResultRefusals
	}
	return nil
}

// keys reads the provider's public OpenPGP keys, each checked against the fingerprint the
// metadata gives for it, and keeps those the feed trusts.
func (s *Sync) keys(ctx context.Context, pmd *gocsaf.ProviderMetadata) (openpgp.EntityList, []string, error) {
	pinned := map[string]bool{}
	for _, fp := range strings.Split(s.Feed.Fingerprints, ",") {
		if fp = NormalizeFingerprint(fp); fp != "" {
			pinned[fp] = true
		}
	}
	for _, fp := range s.Accept {
		if fp = NormalizeFingerprint(fp); fp != "" && s.Offline {
			pinned[fp] = true
		}
	}
	if s.Offline && len(pinned) == 0 {
		return nil, nil, errors.New("an offline sync trusts no key on the tree's word alone: give the fingerprint of the provider's key (--fingerprint), or sync the feed online once")
	}
	if len(pmd.PGPKeys) > maxKeys {
		return nil, nil, fmt.Errorf("the provider lists %d keys, more than the limit of %d", len(pmd.PGPKeys), maxKeys)
	}
	var ring openpgp.EntityList
	var fps, problems []string
	for _, k := range pmd.PGPKeys {
		want := NormalizeFingerprint(string(k.Fingerprint))
		if k.URL == nil || want == "" {
			problems = append(problems, "a key without URL or fingerprint")
			continue
		}
		if len(pinned) > 0 && !pinned[want] {
			continue
		}
		u, err := resolve(s.Feed.URL, *k.URL)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		raw, err := s.Fetcher.Fetch(ctx, u, maxKeyBytes)
		if err != nil {
			problems = append(problems, fmt.Sprintf("key %s: %v", want, err))
			continue
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(raw))
		if err != nil {
			problems = append(problems, fmt.Sprintf("key %s at %s is not an OpenPGP public key: %v", want, u, err))
			continue
		}
		found := false
		for _, e := range el {
			if e.PrimaryKey != nil && strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint)) == want {
				ring, found = append(ring, e), true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("the key at %s is not the key of fingerprint %s the metadata names; not trusted", u, want))
			continue
		}
		fps = append(fps, want)
	}
	if len(ring) == 0 {
		msg := "no provider key could be trusted"
		if len(pinned) > 0 {
			msg = "none of the trusted fingerprints is a key the provider metadata lists"
		}
		if len(problems) > 0 {
			msg += ": " + strings.Join(problems, "; ")
		}
		return nil, nil, errors.New(msg)
	}
	sort.Strings(fps)
	return ring, fps, nil
}

// candidates lists the advisories of the provider's ROLIE feeds and directory distributions,
// each once (the later change time wins).
func (s *Sync) candidates(ctx context.Context, pmd *gocsaf.ProviderMetadata) ([]candidate, error) {
	if len(pmd.Distributions) == 0 {
		return nil, errors.New("the provider metadata lists no distribution (ROLIE feed or directory)")
	}
	if len(pmd.Distributions) > maxDistributions {
		return nil, fmt.Errorf("the provider metadata lists %d distributions, more than the limit of %d", len(pmd.Distributions), maxDistributions)
	}
	byURL := map[string]*candidate{}
	var order []string
	add := func(c candidate) error {
		if old, ok := byURL[c.url]; ok {
			if c.changed.After(old.changed) {
				old.changed = c.changed
			}
			if old.fromFeed || !c.fromFeed {
				return nil
			}
			c.changed = old.changed
			*old = c
			return nil
		}
		if len(byURL) >= MaxDocuments {
			return fmt.Errorf("the provider lists more than %d advisories", MaxDocuments)
		}
		byURL[c.url] = &c
		order = append(order, c.url)
		return nil
	}
	for _, d := range pmd.Distributions {
		if d.Rolie != nil {
			for _, f := range d.Rolie.Feeds {
				if f.URL == nil {
					continue
				}
				if err := s.rolie(ctx, string(*f.URL), add); err != nil {
					return nil, err
				}
			}
		}
		if d.DirectoryURL != "" {
			if err := s.directory(ctx, d.DirectoryURL, add); err != nil {
				return nil, err
			}
		}
	}
	out := make([]candidate, 0, len(order))
	for _, u := range order {
		out = append(out, *byURL[u])
	}
	return out, nil
}

func (s *Sync) rolie(ctx context.Context, feedURL string, add func(candidate) error) error {
	u, err := resolve(s.Feed.URL, feedURL)
	if err != nil {
		return err
	}
	raw, err := s.Fetcher.Fetch(ctx, u, maxFeedBytes)
	if err != nil {
		return fmt.Errorf("reading the ROLIE feed: %w", err)
	}
	rf, err := gocsaf.LoadROLIEFeed(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("the ROLIE feed %s is not a ROLIE feed: %v", u, err)
	}
	for _, e := range rf.Feed.Entry {
		c := candidate{changed: time.Time(e.Updated).UTC(), fromFeed: true}
		var sha256URL, sha512URL string
		for _, l := range e.Link {
			href, err := resolve(u, l.HRef)
			if err != nil {
				continue
			}
			switch l.Rel {
			case "self":
				c.url = href
			case "signature":
				c.signature = href
			case "hash":
				switch {
				case strings.HasSuffix(href, ".sha512"):
					sha512URL = href
				case strings.HasSuffix(href, ".sha256"):
					sha256URL = href
				}
			}
		}
		if c.url == "" && e.Content.Src != "" {
			c.url, _ = resolve(u, e.Content.Src)
		}
		if c.url == "" {
			continue
		}
		c.hashURLs = nonEmpty(sha512URL, sha256URL)
		if err := add(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sync) directory(ctx context.Context, dirURL string, add func(candidate) error) error {
	base, err := resolve(s.Feed.URL, dirURL)
	if err != nil {
		return err
	}
	base = strings.TrimSuffix(base, "/") + "/"
	changes := map[string]time.Time{}
	raw, err := s.Fetcher.Fetch(ctx, base+"changes.csv", maxListBytes)
	switch {
	case err == nil:
		if changes, err = ParseChanges(raw); err != nil {
			return fmt.Errorf("%schanges.csv: %v", base, err)
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("reading changes.csv: %w", err)
	}
	paths := make([]string, 0, len(changes))
	for p := range changes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	raw, err = s.Fetcher.Fetch(ctx, base+"index.txt", maxListBytes)
	switch {
	case err == nil:
		index, err := ParseIndex(raw)
		if err != nil {
			return fmt.Errorf("%sindex.txt: %v", base, err)
		}
		for _, p := range index {
			if _, ok := changes[p]; !ok {
				paths = append(paths, p)
			}
		}
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("reading index.txt: %w", err)
	case len(changes) == 0:
		return fmt.Errorf("the directory %s has neither changes.csv nor index.txt", base)
	}
	for _, p := range paths {
		doc, err := resolve(base, p)
		if err != nil || !strings.HasPrefix(doc, base) || !strings.HasSuffix(doc, ".json") {
			continue // a path that leaves the directory or names no advisory
		}
		if err := add(candidate{url: doc, changed: changes[p], hashURLs: []string{doc + ".sha512", doc + ".sha256"}, signature: doc + ".asc", distribDir: base}); err != nil {
			return err
		}
	}
	return nil
}

// document fetches, checks and ingests one advisory.
func (s *Sync) document(ctx context.Context, c candidate, keys openpgp.EntityList) store.FeedDocument {
	d := store.FeedDocument{URL: c.url, Outcome: domain.FeedRefused}
	if !c.changed.IsZero() {
		t := c.changed
		d.Changed = &t
	}
	refuse := func(format string, args ...any) store.FeedDocument {
		d.Reason = clip(fmt.Sprintf(format, args...))
		return d
	}
	raw, err := s.Fetcher.Fetch(ctx, c.url, csaf.MaxDocumentBytes)
	if err != nil {
		return refuse("unreadable: %v", err)
	}
	sum := sha256.Sum256(raw)
	d.SHA256 = hex.EncodeToString(sum[:])
	if reason := s.checkHash(ctx, c, raw); reason != "" {
		return refuse("%s", reason)
	}
	if c.signature == "" {
		c.signature = c.url + ".asc"
	}
	sig, err := s.Fetcher.Fetch(ctx, c.signature, maxSignatureBytes)
	if err != nil {
		return refuse("no signature: %v", err)
	}
	if reason := checkSignature(keys, raw, sig); reason != "" {
		return refuse("%s", reason)
	}
	ev := s.Event
	ev.Details = map[string]any{"feed_id": s.Feed.ID, "url": c.url}
	a, adv, outcome, err := s.Store.IngestAdvisory(ctx, raw, ev)
	if adv != nil {
		d.TrackingID, d.Revision = adv.TrackingID, adv.Revision
		t := adv.CurrentRelease.UTC()
		d.CurrentRelease = &t
	}
	switch {
	case store.IsNotCSAF(err):
		return refuse("not CSAF 2.0: %v", err)
	case errors.Is(err, store.ErrConflict):
		return refuse("older revision: %v", err)
	case err != nil:
		return refuse("not stored: %v", err)
	}
	d.AdvisoryID, d.Outcome = a.ID, domain.FeedIngested
	if outcome == store.AdvisoryUnchanged {
		d.Outcome = domain.FeedUnchanged
	}
	return d
}

// checkHash compares the document with the first hash file the provider publishes (SHA-512
// preferred); it answers the reason of a refusal, or "".
func (s *Sync) checkHash(ctx context.Context, c candidate, raw []byte) string {
	urls := c.hashURLs
	if len(urls) == 0 {
		urls = []string{c.url + ".sha512", c.url + ".sha256"}
	}
	for _, u := range urls {
		text, err := s.Fetcher.Fetch(ctx, u, maxHashBytes)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Sprintf("hash file unreadable: %v", err)
		}
		want, err := ParseHashFile(text)
		if err != nil {
			return fmt.Sprintf("hash file %s: %v", u, err)
		}
		var got string
		switch len(want) {
		case sha512.Size * 2:
			s := sha512.Sum512(raw)
			got = hex.EncodeToString(s[:])
		case sha256.Size * 2:
			s := sha256.Sum256(raw)
			got = hex.EncodeToString(s[:])
		default:
			return fmt.Sprintf("hash file %s holds no SHA-256 or SHA-512 digest", u)
		}
		if got != want {
			return fmt.Sprintf("hash mismatch: the document's digest is %s…, %s says %s…", got[:16], u, want[:16])
		}
		return ""
	}
	return "no hash file (.sha512 or .sha256) is published for it"
}

// checkSignature verifies a detached armored signature against the trusted keys; it answers
// the reason of a refusal, or "".
func checkSignature(keys openpgp.EntityList, doc, sig []byte) string {
	_, err := openpgp.CheckArmoredDetachedSignature(keys, bytes.NewReader(doc), bytes.NewReader(sig), nil)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "unknown key: signed by " + issuer(sig) + ", which is not a trusted key of this provider"
	default:
		return "bad signature: " + err.Error()
	}
}

// issuer names the key that made a signature, as far as the signature says.
func issuer(sig []byte) string {
	blk, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return "an unnamed key"
	}
	p, err := packet.Read(io.LimitReader(blk.Body, maxSignatureBytes))
	if err != nil {
		return "an unnamed key"
	}
	if s, ok := p.(*packet.Signature); ok {
		if len(s.IssuerFingerprint) > 0 {
			return "key " + strings.ToUpper(hex.EncodeToString(s.IssuerFingerprint))
		}
		if s.IssuerKeyId != nil {
			return fmt.Sprintf("key id %016X", *s.IssuerKeyId)
		}
	}
	return "an unnamed key"
}

// ParseChanges reads a directory distribution's changes.csv: one line per advisory, its path
// relative to the directory and the time it last changed (RFC 3339).
func ParseChanges(raw []byte) (map[string]time.Time, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = 2
	r.ReuseRecord = true
	out := map[string]time.Time{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if len(out) >= MaxDocuments {
			return nil, fmt.Errorf("more than %d lines", MaxDocuments)
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[1]))
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an RFC 3339 time", line, rec[1])
		}
		p := strings.TrimSpace(rec[0])
		if p == "" {
			return nil, fmt.Errorf("line %d: no path", line)
		}
		if old, ok := out[p]; !ok || t.After(old) {
			out[p] = t.UTC()
		}
	}
}

// ParseIndex reads a directory distribution's index.txt: one advisory path per line.
func ParseIndex(raw []byte) ([]string, error) {
	var out []string
	for l := range strings.SplitSeq(string(raw), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if len(out) >= MaxDocuments {
			return nil, fmt.Errorf("more than %d lines", MaxDocuments)
		}
		out = append(out, l)
	}
	return out, nil
}

// ParseHashFile reads a .sha256 or .sha512 file ("<hex digest>  <file name>", as sha256sum
// writes it): the lower-case hex digest.
func ParseHashFile(raw []byte) (string, error) {
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return "", errors.New("empty")
	}
	d := strings.ToLower(fields[0])
	if _, err := hex.DecodeString(d); err != nil || (len(d) != 64 && len(d) != 128) {
		return "", errors.New("does not start with a hex SHA-256 or SHA-512 digest")
	}
	return d, nil
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", ref)
	}
	return b.ResolveReference(r).String(), nil
}

func nonEmpty(ss ...string) []string {
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" })
}

func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason], "") + "…"
}
