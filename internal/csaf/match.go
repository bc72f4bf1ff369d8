package csaf

import (
	"slices"
	"strings"
	"unicode"

	"github.com/otpatch/otpatch/internal/domain"
)

// Product is an inventory product an advisory may name.
type Product struct {
	ProductID   string
	VendorName  string
	ProductName string
	// VendorAliases are other names of the vendor (its display name, "Acme Automation AG"
	// for "acme").
	VendorAliases []string
}

// Asset is an inventory asset: which product it is and the version it runs.
type Asset struct {
	ID               string
	ProductID        string
	InstalledVersion string
}

// Remedy kinds.
const (
	// RemedyUpdate: a vendor_fix names the version to install.
	RemedyUpdate = "update"
	// RemedyVendorFix: a vendor_fix applies but its text names no version; read it.
	RemedyVendorFix = "vendor_fix"
	// RemedyMitigate: no vendor fix; only mitigations, workarounds or none.
	RemedyMitigate = "mitigate"
)

// NoPatch is the summary of an advisory or asset with no vendor fix.
const NoPatch = "no patch — mitigate"

// Remedy is what an affected asset needs.
type Remedy struct {
	Kind string `json:"kind"`
	// FixedVersion is the highest version the applying vendor fixes name: installing it
	// fixes every CVE of the advisory that has a versioned fix.
	FixedVersion string `json:"fixed_version,omitempty"`
	Summary      string `json:"summary"`
	// RestartRequired is the strongest restart_required of the applying vendor fixes.
	RestartRequired string `json:"restart_required,omitempty"`
}

// AffectedAsset is an inventory asset an advisory hits.
type AffectedAsset struct {
	AssetID          string `json:"asset_id"`
	ProductID        string `json:"product_id"`
	InstalledVersion string `json:"installed_version"`
	// CSAFProductIDs are the advisory's products the asset is.
	CSAFProductIDs []string `json:"csaf_product_ids"`
	CVEs           []string `json:"cves"`
	CVSS           float64  `json:"cvss"`
	// VersionChecked is false when the advisory's version text could not be read as a range
	// ("All versions with enabled Ethernet options" is read; free text is not): the asset is
	// listed because vendor and product match and its version is below any stated fix, and a
	// person confirms it.
	VersionChecked bool   `json:"version_checked"`
	Remedy         Remedy `json:"remedy"`
}

// Match lists the assets an advisory hits, by asset id.
//
// An inventory product is one of the advisory's products when
//   - the vendor names agree: after lower-casing, splitting into words at anything that is
//     not a letter or digit and dropping company suffixes (AG, GmbH, Inc., Corp., Ltd., …),
//     the words of one name appear, in order and adjacent, in the other ("acme" and "Acme
//     Automation AG"; "Siemens" and "Siemens AG"); and
//   - the product names agree: every word of the inventory product's name is a word of the
//     advisory's product name (with its product family), or every word of the advisory's
//     product name except "family", "series", "all", "and", … is a word of the inventory
//     name ("ViewPanel-HMI" and "ViewPanel HMI"; "SIMATIC S7-1500" and "SIMATIC S7-1500 CPU
//     family").
//
// An asset of such a product is hit when a vulnerability lists the advisory product as
// affected and the asset's installed version is in one of the product's ranges. When the
// range could not be read, the asset is listed with VersionChecked false unless it already
// runs a fixed version.
func Match(adv *Advisory, products []Product, assets []Asset) []AffectedAsset {
	same := MatchProducts(adv, products)
	var out []AffectedAsset
	for _, as := range assets {
		if len(same[as.ProductID]) == 0 {
			continue
		}
		var cands []TreeProduct
		for _, id := range same[as.ProductID] {
			tp, _ := adv.Product(id)
			cands = append(cands, tp)
		}
		hit := AffectedAsset{AssetID: as.ID, ProductID: as.ProductID, InstalledVersion: as.InstalledVersion, VersionChecked: true}
		var ids []string
		for _, tp := range cands {
			in, checked := covers(adv, tp, as.InstalledVersion)
			if !in {
				continue
			}
			ids = append(ids, tp.ID)
			hit.VersionChecked = hit.VersionChecked && checked
		}
		if len(ids) == 0 {
			continue
		}
		var rems []Remediation
		affected := false
		seen := map[string]bool{}
		for _, v := range adv.Vulnerabilities {
			if !intersects(v.Affected, ids) {
				continue
			}
			affected = true
			if v.CVE != "" && !seen[v.CVE] {
				seen[v.CVE] = true
				hit.CVEs = append(hit.CVEs, v.CVE)
			}
			hit.CVSS = max(hit.CVSS, v.CVSS)
			for _, r := range v.Remediations {
				if intersects(r.ProductIDs, ids) {
					rems = append(rems, r)
				}
			}
		}
		if !affected {
			continue
		}
		if hit.CVEs == nil {
			hit.CVEs = []string{}
		}
		hit.CSAFProductIDs = ids
		hit.Remedy = RemedyOf(rems)
		out = append(out, hit)
	}
	return out
}

