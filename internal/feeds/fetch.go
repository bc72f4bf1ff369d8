package feeds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Fetcher reads one file of a provider tree by its URL, at most max bytes.
type Fetcher interface {
	Fetch(ctx context.Context, url string, max int64) ([]byte, error)
}

// ErrNotFound is a file the provider does not publish (404, or absent from an offline tree).
var ErrNotFound = errors.New("not published")

// Limits on one request of the HTTPS fetcher.
const (
	requestTimeout = 2 * time.Minute
	maxRedirects   = 5
)

// HTTPS fetches a provider's files over HTTPS only, verified against the system's trust roots
// as Go finds them (SSL_CERT_FILE and SSL_CERT_DIR are honoured) plus an optional extra CA.
type HTTPS struct {
	client *http.Client
}

var _ Fetcher = (*HTTPS)(nil)

// NewHTTPS builds the fetcher; caPEM is an extra CA certificate (PEM, may be empty) that may
// sign the provider's certificate besides the system's roots.
func NewHTTPS(caPEM string) (*HTTPS, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if strings.TrimSpace(caPEM) != "" {
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("the extra CA is not a PEM certificate")
		}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
	}
	return &HTTPS{client: &http.Client{Transport: tr, Timeout: requestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("redirected to %s, which is not HTTPS", req.URL.Redacted())
			}
			return nil
		}}}, nil
}

// Fetch reads url (https only), refusing an answer larger than max.
func (h *HTTPS) Fetch(ctx context.Context, rawURL string, max int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s is not an HTTPS URL", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	res, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%s: %w (%s)", rawURL, ErrNotFound, res.Status)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s answered %s", rawURL, res.Status)
	case res.ContentLength > max:
		return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", rawURL, res.ContentLength, max)
	}
	return readBounded(res.Body, max, rawURL)
}

func readBounded(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", what, max)
	}
	return b, nil
}

// Tree reads a copy of a provider's tree carried to an air-gapped site: the URLs under the
// directory of the provider metadata's canonical URL are files under the directory of the
// tree that holds provider-metadata.json.
type Tree struct {
	fsys fs.FS
	// dir is where provider-metadata.json is in fsys; base the URL prefix it stands for.
	dir, base string
	// MetadataURL is the canonical URL the tree's provider-metadata.json names.
	MetadataURL string
}

var _ Fetcher = (*Tree)(nil)

// metadataPlaces are where a tree may hold its provider metadata: at its root, or as the
// provider's web root holds it.
var metadataPlaces = []string{"provider-metadata.json", ".well-known/csaf/provider-metadata.json"}

// OpenTree finds the provider metadata of a tree and its canonical URL.
func OpenTree(fsys fs.FS) (*Tree, error) {
	for _, p := range metadataPlaces {
		f, err := fsys.Open(p)
		if err != nil {
			continue
		}
		raw, err := readBounded(f, maxMetadataBytes, p)
		f.Close()
		if err != nil {
			return nil, err
		}
		pmd, err := parseMetadata(raw)
		if err != nil {
			return nil, err
		}
		canonical := string(*pmd.CanonicalURL)
		return &Tree{fsys: fsys, dir: path.Dir(p), base: canonical[:strings.LastIndex(canonical, "/")+1], MetadataURL: canonical}, nil
	}
	return nil, errors.New("the tree holds no provider-metadata.json (looked at its root and at .well-known/csaf/)")
}

// Fetch reads the file a URL of the provider stands for.
func (t *Tree) Fetch(_ context.Context, rawURL string, max int64) ([]byte, error) {
	rel, ok := strings.CutPrefix(rawURL, t.base)
	if !ok {
		return nil, fmt.Errorf("%s is outside the provider's tree (%s)", rawURL, t.base)
	}
	if u, err := url.PathUnescape(rel); err == nil {
		rel = u
	}
	p := path.Join(t.dir, rel)
	if !fs.ValidPath(p) || strings.Contains(rel, "..") {
		return nil, fmt.Errorf("%s names no file of the tree", rawURL)
	}
	f, err := t.fsys.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s in the tree)", rawURL, ErrNotFound, p)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the limit of %d", p, st.Size(), max)
	}
	return readBounded(f, max, p)
}
