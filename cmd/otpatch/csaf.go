package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/otpatch/otpatch/internal/csaf"
)

const csafUsage = "usage: otpatch csaf ingest --url URL --token TOKEN FILE..."

// runCSAF is `otpatch csaf ingest`: it sends CSAF 2.0 advisory files to the server and prints
// one line per file: tracking id, what the server did, CVEs and affected assets. A server that
// cannot be reached stops it at the first file.
func runCSAF(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New(csafUsage)
	}
	fs := flag.NewFlagSet("csaf ingest", flag.ContinueOnError)
	url := fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL (OTPATCH_URL)")
	token := fs.String("token", env("TOKEN", ""), "engineer or admin token (OTPATCH_TOKEN)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *token == "" || fs.NArg() == 0 {
		return errors.New(csafUsage)
	}
	failed := 0
	for _, path := range fs.Args() {
		line, err := ingestAdvisory(ctx, strings.TrimRight(*url, "/"), *token, path)
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
		return fmt.Errorf("%d of %d advisories were not ingested", failed, fs.NArg())
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
