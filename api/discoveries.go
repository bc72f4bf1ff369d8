package api

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Unknown devices. An agent reports its own host when it starts; an engineer imports a network
// scan or a switch's table as CSV. Each sighting is matched against the inventory (asset names,
// endpoint addresses, and the identities agents and claims taught it); a device no asset knows
// raises an alarm and waits for a person to claim it for an asset or reject it. A vendor sees
// none of it. The endpoints overview lists each asset's endpoint and agent with its last contact.

const (
	maxSightingBytes = 1 << 20
	maxSightingRows  = 5000
	maxHostList      = 64
	// agentStaleAfter is how long an agent may stay silent before the overview marks it stale:
	// an idle agent asks for work at least every minute.
	agentStaleAfter = 5 * time.Minute
)

// sightingColumns are the columns a sighting CSV may have, in any order; one of ip, mac and
// hostname is needed on each row.
var sightingColumns = []string{"ip", "mac", "hostname", "vendor", "model", "seen_at"}

func init() {
	namedEnums["discovery_state"] = store.DiscoveryStates
}

// checkHostname adds a fault of a host name to v.
func checkHostname(add func(field, format string, args ...any), field, h string) {
	if h == "" {
		return
	}
	if len(h) > 253 {
		add(field, "is %d characters; a host name has at most 253", len(h))
		return
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			add(field, "%q is not a host name (letters, digits, '.', '-' and '_')", h)
			return
		}
	}
}

func checkAddress(add func(field, format string, args ...any), field, a string) string {
	ip, err := netip.ParseAddr(a)
	if err != nil {
		add(field, "%q is not an IP address (examples: 10.0.4.17, fd00::17)", a)
		return a
	}
	return ip.Unmap().String()
}

func checkMAC(add func(field, format string, args ...any), field, m string) string {
	hw, err := net.ParseMAC(m)
	if err != nil || len(hw) != 6 {
		add(field, "%q is not a MAC address (example: 00:1b:1b:4a:2c:10)", m)
		return m
	}
	return hw.String()
}