// NotAffectedAsset is an inventory asset a CSAF VEX document states is not affected by some
// of its vulnerabilities, with why.
type NotAffectedAsset struct {
	AssetID          string   `json:"asset_id"`
	ProductID        string   `json:"product_id"`
	InstalledVersion string   `json:"installed_version"`
	CSAFProductIDs   []string `json:"csaf_product_ids"`
	CVEs             []string `json:"cves"`
	// Justifications are the flag labels and impact statements the document gives for the
	// asset's products ("component_not_present"); empty when it gives none.
	Justifications []string `json:"justifications"`
}

// NotAffected lists the assets an advisory (a CSAF VEX document) states are known not
// affected: an asset of an inventory product that is one of the advisory's products (the
// rules of Match), whose installed version is in the product's ranges, and which a
// vulnerability lists as known_not_affected. An asset Match hits for any vulnerability is not
// listed: an affected vulnerability needs an action whatever the others say. hits are what
// Match answered for the same advisory, products and assets.
func NotAffected(adv *Advisory, products []Product, assets []Asset, hits []AffectedAsset) []NotAffectedAsset {
	same := MatchProducts(adv, products)
	hit := map[string]bool{}
	for _, h := range hits {
		hit[h.AssetID] = true
	}
	var out []NotAffectedAsset
	for _, as := range assets {
		if len(same[as.ProductID]) == 0 || hit[as.ID] {
			continue
		}
		var ids []string
		for _, id := range same[as.ProductID] {
			tp, _ := adv.Product(id)
			if in, checked := covers(adv, tp, as.InstalledVersion); in && checked {
				ids = append(ids, tp.ID)
			}
		}
		if len(ids) == 0 {
			continue
		}
		na := NotAffectedAsset{AssetID: as.ID, ProductID: as.ProductID, InstalledVersion: as.InstalledVersion, CVEs: []string{}, Justifications: []string{}}
		for _, v := range adv.Vulnerabilities {
			if !intersects(v.NotAffected, ids) {
				continue
			}
			if v.CVE != "" && !slices.Contains(na.CVEs, v.CVE) {
				na.CVEs = append(na.CVEs, v.CVE)
			}
			for _, j := range v.Justifications {
				if !intersects(j.ProductIDs, ids) {
					continue
				}
				why := j.Label
				if why == "" {
					why = j.Impact
				}
				if !slices.Contains(na.Justifications, why) {
					na.Justifications = append(na.Justifications, why)
				}
			}
			for _, id := range ids {
				if slices.Contains(v.NotAffected, id) && !slices.Contains(na.CSAFProductIDs, id) {
					na.CSAFProductIDs = append(na.CSAFProductIDs, id)
				}
			}
		}
		if len(na.CSAFProductIDs) > 0 {
			out = append(out, na)
		}
	}
	return out
}

// MatchProducts maps each inventory product id to the ids of the advisory's products it is,
// by the vendor and product name rules of Match. Products the advisory does not name are
// left out.
func MatchProducts(adv *Advisory, products []Product) map[string][]string {
	same := map[string][]string{}
	for _, ip := range products {
		for _, tp := range adv.Products {
			if vendorMatches(ip, tp.Vendor) && productMatches(ip.ProductName, tp) {
				same[ip.ProductID] = append(same[ip.ProductID], tp.ID)
			}
		}
	}
	return same
}

// covers reports whether an advisory product stands for the installed version, and whether
// that was decided by a range.
func covers(adv *Advisory, tp TreeProduct, installed string) (in, checked bool) {
	if !tp.Unconverted {
		for _, r := range tp.Ranges {
			vr, err := domain.ParseVersionRange(r)
			if err == nil && vr.Contains(installed) {
				return true, true
			}
		}
		return false, true
	}
	// Unread range: hit unless the asset already runs a version a vendor fix names.
	for _, v := range adv.Vulnerabilities {
		for _, r := range v.Remediations {
			if r.Category == VendorFix && r.FixedVersion != "" && slices.Contains(r.ProductIDs, tp.ID) &&
				strings.ContainsAny(installed, "0123456789") && domain.CompareVersions(installed, r.FixedVersion) >= 0 {
				return false, false
			}
		}
	}
	return true, false
}

// restartOrder ranks restart_required categories from least to most disruptive.
var restartOrder = []string{"none", "vulnerable_component", "service", "parent", "child", "connected", "machine", "system", "zone"}

