package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Inventory CSV import: engineers add many assets at once from a CSV file. The import is all or
// nothing: every row is checked first with the rules of POST /assets (and the zone and product
// must exist, names must be new and unique in the file); one failing row refuses the whole
// file with every failing row and field named. An accepted file is stored in one transaction
// with one audit event that lists every asset created.

const (
	maxImportBytes = 1 << 20
	maxImportRows  = 5000
	// maxImportErrors bounds the field errors one refusal lists.
	maxImportErrors = 1000
)

var importHeader = []string{"name", "zone_id", "product_id", "installed_version", "criticality", "safety_critical", "redundancy_group", "adapter"}

// importResult answers an accepted import.
type importResult struct {
	Imported int           `json:"imported"`
	Assets   []store.Asset `json:"assets"`
}

func (s *server) importAssets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "text/csv" && mt != "application/csv") {
		s.refuseImport(w, r, http.StatusUnsupportedMediaType, "send the inventory as text/csv (Content-Type: text/csv)", nil, 0)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.refuseImport(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the CSV file is larger than %d bytes; split it into several imports", maxImportBytes), nil, 0)
			return
		}
		s.refuseImport(w, r, http.StatusBadRequest, "the CSV file could not be read: "+err.Error(), nil, 0)
		return
	}
	body = bytes.TrimPrefix(body, []byte("\ufeff")) // a spreadsheet's byte order mark

	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1 // a row with the wrong number of columns is reported as a row error
	header, err := cr.Read()
	if err != nil {
		msg := "is missing: the first line must be " + strings.Join(importHeader, ",")
		if !errors.Is(err, io.EOF) {
			msg = "is not valid CSV: " + err.Error()
		}
		s.refuseImport(w, r, http.StatusUnprocessableEntity, "the CSV file has no valid header", []domain.FieldError{{Field: "header", Message: msg}}, 0)
		return
	}
	for i := range header {
		header[i] = strings.ToLower(strings.TrimSpace(header[i]))
	}
	if strings.Join(header, ",") != strings.Join(importHeader, ",") {
		s.refuseImport(w, r, http.StatusUnprocessableEntity, "the CSV header is not the import's", []domain.FieldError{{Field: "header",
			Message: fmt.Sprintf("must be %s, got %s", strings.Join(importHeader, ","), strings.Join(header, ","))}}, 0)
		return
	}

	type row struct {
		line int
		rec  []string
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			s.refuseImport(w, r, http.StatusUnprocessableEntity, "the file is not valid CSV",
				[]domain.FieldError{{Field: fmt.Sprintf("row %d", line), Message: "is not valid CSV: " + err.Error()}}, len(rows))
			return
		}
		if len(rows) == maxImportRows {
			s.refuseImport(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the CSV file has more than %d asset rows; split it into several imports", maxImportRows), nil, len(rows)+1)
			return
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, row{line: line, rec: rec})
	}
	if len(rows) == 0 {
		s.refuseImport(w, r, http.StatusUnprocessableEntity, "the CSV file has no asset rows", []domain.FieldError{{Field: "body", Message: "has a header but no asset rows"}}, 0)
		return
	}

	zones, err := s.Store.Zones(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	products, err := s.Store.Products(ctx, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := make([]string, 0, len(rows))
	for _, rw := range rows {
		if len(rw.rec) > 0 {
			names = append(names, strings.TrimSpace(rw.rec[0]))
		}
	}
	inInventory, err := s.Store.AssetNamesTaken(ctx, names)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	zoneIDs, productIDs := map[string]bool{}, map[string]bool{}
	for _, z := range zones {
		zoneIDs[z.ID] = true
	}
	for _, p := range products {
		productIDs[p.ID] = true
	}

	var errs []domain.FieldError
	add := func(line int, field, format string, args ...any) {
		errs = append(errs, domain.FieldError{Field: fmt.Sprintf("row %d: %s", line, field), Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{} // name → line
	assets := make([]store.Asset, 0, len(rows))
	for _, rw := range rows {
		if len(rw.rec) != len(importHeader) {
			add(rw.line, "columns", "has %d columns, want %d (%s)", len(rw.rec), len(importHeader), strings.Join(importHeader, ","))
			continue
		}
		c := func(i int) string { return strings.TrimSpace(rw.rec[i]) }
		a := store.Asset{Name: c(0), ZoneID: c(1), ProductID: c(2), InstalledVersion: c(3), RedundancyGroup: c(6), Adapter: c(7)}
		if f := domain.NameFault(a.Name); f != "" {
			add(rw.line, "name", "%s", f)
		} else if first, dup := seen[a.Name]; dup {
			add(rw.line, "name", "%s is already on row %d of this file", a.Name, first)
		} else if inInventory[a.Name] {
			add(rw.line, "name", "%s is already in the inventory", a.Name)
		}
		if validName(a.Name) {
			if _, dup := seen[a.Name]; !dup {
				seen[a.Name] = rw.line
			}
		}
		if !zoneIDs[a.ZoneID] {
			add(rw.line, "zone_id", "no zone %q", a.ZoneID)
		}
		if !productIDs[a.ProductID] {
			add(rw.line, "product_id", "no product %q", a.ProductID)
		}
		if f := domain.TextFault(a.InstalledVersion, 64); f != "" {
			add(rw.line, "installed_version", "%s", f)
		}
		crit, err := strconv.Atoi(c(4))
		if err != nil || crit < 1 || crit > 5 {
			add(rw.line, "criticality", "must be from 1 (low) to 5 (high), got %q", c(4))
		}
		a.Criticality = crit
		switch strings.ToLower(c(5)) {
		case "true", "yes", "1":
			a.SafetyCritical = true
		case "false", "no", "0", "":
		default:
			add(rw.line, "safety_critical", "must be true or false (yes/no, 1/0; empty is false), got %q", c(5))
		}
		if n := utf8.RuneCountInString(a.RedundancyGroup); n > domain.MaxNameLength {
			add(rw.line, "redundancy_group", "is %d characters; at most %d", n, domain.MaxNameLength)
		}
		if !adapters.Known(a.Adapter) {
			add(rw.line, "adapter", "must be simulator, ssh or agent, got %q (set an ssh or agent asset's endpoint afterwards with PUT /api/v1/assets/{id}/endpoint)", a.Adapter)
		}
		a.ID = store.NewID("ast")
		assets = append(assets, a)
	}
	if len(errs) > 0 {
		failing := map[string]bool{}
		for _, e := range errs {
			failing[strings.SplitN(e.Field, ":", 2)[0]] = true
		}
		detail := fmt.Sprintf("%d of %d rows are not valid; nothing was imported (row numbers are the file's lines, the header is row 1)", len(failing), len(rows))
		if len(errs) > maxImportErrors {
			detail += fmt.Sprintf("; the first %d of %d errors are listed", maxImportErrors, len(errs))
			errs = errs[:maxImportErrors]
		}
		s.refuseImport(w, r, http.StatusUnprocessableEntity, detail, errs, len(rows))
		return
	}

	importID := store.NewID("imp")
	ev := event(r, "asset.imported")
	ev.SubjectType, ev.SubjectID = "asset_import", importID
	ids := make([]string, len(assets))
	for i, a := range assets {
		ids[i] = a.ID
	}
	ev.Details = map[string]any{"rows": len(assets), "asset_ids": ids, "assets": assets}
	if err := s.Store.CreateAssets(ctx, assets, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// A name taken between the check and the write.
			s.refuseImport(w, r, http.StatusConflict, err.Error()+"; nothing was imported", nil, len(rows))
			return
		}
		s.fail(w, r, err)
		return
	}
	if s.Simulator != nil {
		for _, a := range assets {
			if err := s.Simulator.Register(ctx, a.ID, a.InstalledVersion, "{}"); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	// The import is no resource of its own: Location is the list that now holds its assets.
	locateCreated(w, "assets")
	writeJSON(w, http.StatusCreated, importResult{Imported: len(assets), Assets: assets})
}

// refuseImport answers a refused import and records the refusal in the audit trail.
func (s *server) refuseImport(w http.ResponseWriter, r *http.Request, status int, detail string, fields []domain.FieldError, rows int) {
	ev := event(r, "asset.import_refused")
	ev.SubjectType, ev.SubjectID = "asset_import", r.Method+" "+r.URL.Path
	logged := fields
	if len(logged) > 50 {
		logged = logged[:50]
	}
	ev.Details = map[string]any{"status": status, "reason": detail, "rows": rows, "errors": len(fields), "first_errors": logged}
	if _, err := s.Store.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Detail: detail, Errors: fields})
}

// importOperations are the routes of import.go.
func (s *server) importOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/assets/import", ID: "importAssets", Tag: "Inventory", Summary: "Import assets from a CSV file, all or nothing",
			Description: fmt.Sprintf("The body is text/csv (application/csv is taken too; another type is refused with 415) whose first line is the header %s. "+
				"Every row is validated as POST /api/v1/assets validates an asset (zone and product must exist, names new and unique in the file); any failing row refuses the whole file with 422 naming each row (the file's line number, header = row 1) and field, and nothing is imported. "+
				"At most %d MiB and %d rows (413 beyond). An accepted file is stored in one transaction with one audit event listing every asset, and the answer lists them.",
				strings.Join(importHeader, ","), maxImportBytes>>20, maxImportRows),
			Allow: engineers, BodyType: "text/csv",
			BodySchema: map[string]any{"type": "string", "description": "CSV with the header " + strings.Join(importHeader, ",") + "; safety_critical is true or false (yes/no, 1/0; empty is false)"},
			Answers: []answer{{Status: http.StatusCreated, Body: importResult{}, Desc: "Every asset of the file was created",
				Headers: map[string]string{"Location": "The asset list, which now holds the imported assets"}}},
			Handle: s.importAssets},
	}
}
