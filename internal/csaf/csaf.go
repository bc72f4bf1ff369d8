// Package csaf reads CSAF 2.0 security advisories (OASIS Common Security Advisory Framework,
// as published by CISA and ICS vendors) into a flat model otpatch can match against its
// inventory: every product of the product tree with its vendor, product name and version
// range, and every vulnerability with its CVE, highest CVSS base score, affected and fixed
// products and remediations. It does no I/O beyond the io.Reader it is given.
package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpatch/otpatch/internal/domain"
)

// MaxDocumentBytes bounds one advisory document. The largest CISA advisories are a few
// hundred kilobytes.
const MaxDocumentBytes = 16 << 20

// Limits on what a document may make the parser build, so that a hostile document within
// MaxDocumentBytes cannot make it use unbounded memory or stack.
const (
	maxBranchDepth = 32
	// maxReferences bounds product ids referenced by vulnerabilities after product groups
	// are expanded.
	maxReferences = 1 << 20
	// maxProducts and maxVulnerabilities bound the work of matching one advisory against the
	// inventory; real advisories have tens of each.
	maxProducts        = 100_000
	maxVulnerabilities = 10_000
)

// Remediation categories of CSAF 2.0 (section 3.2.3.12.1).
const (
	VendorFix     = "vendor_fix"
	Mitigation    = "mitigation"
	Workaround    = "workaround"
	NoFixPlanned  = "no_fix_planned"
	NoneAvailable = "none_available"
)

