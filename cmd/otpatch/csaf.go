package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/otpatch/otpatch/internal/csaf"
)

// runCSAFIngest is `otpatch csaf ingest`: it sends CSAF 2.0 advisory files to the server and
// prints one line per file: tracking id, what the server did, CVEs and affected assets. A
// server that cannot be reached stops it at the first file.
func runCSAFIngest(ctx context.Context, args []string) error {
	fs := newFlags("csaf ingest")
	rawURL := fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL (OTPATCH_URL)")
	token := fs.String("token", env("TOKEN", ""), "engineer or admin token (OTPATCH_TOKEN)")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	base, err := serverURL(fs, *rawURL)
	if err != nil {
		return err
	}
	switch {
	case *token == "":
		return fs.usageError("no token: give --token or set OTPATCH_TOKEN")
	case len(files) == 0:
		return fs.usageError("give at least one advisory FILE")
	}
	failed := 0
	for _, path := range files {
		line, err := ingestAdvisory(ctx, base, *token, path)
		var ae *answerError
		switch {
		case err == nil:
			fmt.Println(line)
		case errors.As(err, &ae) || errors.Is(err, errAdvisoryFile):
			fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(path), err)
			failed++
		default:
			return err // the server cannot be reached: every other file would fail the same way
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d advisories were not ingested", failed, len(files))
	}
	return nil
}

// errAdvisoryFile marks a file that was not sent.
var errAdvisoryFile = errors.New("not sent")

// ingestAdvisory posts one file and returns its summary line.
func ingestAdvisory(ctx context.Context, base, token, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errAdvisoryFile, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %w", errAdvisoryFile, err)
	}
	if st.Size() > csaf.MaxDocumentBytes {
		return "", fmt.Errorf("%w: %d bytes, larger than the limit of %d bytes for an advisory", errAdvisoryFile, st.Size(), csaf.MaxDocumentBytes)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/advisories", f)
	if err != nil {
		return "", err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/json")
	var a struct {
		TrackingID string   `json:"tracking_id"`
		Ingest     string   `json:"ingest"`
		CVEs       []string `json:"cves"`
		Affected   int      `json:"affected_asset_count"`
		Remedy     string   `json:"remediation"`
	}
	if err := call(req, base, token, &a, http.StatusCreated, http.StatusOK); err != nil {
		return "", refused("the advisory was", err)
	}
	cves := "no CVE"
	switch n := len(a.CVEs); {
	case n > 4:
		cves = strings.Join(a.CVEs[:4], ", ") + fmt.Sprintf(" and %d more", n-4)
	case n > 0:
		cves = strings.Join(a.CVEs, ", ")
	}
	return fmt.Sprintf("%s %s: %s; %d affected assets; %s", a.TrackingID, a.Ingest, cves, a.Affected, a.Remedy), nil
}
