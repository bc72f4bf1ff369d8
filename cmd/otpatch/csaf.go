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
	remote := newRemoteFlags(fs, "engineer or admin")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(files) == 0:
		return fs.usageError("give at least one advisory FILE")
	}
	failed := 0
	for _, path := range files {
		line, err := ingestAdvisory(ctx, srv, path)
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
func ingestAdvisory(ctx context.Context, srv *server, path string) (string, error) {
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
	// The file is streamed with its Content-Length, which net/http sets only for a body held
	// in memory.
	length := func(_ context.Context, req *http.Request) error {
		req.ContentLength = st.Size()
		return nil
	}
	res, err := srv.api.IngestAdvisoryWithBodyWithResponse(ctx, "application/json", f, length)
	if err != nil {
		return "", srv.noAnswer(ctx, err)
	}
	a := res.JSON201
	if a == nil {
		a = res.JSON200
	}
	if a == nil {
		return "", refused("the advisory was", srv.wrongAnswer(res, http.StatusCreated, http.StatusOK))
	}
	ingest, cves := "", "no CVE"
	if a.Ingest != nil {
		ingest = *a.Ingest
	}
	list := a.Cves
	switch n := len(list); {
	case n > 4:
		cves = strings.Join(list[:4], ", ") + fmt.Sprintf(" and %d more", n-4)
	case n > 0:
		cves = strings.Join(list, ", ")
	}
	return fmt.Sprintf("%s %s: %s; %d affected assets; %s", a.TrackingId, ingest, cves, a.AffectedAssetCount, a.Remediation), nil
}
