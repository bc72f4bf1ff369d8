package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// Vendors, their keys, the product catalogue and the plant (sites, zones with their
// maintenance windows, assets). The small collections are read whole and paged in memory;
// assets are paged in the store. Lists read their page parameters with readPage (page.go).

// noSuch records in v that the parameter or field param names no such thing, when err says so
// (a typo in a filter must not read as an empty list); it returns any other error.
func noSuch(v *domain.ValidationError, param, what, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		v.Add(param, "no %s %q", what, id)
		return nil
	}
	return err
}

// inventoryPage sorts a collection read whole by its page key and answers the page asked for.
func inventoryPage[T any](items []T, key func(T) string, pr pageRequest) page[T] {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return pageOf(items, key, pr)
}

// The page keys of the small collections: each is unique and sorts as its list does.
func vendorPageKey(v store.Vendor) string       { return cursorKey(v.Name, v.ID) }
func vendorKeyPageKey(k store.VendorKey) string { return cursorKey(sortableTime(k.CreatedAt), k.ID) }
func productPageKey(p store.Product) string     { return cursorKey(p.Name, p.ID) }
func sitePageKey(s store.Site) string           { return cursorKey(s.Name, s.ID) }
func zonePageKey(z store.Zone) string           { return cursorKey(z.SiteID, z.Name, z.ID) }