// agentHost records what the agent says of its host.
func (s *server) agentHost(w http.ResponseWriter, r *http.Request) {
	c := agentOf(r)
	var in jobs.Host
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "host"}
	if in.Hostname == "" {
		v.Add("hostname", "is required")
	}
	checkHostname(v.Add, "hostname", in.Hostname)
	v.Text("machine_id", in.MachineID, 128)
	v.Text("os", in.OS, 200)
	if len(in.Addresses) > maxHostList {
		v.Add("addresses", "lists %d addresses; at most %d", len(in.Addresses), maxHostList)
	}
	if len(in.MACs) > maxHostList {
		v.Add("macs", "lists %d MAC addresses; at most %d", len(in.MACs), maxHostList)
	}
	sg := store.Sighting{Hostname: in.Hostname, MachineID: in.MachineID, OS: in.OS, SeenAt: s.Store.Now()}
	for i, a := range in.Addresses {
		if i < maxHostList {
			sg.Addresses = append(sg.Addresses, checkAddress(v.Add, fmt.Sprintf("addresses[%d]", i), a))
		}
	}
	for i, m := range in.MACs {
		if i < maxHostList {
			sg.MACs = append(sg.MACs, checkMAC(v.Add, fmt.Sprintf("macs[%d]", i), m))
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	_, matched, res, err := s.Store.RecordAgentHost(r.Context(), c.AssetID, sg, event(r, "agent.host_reported"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := jobs.HostReceipt{Known: matched != "", AssetID: matched}
	if len(res.IDs) > 0 {
		out.DiscoveryID = res.IDs[0]
	}
	writeJSON(w, http.StatusOK, out)
}

// discoveryImport answers an accepted sighting import.
type discoveryImport struct {
	Rows int `json:"rows" doc:"How many sightings the file held"`
	store.SightingsResult
}

// siteDiscoveryWait is how long a run a person asked for waits for each site's worker.
const siteDiscoveryWait = 30

// askSiteWorkers runs the site discovery now and answers each site's report.
func (s *server) askSiteWorkers(w http.ResponseWriter, r *http.Request) {
	res, err := s.engine.DiscoverSites(r.Context(), workflows.SiteDiscoveryInput{WaitSeconds: siteDiscoveryWait, Now: true})
	if err != nil {
		s.internal(w, r, fmt.Errorf("site discovery: %w", err))
		return
	}
	if res.Sites == nil {
		res.Sites = []workflows.SiteReport{}
	}
	writeJSON(w, http.StatusOK, res)
}

// importDiscoveries reads a network scan or switch table, as CSV or nmap XML, all or nothing.
func (s *server) importDiscoveries(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	parse, what := parseSightingsCSV, "CSV file"
	switch {
	case err == nil && (mt == "text/csv" || mt == "application/csv"):
	case err == nil && (mt == "application/xml" || mt == "text/xml"):
		parse, what = parseSightingsNmap, "nmap report"
	default:
		s.refuseSightings(w, r, http.StatusUnsupportedMediaType, "send the sightings as CSV (Content-Type: text/csv) or an nmap XML report (Content-Type: application/xml)", nil, 0)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSightingBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.refuseSightings(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the %s is larger than %d bytes; split it into several imports", what, maxSightingBytes), nil, 0)
			return
		}
		s.refuseSightings(w, r, http.StatusBadRequest, "the "+what+" could not be read: "+err.Error(), nil, 0)
		return
	}
	sightings, fields, status, detail := parse(bytes.TrimPrefix(body, []byte("\ufeff")), s.Store.Now())
	if status != 0 {
		s.refuseSightings(w, r, status, detail, fields, len(sightings))
		return
	}
	ev := event(r, "discovery.imported")
	ev.Details = map[string]any{"rows": len(sightings), "format": map[string]string{"CSV file": "csv", "nmap report": "nmap"}[what]}
	res, err := s.Store.RecordSightings(r.Context(), store.SourceImport, actorOf(r).Name, sightings, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, discoveryImport{Rows: len(sightings), SightingsResult: res})
}

// parseSightingsCSV reads the sightings of a CSV file; a refusal has a status, a detail and the
// failing fields (row numbers are the file's lines, the header is row 1).
func parseSightingsCSV(body []byte, now time.Time) ([]store.Sighting, []domain.FieldError, int, string) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		msg := "is missing: the first line names the columns, some of " + strings.Join(sightingColumns, ",")
		if !errors.Is(err, io.EOF) {
			msg = "is not valid CSV: " + err.Error()
		}
		return nil, []domain.FieldError{{Field: "header", Message: msg}}, http.StatusUnprocessableEntity, "the CSV file has no valid header"
	}
	col := map[string]int{}
	var hf []domain.FieldError
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(sightingColumns, h):
			hf = append(hf, domain.FieldError{Field: "header", Message: fmt.Sprintf("column %d %q is not one of %s", i+1, h, strings.Join(sightingColumns, ","))})
		case col[h] > 0:
			hf = append(hf, domain.FieldError{Field: "header", Message: fmt.Sprintf("column %q is named twice", h)})
		default:
			col[h] = i + 1
		}
	}
	if col["ip"] == 0 && col["mac"] == 0 && col["hostname"] == 0 {
		hf = append(hf, domain.FieldError{Field: "header", Message: "names none of ip, mac and hostname, which say what device a row saw"})
	}
	if len(hf) > 0 {
		return nil, hf, http.StatusUnprocessableEntity, "the CSV header is not one of a sighting import"
	}
	var out []store.Sighting
	var errs []domain.FieldError
	failing := map[int]bool{}
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
			return out, []domain.FieldError{{Field: fmt.Sprintf("row %d", line), Message: "is not valid CSV: " + err.Error()}}, http.StatusUnprocessableEntity, "the file is not valid CSV; nothing was imported"
		}
		if len(out) == maxSightingRows {
			return out, nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the CSV file has more than %d rows; split it into several imports", maxSightingRows)
		}
		line, _ := cr.FieldPos(0)
		add := func(field, format string, args ...any) {
			failing[line] = true
			if len(errs) < maxImportErrors {
				errs = append(errs, domain.FieldError{Field: fmt.Sprintf("row %d: %s", line, field), Message: fmt.Sprintf(format, args...)})
			}
		}
		if len(rec) != len(header) {
			add("columns", "has %d columns, the header %d", len(rec), len(header))
			out = append(out, store.Sighting{})
			continue
		}
		get := func(name string) string {
			if i := col[name]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		sg := store.Sighting{Hostname: get("hostname"), Vendor: get("vendor"), Model: get("model"), SeenAt: now}
		if ip := get("ip"); ip != "" {
			sg.Addresses = []string{checkAddress(add, "ip", ip)}
		}
		if mac := get("mac"); mac != "" {
			sg.MACs = []string{checkMAC(add, "mac", mac)}
		}
		checkHostname(add, "hostname", sg.Hostname)
		if sg.Hostname == "" && len(sg.Addresses) == 0 && len(sg.MACs) == 0 {
			add("ip", "the row names no ip, mac or hostname")
		}
		for _, f := range []struct{ name, v string }{{"vendor", sg.Vendor}, {"model", sg.Model}} {
			if n := utf8.RuneCountInString(f.v); n > 200 {
				add(f.name, "is %d characters; at most 200", n)
			}
		}
		if at := get("seen_at"); at != "" {
			t, err := time.Parse(time.RFC3339, at)
			switch {
			case err != nil:
				add("seen_at", "%q is not a time as RFC 3339 writes it (example: 2026-03-02T08:15:00Z)", at)
			case t.After(now.Add(5 * time.Minute)):
				add("seen_at", "%s is in the future", at)
			default:
				sg.SeenAt = t.UTC()
			}
		}
		out = append(out, sg)
	}
	if len(out) == 0 {
		return nil, []domain.FieldError{{Field: "body", Message: "has a header but no rows"}}, http.StatusUnprocessableEntity, "the CSV file has no rows"
	}
	if len(errs) > 0 {
		return out, errs, http.StatusUnprocessableEntity, fmt.Sprintf("%d of %d rows are not valid; nothing was imported (row numbers are the file's lines, the header is row 1)", len(failing), len(out))
	}
	return out, nil, 0, ""
}

