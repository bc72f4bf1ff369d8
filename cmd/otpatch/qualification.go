package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/otpatch/otpatch/internal/client"
	"github.com/otpatch/otpatch/internal/qualification"
)

// qualificationCommands are the `otpatch qualification` commands, added to commands().
func qualificationCommands() []command {
	return []command{
		{"qualification import", "--url URL --token TOKEN --mapping rockwell|generic --list NAME --list-date YYYY-MM-DD [--vendor NAME] [--format csv|json|xlsx] FILE",
			"import a vendor's published qualification list, all or nothing; every bad row is named", runQualificationImport},
		{"qualification set", "--url URL --token TOKEN --patch ID --product PRODUCT --release RELEASE --status STATUS [--reason TEXT]",
			"set the qualification of a patch for a product release (held stops it from being planned)", runQualificationSet},
	}
}

// runQualificationImport is `otpatch qualification import`: it sends one list and prints what it
// added and changed, or every bad row.
func runQualificationImport(ctx context.Context, args []string) error {
	fs := newFlags("qualification import")
	remote := newRemoteFlags(fs, "engineer or admin")
	mapping := fs.String("mapping", "", "the column mapping: "+strings.Join(qualification.MappingNames(), " or "))
	format := fs.String("format", "", "csv, json or xlsx (default: from the file's extension, else csv)")
	vendor := fs.String("vendor", "", "the vendor whose list it is (default: the mapping's vendor)")
	list := fs.String("list", "", "the list's name as the vendor titles it")
	listDate := fs.String("list-date", "", "the list's date, YYYY-MM-DD")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(files) != 1:
		return fs.usageError("give one list FILE")
	case *mapping == "":
		return fs.usageError("give --mapping: %s", strings.Join(qualification.MappingNames(), " or "))
	case *list == "" || *listDate == "":
		return fs.usageError("give --list (the list's name) and --list-date (its date, YYYY-MM-DD)")
	}
	if *format == "" {
		*format = qualification.FormatCSV
		switch ext := strings.ToLower(filepath.Ext(files[0])); ext {
		case ".json", ".xlsx":
			*format = ext[1:]
		}
	}
	data, err := readBounded(files[0], qualification.MaxBytes)
	if err != nil {
		return err
	}
	m, f := client.ImportQualificationsParamsMapping(*mapping), client.ImportQualificationsParamsFormat(*format)
	params := &client.ImportQualificationsParams{Mapping: &m, Format: &f, List: list, ListDate: listDate}
	if *vendor != "" {
		params.Vendor = vendor
	}
	res, err := srv.api.ImportQualificationsWithBodyWithResponse(ctx, params, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		if rows := problemRows(res.Body); rows != "" {
			fmt.Fprint(os.Stderr, rows)
		}
		return refused("the list was", srv.wrongAnswer(res, http.StatusOK))
	}
	imp := res.JSON200
	fmt.Printf("%s: %d rows: %d added, %d changed, %d unchanged; %d rows name a patch otpatch has (import %s)\n",
		filepath.Base(files[0]), imp.Rows, imp.Added, imp.Changed, imp.Unchanged, imp.MatchedPatches, imp.Id)
	for _, c := range imp.Changes {
		was := "new"
		if c.Previous != nil {
			was = "was " + string(*c.Previous)
		}
		fmt.Printf("  %s %s %s: %s (%s)\n", c.PatchRef, c.Product, c.Release, c.Status, was)
	}
	return nil
}

// runQualificationSet is `otpatch qualification set`.
func runQualificationSet(ctx context.Context, args []string) error {
	fs := newFlags("qualification set")
	remote := newRemoteFlags(fs, "engineer or admin")
	patch := fs.String("patch", "", "an otpatch patch id, or the vendor's update id (KB5034441)")
	product := fs.String("product", "", "the product id or name")
	release := fs.String("release", "", "the product release (13.0 covers 13.0.x; * every release)")
	status := fs.String("status", "", "under_test, qualified, partially_qualified, not_qualified or held")
	reason := fs.String("reason", "", "why; required for held and not_qualified")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fs.usageError("unexpected %q: every value is a flag", rest[0])
	}
	body := client.QualificationInput{Patch: *patch, Product: *product, Release: *release, Status: client.QualificationInputStatus(*status)}
	if *reason != "" {
		body.Reason = reason
	}
	res, err := srv.api.SetQualificationWithResponse(ctx, body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		if rows := problemRows(res.Body); rows != "" {
			fmt.Fprint(os.Stderr, rows)
		}
		return refused("the qualification was", srv.wrongAnswer(res, http.StatusOK))
	}
	e := res.JSON200
	line := fmt.Sprintf("%s %s %s: %s (revision %d, set by %s)", e.PatchRef, e.Product, e.Release, e.Status, e.Revision, e.SetBy)
	if e.Reason != nil && *e.Reason != "" {
		line += ": " + *e.Reason
	}
	fmt.Println(line)
	return nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than the %d bytes the server takes; split it", filepath.Base(path), limit)
	}
	return data, nil
}

// problemRows lists a refusal's field errors one a line ("  line 4: status: …").
func problemRows(body []byte) string {
	var p struct {
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &p) != nil || len(p.Errors) == 0 {
		return ""
	}
	var b strings.Builder
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "  %s: %s\n", e.Field, e.Message)
	}
	return b.String()
}