// RemedyOf sums up remediations: the highest fixed version of the vendor fixes that name one;
// otherwise a vendor fix to read; otherwise NoPatch.
func RemedyOf(rems []Remediation) Remedy {
	r := Remedy{Kind: RemedyMitigate, Summary: NoPatch}
	for _, rem := range rems {
		if rem.Category != VendorFix {
			continue
		}
		if slices.Index(restartOrder, rem.RestartRequired) > slices.Index(restartOrder, r.RestartRequired) {
			r.RestartRequired = rem.RestartRequired
		}
		if rem.FixedVersion == "" {
			if r.Kind == RemedyMitigate {
				r.Kind = RemedyVendorFix
			}
			continue
		}
		if r.Kind != RemedyUpdate || domain.CompareVersions(rem.FixedVersion, r.FixedVersion) > 0 {
			r.Kind, r.FixedVersion = RemedyUpdate, rem.FixedVersion
		}
	}
	switch r.Kind {
	case RemedyUpdate:
		r.Summary = "update to " + r.FixedVersion + " (vendor fix)"
	case RemedyVendorFix:
		r.Summary = "vendor fix without a stated version — read the advisory's remediations"
	}
	return r
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// companySuffixes are words of a vendor name that do not tell vendors apart.
var companySuffixes = map[string]bool{"ag": true, "gmbh": true, "inc": true, "incorporated": true, "corp": true, "corporation": true,
	"co": true, "company": true, "ltd": true, "limited": true, "llc": true, "sa": true, "se": true, "kg": true, "bv": true,
	"nv": true, "ab": true, "oy": true, "spa": true, "srl": true, "kk": true, "plc": true, "the": true}

// genericWords are words of an advisory's product name that name no product.
var genericWords = map[string]bool{"family": true, "series": true, "all": true, "and": true, "or": true, "the": true, "of": true,
	"for": true, "versions": true, "version": true, "products": true, "product": true}

// words splits a name into lower-case words at anything that is not a letter or digit.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func vendorWords(s string) []string {
	var out []string
	for _, w := range words(s) {
		if !companySuffixes[w] {
			out = append(out, w)
		}
	}
	return out
}

// industryWords say what a company does, not which one it is: a vendor name made only of
// them ("Electric", "Automation Systems") matches nothing on its own.
var industryWords = map[string]bool{"electric": true, "electrical": true, "electronics": true, "automation": true, "industrial": true,
	"industries": true, "systems": true, "software": true, "solutions": true, "technologies": true, "technology": true,
	"networks": true, "energy": true, "control": true, "controls": true, "international": true, "group": true, "holdings": true}

func vendorMatches(ip Product, vendor string) bool {
	v := vendorWords(vendor)
	if len(v) == 0 || allIn(v, industryWords) {
		return false
	}
	for _, name := range append([]string{ip.VendorName}, ip.VendorAliases...) {
		n := vendorWords(name)
		if len(n) == 0 || allIn(n, industryWords) {
			continue
		}
		if containsRun(v, n) || containsRun(n, v) {
			return true
		}
	}
	return false
}

func allIn(ws []string, set map[string]bool) bool {
	for _, w := range ws {
		if !set[w] {
			return false
		}
	}
	return true
}

// containsRun reports whether run appears in s as adjacent words.
func containsRun(s, run []string) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

func productMatches(inventoryName string, tp TreeProduct) bool {
	inv := words(inventoryName)
	if len(inv) == 0 {
		return false
	}
	if subset(inv, words(tp.Family+" "+tp.ProductName)) {
		return true
	}
	var specific []string
	for _, w := range words(tp.ProductName) {
		if !genericWords[w] {
			specific = append(specific, w)
		}
	}
	return len(specific) > 0 && subset(specific, inv)
}

func subset(a, b []string) bool {
	for _, w := range a {
		if !slices.Contains(b, w) {
			return false
		}
	}
	return true
}

// RemediationSummary sums up the whole advisory: the versions its vendor fixes name, a vendor
// fix to read, or NoPatch when it has mitigations (or nothing) only.
func (a *Advisory) RemediationSummary() string {
	var versions []string
	unversioned := false
	for _, v := range a.Vulnerabilities {
		for _, r := range v.Remediations {
			switch {
			case r.Category != VendorFix:
			case r.FixedVersion == "":
				unversioned = true
			case !slices.Contains(versions, r.FixedVersion):
				versions = append(versions, r.FixedVersion)
			}
		}
	}
	switch {
	case len(versions) > 0:
		slices.SortFunc(versions, domain.CompareVersions)
		return "vendor fix: update to " + strings.Join(versions, ", ")
	case unversioned:
		return "vendor fix without a stated version — read the advisory's remediations"
	}
	return NoPatch
}