// Advisory is the flattened model of one CSAF document.
type Advisory struct {
	TrackingID string `json:"tracking_id"`
	Title      string `json:"title"`
	Publisher  string `json:"publisher"`
	// Revision is document.tracking.version; Status is draft, interim or final.
	Revision       string    `json:"revision"`
	Status         string    `json:"status"`
	InitialRelease time.Time `json:"initial_release"`
	CurrentRelease time.Time `json:"current_release"`
	// Products are every product id the document defines, sorted by id.
	Products        []TreeProduct   `json:"products"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// TreeProduct is one product id of the advisory's product tree: where in the tree it sits
// (vendor, family, product name) and which versions it stands for.
type TreeProduct struct {
	ID string `json:"id"`
	// Name is the full product name the document gives the id.
	Name        string `json:"name"`
	Vendor      string `json:"vendor"`
	Family      string `json:"family,omitempty"`
	ProductName string `json:"product_name"`
	// Version is the version text exactly as written (product_version or
	// product_version_range branch name); VersionCategory says which of the two it was.
	Version         string `json:"version"`
	VersionCategory string `json:"version_category,omitempty"`
	// Ranges are the versions in the syntax of domain.ParseVersionRange; the product covers a
	// version when any of them contains it. Empty when the text could not be converted, and
	// then Unconverted is set: a person reads Version.
	Ranges      []string `json:"ranges"`
	Unconverted bool     `json:"unconverted,omitempty"`
	// Condition is text that narrows the versions and that no range can express ("with
	// enabled Ethernet options", "(Only affected by CVE-2022-30997)").
	Condition string `json:"condition,omitempty"`
	CPE       string `json:"cpe,omitempty"`
	PURL      string `json:"purl,omitempty"`
	// Relationship and RelatesTo are set for products a relationship defines ("X
	// default_component_of Y"); vendor, product and version are those of X.
	Relationship string `json:"relationship,omitempty"`
	RelatesTo    string `json:"relates_to,omitempty"`
}

// Vulnerability is one entry of the document's vulnerabilities.
type Vulnerability struct {
	CVE   string `json:"cve,omitempty"`
	Title string `json:"title,omitempty"`
	// CVSS is the highest CVSS v3 or v4 base score given; CVSSVector is its vector.
	CVSS       float64 `json:"cvss,omitempty"`
	CVSSVector string  `json:"cvss_vector,omitempty"`
	// Affected are the product ids known (first, last) affected; Fixed those fixed (first
	// fixed); NotAffected and UnderInvestigation as CSAF names them.
	Affected           []string      `json:"affected"`
	Fixed              []string      `json:"fixed,omitempty"`
	NotAffected        []string      `json:"not_affected,omitempty"`
	UnderInvestigation []string      `json:"under_investigation,omitempty"`
	Remediations       []Remediation `json:"remediations"`
	// Justifications say why products are known not affected (CSAF VEX): a flag's label
	// (component_not_present, vulnerable_code_not_in_execute_path, …) or an impact threat's
	// details, for the product ids they name (groups expanded).
	Justifications []Justification `json:"justifications,omitempty"`
}

// Justification is why products are known not affected by a vulnerability.
type Justification struct {
	// Label is the flag's label; Impact the details of a threat of category impact.
	Label      string   `json:"label,omitempty"`
	Impact     string   `json:"impact,omitempty"`
	ProductIDs []string `json:"product_ids"`
}

// Remediation is one remediation of a vulnerability, for the product ids it names (product
// groups expanded).
type Remediation struct {
	Category   string   `json:"category"`
	Details    string   `json:"details"`
	URL        string   `json:"url,omitempty"`
	Date       string   `json:"date,omitempty"`
	ProductIDs []string `json:"product_ids"`
	// FixedVersion is the version a vendor_fix names ("Update to V9.0.3 or later version"),
	// when the details state one; see FixedVersionOf.
	FixedVersion string `json:"fixed_version,omitempty"`
	// RestartRequired is restart_required.category (none, vulnerable_component, service,
	// parent, child, system, zone, machine, connected, ...).
	RestartRequired string `json:"restart_required,omitempty"`
}

// CVEs lists the advisory's CVE ids in document order, without repeats.
func (a *Advisory) CVEs() []string {
	out := []string{}
	seen := map[string]bool{}
	for _, v := range a.Vulnerabilities {
		if v.CVE != "" && !seen[v.CVE] {
			seen[v.CVE] = true
			out = append(out, v.CVE)
		}
	}
	return out
}

// MaxCVSS is the highest base score of any of the advisory's vulnerabilities.
func (a *Advisory) MaxCVSS() float64 {
	var m float64
	for _, v := range a.Vulnerabilities {
		m = max(m, v.CVSS)
	}
	return m
}

// Product finds a product id of the tree.
func (a *Advisory) Product(id string) (TreeProduct, bool) {
	i, ok := slices.BinarySearchFunc(a.Products, id, func(p TreeProduct, id string) int { return strings.Compare(p.ID, id) })
	if !ok {
		return TreeProduct{}, false
	}
	return a.Products[i], true
}

// The CSAF JSON, only as far as otpatch reads it.
type document struct {
	Document *struct {
		Category    string `json:"category"`
		CSAFVersion string `json:"csaf_version"`
		Title       string `json:"title"`
		Publisher   struct {
			Name     string `json:"name"`
			Category string `json:"category"`
		} `json:"publisher"`
		Tracking struct {
			ID                 string `json:"id"`
			Status             string `json:"status"`
			Version            string `json:"version"`
			InitialReleaseDate string `json:"initial_release_date"`
			CurrentReleaseDate string `json:"current_release_date"`
		} `json:"tracking"`
	} `json:"document"`
	ProductTree *struct {
		Branches         []branch          `json:"branches"`
		FullProductNames []fullProductName `json:"full_product_names"`
		Relationships    []relationship    `json:"relationships"`
		ProductGroups    []productGroup    `json:"product_groups"`
	} `json:"product_tree"`
	Vulnerabilities []vulnerability `json:"vulnerabilities"`
}

type branch struct {
	Category string           `json:"category"`
	Name     string           `json:"name"`
	Product  *fullProductName `json:"product"`
	Branches []branch         `json:"branches"`
}

type fullProductName struct {
	Name      string `json:"name"`
	ProductID string `json:"product_id"`
	Helper    *struct {
		CPE  string `json:"cpe"`
		PURL string `json:"purl"`
	} `json:"product_identification_helper"`
}

type relationship struct {
	Category        string          `json:"category"`
	ProductRef      string          `json:"product_reference"`
	RelatesToRef    string          `json:"relates_to_product_reference"`
	FullProductName fullProductName `json:"full_product_name"`
}

type productGroup struct {
	GroupID    string   `json:"group_id"`
	ProductIDs []string `json:"product_ids"`
}

type vulnerability struct {
	CVE           string              `json:"cve"`
	Title         string              `json:"title"`
	ProductStatus map[string][]string `json:"product_status"`
	Scores        []struct {
		CVSSv3   *cvss    `json:"cvss_v3"`
		CVSSv4   *cvss    `json:"cvss_v4"`
		Products []string `json:"products"`
	} `json:"scores"`
	Remediations []struct {
		Category        string   `json:"category"`
		Details         string   `json:"details"`
		URL             string   `json:"url"`
		Date            string   `json:"date"`
		ProductIDs      []string `json:"product_ids"`
		GroupIDs        []string `json:"group_ids"`
		RestartRequired *struct {
			Category string `json:"category"`
		} `json:"restart_required"`
	} `json:"remediations"`
	Flags []struct {
		Label      string   `json:"label"`
		ProductIDs []string `json:"product_ids"`
		GroupIDs   []string `json:"group_ids"`
	} `json:"flags"`
	Threats []struct {
		Category   string   `json:"category"`
		Details    string   `json:"details"`
		ProductIDs []string `json:"product_ids"`
		GroupIDs   []string `json:"group_ids"`
	} `json:"threats"`
}

type cvss struct {
	BaseScore    float64 `json:"baseScore"`
	VectorString string  `json:"vectorString"`
}

// Parse reads one CSAF 2.0 document of at most MaxDocumentBytes. A document that is not JSON,
// not CSAF 2.0, or refers to product ids its product tree does not define is refused with a
// *domain.ValidationError naming every problem.
func Parse(r io.Reader) (*Advisory, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read CSAF document: %w", err)
	}
	if len(raw) > MaxDocumentBytes {
		return nil, invalid("document", fmt.Sprintf("is larger than %d bytes", MaxDocumentBytes))
	}
	return ParseBytes(raw)
}

// ParseBytes is Parse for a document already in memory.
func ParseBytes(raw []byte) (*Advisory, error) {
	if len(raw) > MaxDocumentBytes {
		return nil, invalid("document", fmt.Sprintf("is larger than %d bytes", MaxDocumentBytes))
	}
	if !utf8.Valid(raw) {
		return nil, invalid("document", "is not valid UTF-8 (a CSAF document is UTF-8 JSON)")
	}
	raw = bytes.TrimPrefix(raw, []byte("\uFEFF"))
	var d document
	if err := json.Unmarshal(raw, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return nil, invalid("document", "must be a JSON object (a CSAF document), not "+te.Value)
			}
			return nil, invalid(te.Field, fmt.Sprintf("must be a JSON %s, not %s", jsonType(te.Type.Kind().String()), te.Value))
		}
		return nil, invalid("document", "is not valid JSON: "+err.Error())
	}
	v := &problems{}
	a := &Advisory{}
	if d.Document == nil {
		return nil, invalid("document", "is missing: this is not a CSAF document")
	}
	doc := d.Document
	if doc.CSAFVersion != "2.0" {
		v.Add("document.csaf_version", "is %q; otpatch reads CSAF 2.0", clip(doc.CSAFVersion))
	}
	if strings.TrimSpace(doc.Category) == "" {
		v.Add("document.category", "is required")
	}
	a.Title = strings.TrimSpace(doc.Title)
	if a.Title == "" {
		v.Add("document.title", "is required")
	}
	a.Publisher = strings.TrimSpace(doc.Publisher.Name)
	if a.Publisher == "" {
		v.Add("document.publisher.name", "is required")
	}
	a.TrackingID = strings.TrimSpace(doc.Tracking.ID)
	switch {
	case domain.TextFault(a.TrackingID, 200) != "":
		v.Add("document.tracking.id", "%s", domain.TextFault(a.TrackingID, 200))
	case strings.ContainsAny(a.TrackingID, "\n\r\t"):
		v.Add("document.tracking.id", "must be one line (no line breaks or tabs)")
	}
	a.Revision, a.Status = doc.Tracking.Version, doc.Tracking.Status
	a.InitialRelease = parseDate(v, "document.tracking.initial_release_date", doc.Tracking.InitialReleaseDate)
	a.CurrentRelease = parseDate(v, "document.tracking.current_release_date", doc.Tracking.CurrentReleaseDate)

	products := map[string]*TreeProduct{}
	groups := map[string][]string{}
	if d.ProductTree != nil {
		pt := d.ProductTree
		for i, b := range pt.Branches {
			walkBranch(v, fmt.Sprintf("product_tree.branches[%d]", i), b, TreeProduct{}, products, 0)
		}
		for i, f := range pt.FullProductNames {
			p := TreeProduct{ID: f.ProductID, Name: f.Name}
			helper(&p, f)
			fromCPE(&p)
			addProduct(v, fmt.Sprintf("product_tree.full_product_names[%d]", i), p, products)
		}
		// Relationships may refer to products other relationships define: resolve in order,
		// then once more for forward references.
		pending := pt.Relationships
		for range 2 {
			var later []relationship
			for _, rel := range pending {
				if _, ok := products[rel.ProductRef]; !ok {
					later = append(later, rel)
					continue
				}
				base := *products[rel.ProductRef]
				p := base
				p.ID, p.Name = rel.FullProductName.ProductID, rel.FullProductName.Name
				p.Relationship, p.RelatesTo = rel.Category, rel.RelatesToRef
				helper(&p, rel.FullProductName)
				addProduct(v, "product_tree.relationships", p, products)
			}
			pending = later
		}
		for _, rel := range pending {
			v.Add("product_tree.relationships", "product_reference %q is not defined in the product tree", clip(rel.ProductRef))
		}
		for i, g := range pt.ProductGroups {
			if g.GroupID == "" {
				v.Add(fmt.Sprintf("product_tree.product_groups[%d].group_id", i), "is required")
				continue
			}
			groups[g.GroupID] = g.ProductIDs
		}
	}
	if len(products) > maxProducts {
		v.Add("product_tree", "defines %d products; otpatch reads at most %d", len(products), maxProducts)
		return nil, v.err()
	}
	if len(d.Vulnerabilities) > maxVulnerabilities {
		v.Add("vulnerabilities", "lists %d vulnerabilities; otpatch reads at most %d", len(d.Vulnerabilities), maxVulnerabilities)
		return nil, v.err()
	}
	for _, p := range products {
		a.Products = append(a.Products, *p)
	}
	slices.SortFunc(a.Products, func(x, y TreeProduct) int { return strings.Compare(x.ID, y.ID) })

	refs := 0
	// known keeps the ids the tree defines, sorted and without repeats.
	known := func(field string, ids []string) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if _, ok := products[id]; !ok {
				v.Add(field, "product id %q is not defined in the product tree (CSAF 2.0 test 6.1.1)", clip(id))
				continue
			}
			out = append(out, id)
		}
		refs += len(out)
		if out = set(out); out == nil {
			out = []string{}
		}
		return out
	}
	for i, raw := range d.Vulnerabilities {
		if refs > maxReferences {
			v.Add("vulnerabilities", "refer to more than %d product ids", maxReferences)
			break
		}
		at := fmt.Sprintf("vulnerabilities[%d]", i)
		vu := Vulnerability{CVE: strings.TrimSpace(raw.CVE), Title: raw.Title, Remediations: []Remediation{}}
		var affected, fixed, notAffected, investigating []string
		for _, k := range sortedKeys(raw.ProductStatus) {
			ids := known(at+".product_status."+k, raw.ProductStatus[k])
			switch k {
			case "known_affected", "first_affected", "last_affected":
				affected = append(affected, ids...)
			case "fixed", "first_fixed":
				fixed = append(fixed, ids...)
			case "known_not_affected":
				notAffected = append(notAffected, ids...)
			case "under_investigation":
				investigating = append(investigating, ids...)
			}
			// "recommended" products are fixed ones the vendor advises; otpatch reads the
			// remediations for what to install.
		}
		vu.Affected = set(affected)
		if vu.Affected == nil {
			vu.Affected = []string{}
		}
		vu.Fixed, vu.NotAffected, vu.UnderInvestigation = set(fixed), set(notAffected), set(investigating)
		for j, s := range raw.Scores {
			known(fmt.Sprintf("%s.scores[%d].products", at, j), s.Products)
			for _, c := range []*cvss{s.CVSSv3, s.CVSSv4} {
				if c == nil {
					continue
				}
				if c.BaseScore < 0 || c.BaseScore > 10 {
					v.Add(fmt.Sprintf("%s.scores[%d]", at, j), "baseScore %v is outside 0-10", c.BaseScore)
					continue
				}
				if c.BaseScore > vu.CVSS || (vu.CVSS == 0 && vu.CVSSVector == "") {
					vu.CVSS, vu.CVSSVector = c.BaseScore, c.VectorString
				}
			}
		}
		expand := func(field string, productIDs, groupIDs []string) []string {
			ids := slices.Clone(productIDs)
			for _, g := range groupIDs {
				members, ok := groups[g]
				if !ok {
					v.Add(field+".group_ids", "group id %q is not defined in the product tree", clip(g))
					continue
				}
				ids = append(ids, members...)
				if len(ids) > maxReferences {
					break
				}
			}
			return ids
		}
		// Why products are not affected (CSAF VEX): flags and impact threats naming
		// products known not affected.
		justify := func(field, label, impact string, productIDs, groupIDs []string) {
			ids := known(field+".product_ids", expand(field, productIDs, groupIDs))
			ids = slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(vu.NotAffected, id) })
			if len(ids) > 0 {
				vu.Justifications = append(vu.Justifications, Justification{Label: label, Impact: truncate(impact, maxImpact), ProductIDs: ids})
			}
		}
		for j, f := range raw.Flags {
			justify(fmt.Sprintf("%s.flags[%d]", at, j), clip(f.Label), "", f.ProductIDs, f.GroupIDs)
		}
		for j, th := range raw.Threats {
			if th.Category == "impact" {
				justify(fmt.Sprintf("%s.threats[%d]", at, j), "", th.Details, th.ProductIDs, th.GroupIDs)
			}
		}
		for j, rm := range raw.Remediations {
			field := fmt.Sprintf("%s.remediations[%d]", at, j)
			ids := expand(field, rm.ProductIDs, rm.GroupIDs)
			rem := Remediation{Category: rm.Category, Details: rm.Details, URL: rm.URL, Date: rm.Date, ProductIDs: known(field+".product_ids", ids)}
			switch rm.Category {
			case VendorFix:
				rem.FixedVersion = FixedVersionOf(rm.Details)
			case Mitigation, Workaround, NoFixPlanned, NoneAvailable:
			default:
				v.Add(field+".category", "is %q; CSAF 2.0 knows vendor_fix, mitigation, workaround, no_fix_planned and none_available", clip(rm.Category))
			}
			if rm.RestartRequired != nil {
				rem.RestartRequired = rm.RestartRequired.Category
			}
			vu.Remediations = append(vu.Remediations, rem)
			if refs > maxReferences {
				break
			}
		}
		a.Vulnerabilities = append(a.Vulnerabilities, vu)
	}
	if a.Products == nil {
		a.Products = []TreeProduct{}
	}
	if a.Vulnerabilities == nil {
		a.Vulnerabilities = []Vulnerability{}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return a, nil
}

// problems collects what is wrong with a document, at most maxProblems of them.
type problems struct {
	fields []domain.FieldError
	more   int
}

const maxProblems = 50

func (p *problems) Add(field, format string, args ...any) {
	if len(p.fields) >= maxProblems {
		p.more++
		return
	}
	p.fields = append(p.fields, domain.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	fields := p.fields
	if p.more > 0 {
		fields = append(fields, domain.FieldError{Field: "document", Message: fmt.Sprintf("has %d more problems", p.more)})
	}
	return &domain.ValidationError{What: "CSAF document", Fields: fields}
}

// walkBranch descends a product tree branch, carrying what the branches above it said.
func walkBranch(v *problems, at string, b branch, ctx TreeProduct, products map[string]*TreeProduct, depth int) {
	if depth >= maxBranchDepth {
		v.Add(at, "product tree branches are nested deeper than %d levels", maxBranchDepth)
		return
	}
	name := strings.TrimSpace(b.Name)
	switch b.Category {
	case "vendor":
		ctx.Vendor = name
	case "product_family":
		if ctx.Family == "" {
			ctx.Family = name
		} else {
			ctx.Family += " " + name
		}
	case "product_name":
		ctx.ProductName = name
	case "product_version", "product_version_range":
		ctx.Version, ctx.VersionCategory = b.Name, b.Category
	case "":
		v.Add(at+".category", "is required")
	}
	if b.Product != nil {
		p := ctx
		p.ID, p.Name = b.Product.ProductID, b.Product.Name
		helper(&p, *b.Product)
		addProduct(v, at+".product", p, products)
	}
	for i, c := range b.Branches {
		walkBranch(v, fmt.Sprintf("%s.branches[%d]", at, i), c, ctx, products, depth+1)
	}
}

func helper(p *TreeProduct, f fullProductName) {
	if f.Helper != nil {
		p.CPE, p.PURL = f.Helper.CPE, f.Helper.PURL
	}
}

// fromCPE fills vendor, product and version from a CPE 2.3 name when the tree gave none
// (products listed only under full_product_names).
func fromCPE(p *TreeProduct) {
	parts := strings.Split(p.CPE, ":")
	if len(parts) < 6 || parts[0] != "cpe" || parts[1] != "2.3" {
		return
	}
	word := func(s string) string {
		if s == "*" || s == "-" {
			return ""
		}
		return strings.ReplaceAll(strings.ReplaceAll(s, "\\", ""), "_", " ")
	}
	if p.Vendor == "" {
		p.Vendor = word(parts[3])
	}
	if p.ProductName == "" {
		p.ProductName = word(parts[4])
	}
	if p.Version == "" && parts[5] != "-" {
		p.Version, p.VersionCategory = parts[5], "cpe"
	}
}

func addProduct(v *problems, at string, p TreeProduct, products map[string]*TreeProduct) {
	if p.ID == "" {
		v.Add(at+".product_id", "is required")
		return
	}
	if _, dup := products[p.ID]; dup {
		v.Add(at+".product_id", "%q is defined twice (CSAF 2.0 test 6.1.2)", clip(p.ID))
		return
	}
	if p.ProductName == "" {
		p.ProductName = p.Name
	}
	switch {
	case p.Version == "":
		// A product without any version in the tree is the product as a whole.
		p.Ranges = []string{"*"}
	default:
		c := ConvertVersion(p.Version)
		p.Ranges, p.Condition, p.Unconverted = c.Ranges, c.Condition, !c.OK
		if p.Ranges == nil {
			p.Ranges = []string{}
		}
	}
	products[p.ID] = &p
}

func parseDate(v *problems, field, s string) time.Time {
	if s == "" {
		v.Add(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		v.Add(field, "%q is not an RFC 3339 date-time", clip(s))
		return time.Time{}
	}
	// Microseconds: what PostgreSQL keeps, so a stored date compares equal to a re-read one.
	return t.UTC().Truncate(time.Microsecond)
}

func invalid(field, msg string) error {
	return &domain.ValidationError{What: "CSAF document", Fields: []domain.FieldError{{Field: field, Message: msg}}}
}

func jsonType(kind string) string {
	switch kind {
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "float64", "int", "int64":
		return "number"
	}
	return kind
}

// maxImpact bounds the impact statement kept of a VEX justification.
const maxImpact = 2000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// set sorts ids and drops repeats; nil for none.
func set(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