func (s *server) listVendors(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	vs, err := s.Store.Vendors(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if a := actorOf(r); a.Role == domain.RoleVendor {
		vs = slices.DeleteFunc(vs, func(v store.Vendor) bool { return v.ID != a.VendorID })
	}
	writeJSON(w, http.StatusOK, inventoryPage(vs, vendorPageKey, pr))
}

// vendorOf loads the vendor of the path; a vendor reads only itself (another is 404, as an
// unknown one).
func (s *server) vendorOf(r *http.Request) (store.Vendor, error) {
	id := chi.URLParam(r, "vendorID")
	if a := actorOf(r); a.Role == domain.RoleVendor && id != a.VendorID {
		return store.Vendor{}, fmt.Errorf("vendor %s: %w", id, store.ErrNotFound)
	}
	return s.Store.Vendor(r.Context(), id)
}

func (s *server) getVendor(w http.ResponseWriter, r *http.Request) {
	v, err := s.vendorOf(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type vendorRequest struct {
	Name        string `json:"name" api:"required" doc:"Letters, digits, '.', '_', '+' or '-'; unique"`
	DisplayName string `json:"display_name" api:"required" doc:"The name people read, at most 200 characters"`
}

func (s *server) createVendor(w http.ResponseWriter, r *http.Request) {
	var in vendorRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "vendor"}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	v.Text("display_name", in.DisplayName, 200)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	vendor := store.Vendor{Name: in.Name, DisplayName: in.DisplayName}
	ev := event(r, "vendor.created")
	ev.Details = in
	if err := s.Store.CreateVendor(r.Context(), &vendor, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "vendors", vendor.ID)
	writeJSON(w, http.StatusCreated, vendor)
}

func validName(n string) bool { return domain.NameFault(n) == "" }

func (s *server) listVendorKeys(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.vendorOf(r)
	if err != nil {
		s.fail(w, r, err) // an unknown vendor (or another vendor's, for a vendor) is 404, not an empty list
		return
	}
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	keys, err := s.Store.VendorKeys(r.Context(), vendor.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inventoryPage(keys, vendorKeyPageKey, pr))
}

func (s *server) getVendorKey(w http.ResponseWriter, r *http.Request) {
	if _, err := s.vendorOf(r); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.Store.VendorKey(r.Context(), chi.URLParam(r, "vendorID"), chi.URLParam(r, "keyID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

type vendorKeyRequest struct {
	PublicKey string    `json:"public_key" api:"required" doc:"The ed25519 public key, as otpatch keygen writes it"`
	NotBefore time.Time `json:"not_before" doc:"From when signatures by the key are accepted; default now"`
	NotAfter  time.Time `json:"not_after" doc:"Until when signatures by the key are accepted; default two years after now"`
}

func (s *server) addVendorKey(w http.ResponseWriter, r *http.Request) {
	vendor, err := s.Store.Vendor(r.Context(), chi.URLParam(r, "vendorID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in vendorKeyRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "vendor key"}
	pub, err := signing.DecodePublic(in.PublicKey)
	if err != nil {
		v.Add("public_key", "%v", err)
	}
	now := s.Store.Now()
	if in.NotBefore.IsZero() {
		in.NotBefore = now
	}
	if in.NotAfter.IsZero() {
		in.NotAfter = now.AddDate(2, 0, 0)
	}
	if !in.NotAfter.After(in.NotBefore) {
		v.Add("not_after", "must be after not_before")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	k := store.VendorKey{VendorID: vendor.ID, PublicKey: signing.EncodePublic(pub), Fingerprint: signing.Fingerprint(pub), NotBefore: in.NotBefore.UTC(), NotAfter: in.NotAfter.UTC()}
	ev := event(r, "vendor_key.trusted")
	ev.Details = map[string]any{"vendor": vendor.Name, "fingerprint": k.Fingerprint, "not_before": k.NotBefore, "not_after": k.NotAfter}
	if err := s.Store.AddVendorKey(r.Context(), &k, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "vendors", vendor.ID, "keys", k.ID)
	writeJSON(w, http.StatusCreated, k)
}

type revokeKeyRequest struct {
	Reason string `json:"reason" api:"required" doc:"Why the key is revoked, at most 2000 characters"`
}

func (s *server) revokeVendorKey(w http.ResponseWriter, r *http.Request) {
	var in revokeKeyRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	rv := &domain.ValidationError{What: "revocation"}
	rv.Text("reason", in.Reason, 2000, "say why the key is revoked")
	if err := rv.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "vendor_key.revoked")
	ev.Details = map[string]any{"vendor_id": chi.URLParam(r, "vendorID"), "reason": in.Reason}
	k, err := s.Store.RevokeVendorKey(r.Context(), chi.URLParam(r, "vendorID"), chi.URLParam(r, "keyID"), in.Reason, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// productKinds are the kinds of product, in the order the document lists them.
var productKinds = []string{"plc", "hmi", "historian", "engineering_workstation", "network_device", "gateway", "server"}

func (s *server) listProducts(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	vendorID, kind := r.URL.Query().Get("vendor_id"), r.URL.Query().Get("kind")
	if a := actorOf(r); a.Role == domain.RoleVendor {
		if vendorID != "" && vendorID != a.VendorID {
			v.Add("vendor_id", "a vendor lists only its own products; leave vendor_id out")
		}
		vendorID = a.VendorID
	} else if vendorID != "" {
		_, err := s.Store.Vendor(r.Context(), vendorID)
		if err := noSuch(v, "vendor_id", "vendor", vendorID, err); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if kind != "" && !slices.Contains(productKinds, kind) {
		v.Add("kind", "must be %s", orWords(productKinds))
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.Store.Products(r.Context(), vendorID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if kind != "" {
		ps = slices.DeleteFunc(ps, func(p store.Product) bool { return p.Kind != kind })
	}
	writeJSON(w, http.StatusOK, inventoryPage(ps, productPageKey, pr))
}

func (s *server) getProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.Product(r.Context(), chi.URLParam(r, "productID"))
	if a := actorOf(r); err == nil && a.Role == domain.RoleVendor && p.VendorID != a.VendorID {
		err = fmt.Errorf("product %s: %w", p.ID, store.ErrNotFound) // another vendor's, as if unknown
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// orWords writes "a, b or c".
func orWords(vs []string) string {
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

type productRequest struct {
	VendorID string `json:"vendor_id" api:"required"`
	Name     string `json:"name" api:"required" doc:"Letters, digits, '.', '_', '+' or '-'; unique per vendor"`
	Kind     string `json:"kind" api:"required" doc:"plc, hmi, historian, engineering_workstation, network_device, gateway or server"`
}

func (s *server) createProduct(w http.ResponseWriter, r *http.Request) {
	var in productRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "product"}
	if _, err := s.Store.Vendor(r.Context(), in.VendorID); err != nil {
		if err := noSuch(v, "vendor_id", "vendor", in.VendorID, err); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	if !slices.Contains(productKinds, in.Kind) {
		v.Add("kind", "must be %s", orWords(productKinds))
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	p := store.Product{VendorID: in.VendorID, Name: in.Name, Kind: in.Kind}
	ev := event(r, "product.created")
	ev.Details = in
	if err := s.Store.CreateProduct(r.Context(), &p, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "products", p.ID)
	writeJSON(w, http.StatusCreated, p)
}

type zoneRequest struct {
	SiteID    string        `json:"site_id" api:"required"`
	Name      string        `json:"name" api:"required" doc:"Unique within the site, at most 200 characters"`
	SLT       int           `json:"sl_t" api:"required" doc:"The IEC 62443 target security level, 1 to 4"`
	TestBench bool          `json:"test_bench" doc:"A test bench: its assets are patched first, in a wave of their own"`
	Window    domain.Window `json:"window" api:"required"`
}

func (s *server) createZone(w http.ResponseWriter, r *http.Request) {
	var in zoneRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "zone"}
	if _, err := s.Store.Site(r.Context(), in.SiteID); err != nil {
		if err := noSuch(v, "site_id", "site", in.SiteID, err); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	v.Text("name", in.Name, 200)
	if in.SLT < 1 || in.SLT > 4 {
		v.Add("sl_t", "must be an IEC 62443 target security level from 1 to 4, got %d", in.SLT)
	}
	if err := in.Window.ValidateAt(s.Store.Now()); err != nil {
		for _, f := range err.(*domain.ValidationError).Fields {
			v.Add("window."+f.Field, "%s", f.Message)
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	z := store.Zone{SiteID: in.SiteID, Name: in.Name, SLT: in.SLT, TestBench: in.TestBench, Window: in.Window}
	ev := event(r, "zone.created")
	ev.Details = in
	if err := s.Store.CreateZone(r.Context(), &z, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "zones", z.ID)
	writeJSON(w, http.StatusCreated, z)
}

// zonesOf reads the zones of the ?site_id filter (every zone without it); a site that does not
// exist is a fault in v.
func (s *server) zonesOf(r *http.Request, v *domain.ValidationError) ([]store.Zone, error) {
	siteID := r.URL.Query().Get("site_id")
	if siteID != "" {
		if _, err := s.Store.Site(r.Context(), siteID); err != nil {
			return nil, noSuch(v, "site_id", "site", siteID, err)
		}
	}
	zs, err := s.Store.Zones(r.Context())
	if err != nil {
		return nil, err
	}
	if siteID != "" {
		zs = slices.DeleteFunc(zs, func(z store.Zone) bool { return z.SiteID != siteID })
	}
	return zs, nil
}

func (s *server) listZones(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	zs, err := s.zonesOf(r, v)
	if err == nil {
		err = v.Err()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inventoryPage(zs, zonePageKey, pr))
}

func (s *server) getZone(w http.ResponseWriter, r *http.Request) {
	z, err := s.zoneAnswer(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, z)
}

func (s *server) setZoneWindow(w http.ResponseWriter, r *http.Request) {
	z, err := s.Store.Zone(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in domain.Window
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := in.ValidateAt(s.Store.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "zone.window_changed")
	ev.Details = map[string]any{"from": z.Window, "to": in}
	if err := s.Store.SetZoneWindow(r.Context(), z.ID, in, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	s.windowChanged(r, z.ID, in) // operations.go: re-plan the campaigns waiting on this zone
	// Answer with the zone as stored (its new updated_at), not as it was read before the change.
	if z, err = s.Store.Zone(r.Context(), z.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, z)
}

// zoneOpenings is a zone with its coming window openings, in the zone's time zone.
type zoneOpenings struct {
	ZoneID string        `json:"zone_id"`
	Zone   string        `json:"zone" doc:"The zone's name"`
	Window domain.Window `json:"window"`
	// Occurrences are the spans the engine uses (overlapping occurrences joined): only the
	// first may have started before now, and then it is open_now.
	Occurrences []domain.Span `json:"occurrences" doc:"The coming openings, overlapping occurrences joined; only the first may have started, and then it is open_now"`
}

func openingsOf(z store.Zone, now time.Time, n int) zoneOpenings {
	spans := z.Window.Spans(now, n)
	if loc, err := time.LoadLocation(z.Window.TimeZone); err == nil {
		for i := range spans {
			spans[i].Start, spans[i].End = spans[i].Start.In(loc), spans[i].End.In(loc)
		}
	}
	if spans == nil {
		spans = []domain.Span{}
	}
	return zoneOpenings{ZoneID: z.ID, Zone: z.Name, Window: z.Window, Occurrences: spans}
}

// The ?openings parameter: how many openings of each zone to show.
const (
	defaultOpenings = 5
	maxOpenings     = 100
)

var openingsParam = qInt("openings", fmt.Sprintf("How many coming openings to show per zone (default %d)", defaultOpenings), 1, maxOpenings)

// openingsWanted reads ?openings into v.
func openingsWanted(r *http.Request, v *domain.ValidationError) int {
	q := r.URL.Query().Get("openings")
	if q == "" {
		return defaultOpenings
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > maxOpenings {
		v.Add("openings", "must be a whole number from 1 to %d, got %q", maxOpenings, q)
		return 0
	}
	return n
}

func (s *server) zoneWindows(w http.ResponseWriter, r *http.Request) {
	z, err := s.Store.Zone(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "query"}
	n := openingsWanted(r, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, openingsOf(z, s.Store.Now(), n))
}

func (s *server) listWindows(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	n := openingsWanted(r, v)
	zs, err := s.zonesOf(r, v)
	if err == nil {
		err = v.Err()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Only the zones of the page are looked ahead in.
	zones := inventoryPage(zs, zonePageKey, pr)
	out := page[zoneOpenings]{Items: make([]zoneOpenings, len(zones.Items)), Next: zones.Next}
	now := s.Store.Now()
	for i, z := range zones.Items {
		out.Items[i] = openingsOf(z, now, n)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) listAssets(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.AssetFilter{ZoneID: q.Get("zone_id"), SiteID: q.Get("site_id"), ProductID: q.Get("product_id"), Adapter: q.Get("adapter")}
	// A filter naming no zone, site or product is a typo, not an empty answer.
	var err error
	if f.ZoneID != "" {
		_, err = s.Store.Zone(r.Context(), f.ZoneID)
		err = noSuch(v, "zone_id", "zone", f.ZoneID, err)
	}
	if err == nil && f.SiteID != "" {
		_, err = s.Store.Site(r.Context(), f.SiteID)
		err = noSuch(v, "site_id", "site", f.SiteID, err)
	}
	if err == nil && f.ProductID != "" {
		_, err = s.Store.Product(r.Context(), f.ProductID)
		err = noSuch(v, "product_id", "product", f.ProductID, err)
	}
	if f.Adapter != "" && !adapters.Known(f.Adapter) {
		v.Add("adapter", "must be simulator, ssh or agent, got %q", f.Adapter)
	}
	if err == nil {
		err = v.Err()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	as, err := s.Store.AssetPage(r.Context(), f, pr.After, pr.Limit+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(as, func(a store.Asset) string { return a.Name }, pr.Limit))
}

type assetRequest struct {
	ZoneID           string `json:"zone_id" api:"required"`
	ProductID        string `json:"product_id" api:"required"`
	Name             string `json:"name" api:"required" doc:"Letters, digits, '.', '_', '+' or '-'; unique in the inventory"`
	InstalledVersion string `json:"installed_version" api:"required" doc:"The product version the device runs, at most 64 characters"`
	Criticality      int    `json:"criticality" api:"required" doc:"From 1 (low) to 5 (high)"`
	SafetyCritical   bool   `json:"safety_critical" doc:"Part of a safety function: changes to it need the safety officer's approval"`
	RedundancyGroup  string `json:"redundancy_group" doc:"Assets of one group are never changed in the same wave"`
	Adapter          string `json:"adapter" api:"required" doc:"How otpatch changes the device: simulator, ssh or agent"`
	// Endpoint is how the ssh and agent adapters reach the device.
	Endpoint *adapters.Endpoint `json:"endpoint,omitempty" doc:"How an ssh or agent asset is reached; may also be set later with PUT /api/v1/assets/{assetID}/endpoint"`
}

func (s *server) createAsset(w http.ResponseWriter, r *http.Request) {
	var in assetRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "asset"}
	if _, err := s.Store.Zone(r.Context(), in.ZoneID); err != nil {
		if err := noSuch(v, "zone_id", "zone", in.ZoneID, err); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if _, err := s.Store.Product(r.Context(), in.ProductID); err != nil {
		if err := noSuch(v, "product_id", "product", in.ProductID, err); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if f := domain.NameFault(in.Name); f != "" {
		v.Add("name", "%s", f)
	}
	v.Text("installed_version", in.InstalledVersion, 64)
	if in.Criticality < 1 || in.Criticality > 5 {
		v.Add("criticality", "must be from 1 (low) to 5 (high), got %d", in.Criticality)
	}
	if n := len([]rune(in.RedundancyGroup)); n > domain.MaxNameLength {
		v.Add("redundancy_group", "is %d characters; at most %d", n, domain.MaxNameLength)
	}
	adapters.CheckEndpoint(in.Adapter, in.Endpoint, v.Add)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	as := store.Asset{ZoneID: in.ZoneID, ProductID: in.ProductID, Name: in.Name, InstalledVersion: in.InstalledVersion,
		Criticality: in.Criticality, SafetyCritical: in.SafetyCritical, RedundancyGroup: in.RedundancyGroup, Adapter: in.Adapter, Endpoint: in.Endpoint}
	ev := event(r, "asset.created")
	ev.Details = in
	if err := s.Store.CreateAsset(r.Context(), &as, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Simulator != nil && as.Adapter == adapters.Simulator {
		if err := s.Simulator.Register(r.Context(), as.ID, as.InstalledVersion, "{}"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	locateCreated(w, "assets", as.ID)
	writeJSON(w, http.StatusCreated, as)
}

// assetDetailView is an asset with its simulated device, when it has one.
type assetDetailView struct {
	store.Asset
	Device *simulatedDeviceView `json:"device,omitempty" doc:"The simulated device, for an asset of the simulator adapter"`
}

// simulatedDeviceView is a simulated device with its injected faults and the operations
// applied to it.
type simulatedDeviceView struct {
	simulator.Device
	Faults     simulator.Faults      `json:"faults"`
	Operations []simulator.Operation `json:"operations"`
}

func (s *server) getAsset(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view := assetDetailView{Asset: as}
	if as.Adapter == adapters.Simulator && s.Simulator != nil {
		d, err := s.Simulator.Device(r.Context(), as.ID)
		if err == nil {
			f, _ := s.Simulator.Faults(r.Context(), as.ID)
			ops, err := s.Simulator.Operations(r.Context(), as.ID)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if ops == nil {
				ops = []simulator.Operation{}
			}
			view.Device = &simulatedDeviceView{Device: d, Faults: f, Operations: ops}
		}
	}
	writeJSON(w, http.StatusOK, view)
}

func (s *server) setFaults(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if as.Adapter != adapters.Simulator || s.Simulator == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "asset " + as.Name + " is not simulated; faults can only be injected into simulated devices"})
		return
	}
	var f simulator.Faults
	if err := decode(w, r, &f); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "simulator.faults_set")
	ev.SubjectType, ev.SubjectID, ev.AssetID, ev.Details = "asset", as.ID, as.ID, f
	err = s.Store.Write(r.Context(), ev, func(tx *gorm.DB) error { return s.Simulator.SetFaults(r.Context(), tx, as.ID, f) })
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// inventoryOperations are the routes of inventory.go.
func (s *server) inventoryOperations() []operation {
	const neverOpens = "A window with no occurrence in the coming year (blackouts counted: the engine would find none) is refused with 422 saying why."
	return []operation{
		{Method: "GET", Path: "/api/v1/vendors", ID: "listVendors", Tag: "Vendors", Summary: "List vendors",
			Description: "Ordered by name.", Allow: anyRole, Roles: "any (a vendor lists only itself)",
			Query: paged(), Answers: []answer{ok(page[store.Vendor]{})}, Handle: s.listVendors},
		{Method: "POST", Path: "/api/v1/vendors", ID: "createVendor", Tag: "Vendors", Summary: "Register a vendor",
			Description: "A name already registered is refused with 409.", Allow: admins,
			Body: vendorRequest{}, Answers: []answer{created(store.Vendor{})}, Handle: s.createVendor},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}", ID: "getVendor", Tag: "Vendors", Summary: "Show a vendor",
			Allow: anyRole, Roles: "any (a vendor reads only itself)",
			Answers: []answer{ok(store.Vendor{})}, Handle: s.getVendor},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/keys", ID: "listVendorKeys", Tag: "Vendors", Summary: "List a vendor's trusted signing keys",
			Description: "Oldest first, revoked keys included with when and why. An unknown vendor is 404; a vendor reads its own keys only (another vendor's are 404).",
			Allow:       anyRole, Roles: "staff; a vendor for its own keys",
			Query: paged(), Answers: []answer{ok(page[store.VendorKey]{})}, Handle: s.listVendorKeys},
		{Method: "POST", Path: "/api/v1/vendors/{vendorID}/keys", ID: "addVendorKey", Tag: "Vendors", Summary: "Trust a vendor's ed25519 public key for a period",
			Description: "not_before defaults to now and not_after to two years after it; not_after must be after not_before. A key trusted before (the same fingerprint) is refused with 409.",
			Allow:       admins, Body: vendorKeyRequest{}, Answers: []answer{created(store.VendorKey{})}, Handle: s.addVendorKey},
		{Method: "GET", Path: "/api/v1/vendors/{vendorID}/keys/{keyID}", ID: "getVendorKey", Tag: "Vendors", Summary: "Show one of a vendor's signing keys",
			Description: "A vendor reads its own keys only (another vendor's are 404).",
			Allow:       anyRole, Roles: "staff; a vendor for its own keys", Answers: []answer{ok(store.VendorKey{})}, Handle: s.getVendorKey},
		{Method: "POST", Path: "/api/v1/vendors/{vendorID}/keys/{keyID}/revoke", ID: "revokeVendorKey", Tag: "Vendors", Summary: "Revoke a vendor key",
			Description: "Signatures by the key are refused from now on. The reason is required and kept with the key; a key revoked before is refused with 409.",
			Allow:       admins, Body: revokeKeyRequest{}, Answers: []answer{ok(store.VendorKey{})}, Handle: s.revokeVendorKey},
		{Method: "GET", Path: "/api/v1/products", ID: "listProducts", Tag: "Inventory", Summary: "List the product catalogue",
			Description: "Ordered by name. A vendor_id that names no vendor is refused with 422. A vendor lists only its own products; a vendor_id of another vendor is refused with 422.",
			Allow:       anyRole, Roles: "any (a vendor lists only its own)",
			Query:   paged(qString("vendor_id", "Only this vendor's products"), qEnum("kind", "Only products of this kind", productKinds...)),
			Answers: []answer{ok(page[store.Product]{})}, Handle: s.listProducts},
		{Method: "POST", Path: "/api/v1/products", ID: "createProduct", Tag: "Inventory", Summary: "Add a product to the catalogue",
			Description: "The vendor must exist; a name the vendor already uses is refused with 409.", Allow: engineers,
			Body: productRequest{}, Answers: []answer{created(store.Product{})}, Handle: s.createProduct},
		{Method: "GET", Path: "/api/v1/products/{productID}", ID: "getProduct", Tag: "Inventory", Summary: "Show a product",
			Allow: anyRole, Roles: "any (a vendor reads only its own)",
			Answers: []answer{ok(store.Product{})}, Handle: s.getProduct},
		{Method: "GET", Path: "/api/v1/sites", ID: "listSites", Tag: "Inventory", Summary: "List sites, with their device work and site workers",
			Description: "Ordered by name. A site whose device_work is site_worker has its task_queue, workers and worker_status as last recorded " +
				"(the server looks at each such site's task queue every 15 seconds by default); GET /api/v1/sites/{siteID} asks Temporal first.", Allow: staff,
			Query: paged(), Answers: []answer{ok(page[siteView]{})}, Handle: s.listSites},
		{Method: "POST", Path: "/api/v1/sites", ID: "createSite", Tag: "Inventory", Summary: "Add a site",
			Description: "A name already used is refused with 409. device_work defaults to central and unreachable_after_seconds to 3600; " +
				"a device_work other than central or site_worker, or an unreachable_after_seconds outside 60 to 2592000, is refused with 422.", Allow: engineers,
			Body: siteRequest{}, Answers: []answer{created(siteView{})}, Handle: s.createSite},
		{Method: "GET", Path: "/api/v1/sites/{siteID}", ID: "getSite", Tag: "Inventory", Summary: "Show a site, with its site workers",
			Description: "For a site whose device_work is site_worker, Temporal is asked which processes poll the site's task_queue (and the answer recorded): " +
				"workers lists them with the version and host their identity names, when otpatch first saw them, their last poll, and polling (a poll in the last 2 minutes); " +
				"worker_status says it in one line. When Temporal does not answer, the presence last recorded is answered and worker_status ends with " +
				"\"(as last recorded: Temporal did not answer just now)\". A worker's appearance (site.worker_seen) and its going away (site.worker_lost) are in the audit trail; polls are not. " +
				"Device work of such a site waits for a worker; after unreachable_after_seconds without one the asset ends site_unreachable, nothing deployed.",
			Allow: staff, Answers: []answer{ok(siteView{})}, Handle: s.getSite},
		{Method: "PATCH", Path: "/api/v1/sites/{siteID}", ID: "changeSite", Tag: "Inventory", Summary: "Change where a site's device work runs and how long it waits for a site worker",
			Description: "Fields left out stay as they are; a body that names neither is refused with 422. device_work is central (the central workers reach the site's devices) " +
				"or site_worker (only a worker at the site, otpatch worker --site ID polling the site's task_queue, reaches them); unreachable_after_seconds (60 to 2592000) " +
				"is how long the site's device work waits for a worker before the asset ends site_unreachable. Bad values are refused with 422 naming each field. " +
				"A change is audited as site.changed with each changed field's from and to; a change to the values the site has writes nothing. Answers the site as GET /api/v1/sites/{siteID} does.",
			Allow: engineers, Body: siteChangeRequest{}, Answers: []answer{ok(siteView{})}, Handle: s.changeSite},
		{Method: "GET", Path: "/api/v1/zones", ID: "listZones", Tag: "Inventory", Summary: "List zones with their SL-T and maintenance windows",
			Description: "Ordered by site id, then name. A site_id that names no site is refused with 422.", Allow: staff,
			Query:   paged(qString("site_id", "Only this site's zones")),
			Answers: []answer{ok(page[store.Zone]{})}, Handle: s.listZones},
		{Method: "POST", Path: "/api/v1/zones", ID: "createZone", Tag: "Inventory", Summary: "Add a zone with its maintenance window",
			Description: "The site must exist; a name the site already uses is refused with 409. " + neverOpens, Allow: engineers,
			Body: zoneRequest{}, Answers: []answer{created(store.Zone{})}, Handle: s.createZone},
		{Method: "GET", Path: "/api/v1/zones/{zoneID}", ID: "getZone", Tag: "Inventory", Summary: "Show a zone",
			Allow: staff, Answers: []answer{ok(zoneWithConduits{})}, Handle: s.getZone},
		{Method: "PUT", Path: "/api/v1/zones/{zoneID}/window", ID: "setZoneWindow", Tag: "Inventory", Summary: "Replace a zone's maintenance window",
			Description: "Answers with the zone as stored (its new updated_at). Every campaign that has not ended and has an asset in the zone gets the new window in its plan and a new plan digest: one waiting for the old window wakes up, and one that was approved asks for approval of the new plan. " + neverOpens,
			Allow:       engineers, Body: domain.Window{}, Answers: []answer{ok(store.Zone{})}, Handle: s.setZoneWindow},
		{Method: "GET", Path: "/api/v1/zones/{zoneID}/windows", ID: "getZoneWindows", Tag: "Inventory", Summary: "Preview a zone's next window openings",
			Description: "The spans the engine uses, in the zone's time zone, overlapping occurrences joined: only the first may have started, and then it has open_now; continues means the window is still open at the span's end.",
			Allow:       staff, Query: []param{openingsParam}, Answers: []answer{ok(zoneOpenings{})}, Handle: s.zoneWindows},
		{Method: "GET", Path: "/api/v1/windows", ID: "listWindows", Tag: "Inventory", Summary: "Next window openings of every zone",
			Description: "Each zone's openings as GET /api/v1/zones/{zoneID}/windows shows them, zones in the order of GET /api/v1/zones. A site_id that names no site is refused with 422.",
			Allow:       staff, Query: paged(openingsParam, qString("site_id", "Only this site's zones")),
			Answers: []answer{ok(page[zoneOpenings]{})}, Handle: s.listWindows},
		{Method: "GET", Path: "/api/v1/assets", ID: "listAssets", Tag: "Inventory", Summary: "List assets",
			Description: "Ordered by name. A zone_id, site_id or product_id that names nothing is refused with 422.", Allow: staff,
			Query: paged(qString("zone_id", "Only this zone's assets"), qString("site_id", "Only the assets of this site's zones"),
				qString("product_id", "Only assets of this product"), qEnum("adapter", "Only assets changed through this adapter", adapters.Simulator, adapters.SSH, adapters.Agent)),
			Answers: []answer{ok(page[store.Asset]{})}, Handle: s.listAssets},
		{Method: "POST", Path: "/api/v1/assets", ID: "createAsset", Tag: "Inventory", Summary: "Add an asset",
			Description: "The zone and product must exist; a name already in the inventory is refused with 409. A simulated asset gets its simulated device at installed_version and has no endpoint; an ssh or agent asset may be given its endpoint here or later.",
			Allow:       engineers, Body: assetRequest{}, Answers: []answer{created(store.Asset{})}, Handle: s.createAsset},
		{Method: "GET", Path: "/api/v1/assets/{assetID}", ID: "getAsset", Tag: "Inventory", Summary: "Show an asset, with its simulated device and operations",
			Description: "A simulated asset has its device: the version and health it reports, its injected faults and the operations applied to it.",
			Allow:       staff, Answers: []answer{ok(assetDetailView{})}, Handle: s.getAsset},
		{Method: "PUT", Path: "/api/v1/assets/{assetID}/simulator/faults", ID: "setSimulatorFaults", Tag: "Inventory", Summary: "Inject faults into a simulated device",
			Description: "The faults given replace the device's (a fault left out is off) and are answered; audited. An asset that is not simulated is refused with 409.",
			Allow:       engineers, Body: simulator.Faults{}, Answers: []answer{ok(simulator.Faults{})}, Handle: s.setFaults},
	}
}