// refuseSightings answers a refused import and records the refusal in the audit trail.
func (s *server) refuseSightings(w http.ResponseWriter, r *http.Request, status int, detail string, fields []domain.FieldError, rows int) {
	ev := event(r, "discovery.import_refused")
	ev.SubjectType, ev.SubjectID = "discovery_import", r.Method+" "+r.URL.Path
	logged := fields
	if len(logged) > 50 {
		logged = logged[:50]
	}
	ev.Details = map[string]any{"status": status, "reason": detail, "rows": rows, "errors": len(fields), "first_errors": logged}
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Detail: detail, Errors: fields})
}

func (s *server) listDiscoveries(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	f := store.DiscoveryFilter{State: r.URL.Query().Get("state"), Limit: pr.Limit + 1}
	f.AfterSeen, f.AfterID = newestFirstAfter(pr, v)
	if f.State != "" && !slices.Contains(store.DiscoveryStates(), f.State) {
		v.Add("state", "must be one of %s, got %q", strings.Join(store.DiscoveryStates(), ", "), f.State)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.Store.DiscoveriesPage(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(ds, func(d store.Discovery) string { return newestFirstKey(d.LastSeenAt, d.ID) }, pr.Limit))
}

func (s *server) getDiscovery(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.Discovery(r.Context(), chi.URLParam(r, "discoveryID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// discoveryClaim links a discovery to an asset: an existing one, or one made from asset.
type discoveryClaim struct {
	AssetID string        `json:"asset_id,omitempty" doc:"The asset of the inventory the device is; leave out to create one with asset"`
	Asset   *assetRequest `json:"asset,omitempty" doc:"The asset to create for the device, as POST /api/v1/assets takes it"`
}

// discoveryRejection says why a discovery is no asset of the plant.
type discoveryRejection struct {
	Reason  string `json:"reason" api:"required" doc:"Why the device is no asset of the plant (a visitor's laptop, a decommissioned device), at most 500 characters"`
	Realarm bool   `json:"realarm,omitempty" doc:"Raise a new alarm when the device is seen again; by default a rejected device is not alarmed again"`
}

func (s *server) claimDiscovery(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "discoveryID")
	if _, err := s.Store.Discovery(ctx, id); err != nil {
		s.fail(w, r, err)
		return
	}
	var in discoveryClaim
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "claim"}
	var newAsset *store.Asset
	switch {
	case (in.AssetID == "") == (in.Asset == nil):
		v.Add("asset_id", "give either asset_id (an asset of the inventory) or asset (one to create), not both and not neither")
	case in.AssetID != "":
		if _, err := s.Store.Asset(ctx, in.AssetID); errors.Is(err, store.ErrNotFound) {
			v.Add("asset_id", "no asset %q", in.AssetID)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	default:
		a := in.Asset
		if _, err := s.Store.Zone(ctx, a.ZoneID); err != nil {
			if err := noSuch(v, "asset.zone_id", "zone", a.ZoneID, err); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if _, err := s.Store.Product(ctx, a.ProductID); err != nil {
			if err := noSuch(v, "asset.product_id", "product", a.ProductID, err); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if f := domain.NameFault(a.Name); f != "" {
			v.Add("asset.name", "%s", f)
		}
		v.Text("asset.installed_version", a.InstalledVersion, 64)
		if a.Criticality < 1 || a.Criticality > 5 {
			v.Add("asset.criticality", "must be from 1 (low) to 5 (high), got %d", a.Criticality)
		}
		if n := len([]rune(a.RedundancyGroup)); n > domain.MaxNameLength {
			v.Add("asset.redundancy_group", "is %d characters; at most %d", n, domain.MaxNameLength)
		}
		adapters.CheckEndpoint(a.Adapter, a.Endpoint, func(field, format string, args ...any) { v.Add("asset."+field, format, args...) })
		newAsset = &store.Asset{ZoneID: a.ZoneID, ProductID: a.ProductID, Name: a.Name, InstalledVersion: a.InstalledVersion,
			Criticality: a.Criticality, SafetyCritical: a.SafetyCritical, RedundancyGroup: a.RedundancyGroup, Adapter: a.Adapter, Endpoint: a.Endpoint}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "discovery.claimed")
	ev.Details = map[string]any{"created_asset": newAsset != nil}
	if newAsset != nil {
		ev.Details.(map[string]any)["asset"] = in.Asset
	}
	d, err := s.Store.ClaimDiscovery(ctx, id, in.AssetID, newAsset, actorOf(r).Name, ev)
	if err != nil {
		s.failDecision(w, r, err)
		return
	}
	if s.Simulator != nil && newAsset != nil && newAsset.Adapter == adapters.Simulator {
		if err := s.Simulator.Register(ctx, newAsset.ID, newAsset.InstalledVersion, "{}"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *server) rejectDiscovery(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := chi.URLParam(r, "discoveryID")
	if _, err := s.Store.Discovery(ctx, id); err != nil {
		s.fail(w, r, err)
		return
	}
	var in discoveryRejection
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "rejection"}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		v.Add("reason", "is required: say why the device is no asset of the plant")
	}
	v.Text("reason", in.Reason, 500)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "discovery.rejected")
	ev.Details = map[string]any{"reason": in.Reason, "realarm": in.Realarm}
	d, err := s.Store.RejectDiscovery(ctx, id, in.Reason, in.Realarm, actorOf(r).Name, ev)
	if err != nil {
		s.failDecision(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// failDecision answers a claim or rejection the store refused: one decided before is 409.
func (s *server) failDecision(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrDecided) {
		s.refuse(w, r, http.StatusConflict, "discovery.refused", err.Error()+"; a decided device is not decided again")
		return
	}
	s.fail(w, r, err)
}

// endpointRow is one asset as the endpoints overview shows it.
type endpointRow struct {
	AssetID  string             `json:"asset_id"`
	Name     string             `json:"name"`
	ZoneID   string             `json:"zone_id"`
	Adapter  string             `json:"adapter"`
	Endpoint *adapters.Endpoint `json:"endpoint,omitempty"`
	// Agent is the asset's newest credential not revoked, for an agent asset.
	AgentCredentialID string           `json:"agent_credential_id,omitempty"`
	LastContactAt     *time.Time       `json:"last_contact_at,omitempty" doc:"When the asset's agent was last heard from"`
	Stale             bool             `json:"stale" doc:"An agent asset whose agent was never heard from, or not for more than 5 minutes"`
	Host              *store.AgentHost `json:"host,omitempty" doc:"What the agent last said of its host"`
}

func (s *server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	adapter := r.URL.Query().Get("adapter")
	if adapter != "" && !adapters.Known(adapter) {
		v.Add("adapter", "must be simulator, ssh or agent, got %q", adapter)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	assets, err := s.Store.Assets(ctx, store.AssetFilter{Adapter: adapter})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	creds, err := s.Store.LiveAgentCredentials(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hosts, err := s.Store.AgentHosts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byAsset := map[string]store.AgentCredential{}
	for _, c := range creds {
		byAsset[c.AssetID] = c // oldest first: the newest stays
	}
	now := s.Store.Now()
	rows := make([]endpointRow, 0, len(assets))
	for _, a := range assets {
		row := endpointRow{AssetID: a.ID, Name: a.Name, ZoneID: a.ZoneID, Adapter: a.Adapter, Endpoint: a.Endpoint}
		if c, ok := byAsset[a.ID]; ok {
			row.AgentCredentialID, row.LastContactAt = c.ID, c.LastSeenAt
		}
		if h, ok := hosts[a.ID]; ok {
			row.Host = &h
		}
		row.Stale = a.Adapter == adapters.Agent && (row.LastContactAt == nil || now.Sub(*row.LastContactAt) > agentStaleAfter)
		rows = append(rows, row)
	}
	writeJSON(w, http.StatusOK, pageOf(rows, func(e endpointRow) string { return cursorKey(e.Name, e.AssetID) }, pr))
}

// discoveryOperations are the routes of discoveries.go.
func (s *server) discoveryOperations() []operation {
	agent := []domain.Role{store.RoleAgent}
	return []operation{
		{Method: "POST", Path: "/api/v1/agent/host", ID: "reportAgentHost", Tag: "Agents", Allow: agent, AgentOnly: true,
			Summary: "The agent says what host it runs on",
			Description: "Sent when the agent starts. The host is matched against the inventory by its machine ID, MAC and IP addresses and host name (asset names, endpoint addresses, identities learnt before): " +
				"a host of the agent's own asset teaches the asset its identities; a host no asset knows raises an alarm and a discovery to claim or reject.",
			Body: jobs.Host{}, Answers: []answer{ok(jobs.HostReceipt{})}, Handle: s.agentHost},
		{Method: "GET", Path: "/api/v1/discoveries", ID: "listDiscoveries", Tag: "Inventory", Allow: staff,
			Summary:     "List the devices seen on the networks that are not in the inventory, last seen first",
			Description: "Each waits for a person to claim it for an asset or reject it (state open), or says what was decided.",
			Query:       paged(qEnum("state", "Only discoveries in this state", store.DiscoveryStates()...)),
			Answers:     []answer{ok(page[store.Discovery]{})}, Handle: s.listDiscoveries},
		{Method: "GET", Path: "/api/v1/discoveries/{discoveryID}", ID: "getDiscovery", Tag: "Inventory", Allow: staff,
			Summary: "One device seen on the networks that is not in the inventory",
			Answers: []answer{ok(store.Discovery{})}, Handle: s.getDiscovery},
		{Method: "POST", Path: "/api/v1/discoveries/import", ID: "importDiscoveries", Tag: "Inventory", Allow: engineers,
			Summary: "Import a network scan (nmap XML or CSV) or a switch's address table (CSV), all or nothing",
			Description: fmt.Sprintf("As text/csv: the first line names the columns, any of %s in any order; each row needs an ip, a mac or a hostname; seen_at is RFC 3339 (default: now). "+
				"Any failing row refuses the whole file with 422 naming each row (the file's line, header = row 1) and field, and nothing changes. "+
				"As application/xml (or text/xml): the report nmap writes with -oX; each host nmap found up is a sighting with its IP and MAC addresses, the MAC's vendor, its host name (a name given by the user before the DNS name) and nmap's best OS guess, seen when nmap finished the host; "+
				"hosts found down are left out, and a failing host (\"host N\", counted from 1) refuses the whole report. At most %d MiB and %d rows or hosts (413 beyond). "+
				"A device no asset knows raises an alarm and a discovery; a device seen before has its last seen moved, never a second discovery; a rejected device raises no alarm unless it was rejected with realarm.",
				strings.Join(sightingColumns, ","), maxSightingBytes>>20, maxSightingRows),
			BodyType:   "text/csv",
			BodySchema: map[string]any{"type": "string", "description": "CSV with a header naming some of " + strings.Join(sightingColumns, ",")},
			BodyAlso: map[string]map[string]any{
				"application/xml": {"type": "string", "description": "An nmap XML report (nmap -oX)"},
				"text/xml":        {"type": "string", "description": "An nmap XML report (nmap -oX)"},
			},
			Answers: []answer{ok(discoveryImport{})}, Handle: s.importDiscoveries},
		{Method: "POST", Path: "/api/v1/discoveries/sites", ID: "askSiteWorkers", Tag: "Inventory", Allow: engineers,
			Summary: "Ask every site's worker for its neighbour table now, and record what each saw",
			Description: fmt.Sprintf("Each site whose device work runs on its own site workers is asked, on its own task queue, for its host's neighbour table (the IP and MAC address of each device it exchanged traffic with; no packet is sent). "+
				"Each device no asset knows becomes a discovery with an alarm, as in the hourly run. A site whose worker does not take the read within %d seconds, or cannot read the table, is answered skipped with the reason. "+
				"A run already going that a person asked for is joined, not doubled.", siteDiscoveryWait),
			Answers: []answer{ok(workflows.SiteDiscoveryResult{})}, Handle: s.askSiteWorkers},
		{Method: "POST", Path: "/api/v1/discoveries/{discoveryID}/claim", ID: "claimDiscovery", Tag: "Inventory", Allow: engineers,
			Summary: "Claim an unknown device for an asset, existing or created with it",
			Description: "The device's keys (machine ID, MACs, addresses, host name) become the asset's identities, so it is known from then on; its alarm is cleared; audited. " +
				"A device claimed or rejected before is refused (409).",
			Body: discoveryClaim{}, Answers: []answer{ok(store.Discovery{})}, Handle: s.claimDiscovery},
		{Method: "POST", Path: "/api/v1/discoveries/{discoveryID}/reject", ID: "rejectDiscovery", Tag: "Inventory", Allow: engineers,
			Summary:     "Reject an unknown device as no asset of the plant, with the reason",
			Description: "Its alarm is cleared; a later sighting of it raises no alarm unless realarm; audited. A device claimed or rejected before is refused (409).",
			Body:        discoveryRejection{}, Answers: []answer{ok(store.Discovery{})}, Handle: s.rejectDiscovery},
		{Method: "GET", Path: "/api/v1/endpoints", ID: "listEndpoints", Tag: "Agents", Allow: staff,
			Summary: "Each asset's endpoint and agent, with the agent's last contact, by asset name",
			Description: fmt.Sprintf("An agent asset whose agent was never heard from, or not for more than %s, is stale. The host is what the agent last said of it.",
				domain.FormatISODuration(agentStaleAfter)),
			Query:   paged(qEnum("adapter", "Only assets of this adapter", adapters.Simulator, adapters.SSH, adapters.Agent)),
			Answers: []answer{ok(page[endpointRow]{})}, Handle: s.listEndpoints},
	}
}
