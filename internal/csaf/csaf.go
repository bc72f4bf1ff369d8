// Package csaf reads CSAF 2.0 security advisories (OASIS Common Security Advisory Framework,
// as published by CISA and ICS vendors) into a flat model otpatch can match against its
// inventory: every product of the product tree with its vendor, product name and version
// range, and every vulnerability with its CVE, highest CVSS base score, affected and fixed
// products and remediations. It does no I/O beyond the io.Reader it is given.
package csaf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	gocsaf "github.com/gocsaf/csaf/v3/csaf"

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

// advisory is a CSAF document as the gocsaf model reads it, with the parts gocsaf v3.7.0 types
// otherwise than the CSAF 2.0 schema read beside it: product_tree.product_groups is a list of
// groups and every group_ids a list of group ids (gocsaf has objects for both, which no CSAF
// document matches), and a score may carry a cvss_v4 score (CSAF 2.1), which gocsaf lacks.
// The fields declared here hide the embedded ones of the same JSON name.
type advisory struct {
	gocsaf.Advisory
	ProductTree     *productTree     `json:"product_tree,omitempty"`
	Vulnerabilities []*vulnerability `json:"vulnerabilities,omitempty"`
}

type productTree struct {
	gocsaf.ProductTree
	ProductGroups []*gocsaf.ProductGroup `json:"product_groups,omitempty"`
}

type vulnerability struct {
	gocsaf.Vulnerability
	Scores       []*score       `json:"scores,omitempty"`
	Remediations []*remediation `json:"remediations,omitempty"`
	Flags        []*vulnFlag    `json:"flags,omitempty"`
	Threats      []*threat      `json:"threats,omitempty"`
}

type score struct {
	gocsaf.Score
	CVSS4 *struct {
		BaseScore    *float64 `json:"baseScore"`
		VectorString *string  `json:"vectorString"`
	} `json:"cvss_v4,omitempty"`
}

type remediation struct {
	gocsaf.Remediation
	GroupIDs []*gocsaf.ProductGroupID `json:"group_ids,omitempty"`
}

type vulnFlag struct {
	gocsaf.Flag
	GroupIDs []*gocsaf.ProductGroupID `json:"group_ids,omitempty"`
}

type threat struct {
	gocsaf.Threat
	GroupIDs []*gocsaf.ProductGroupID `json:"group_ids,omitempty"`
}

// model is the document as one gocsaf.Advisory, for its Validate. Group references move into
// gocsaf's ProductGroups; product_tree.product_groups, which gocsaf cannot hold, stays here.
func (a *advisory) model() *gocsaf.Advisory {
	m := a.Advisory
	if a.ProductTree != nil {
		pt := a.ProductTree.ProductTree
		m.ProductTree = &pt
	}
	groups := func(ids []*gocsaf.ProductGroupID) *gocsaf.ProductGroups {
		if ids == nil {
			return nil
		}
		return &gocsaf.ProductGroups{ProductGroupIDs: ids}
	}
	m.Vulnerabilities = nil
	for _, v := range a.Vulnerabilities {
		if v == nil {
			m.Vulnerabilities = append(m.Vulnerabilities, nil)
			continue
		}
		mv := v.Vulnerability
		mv.Scores, mv.Remediations, mv.Flags, mv.Threats = nil, nil, nil, nil
		for _, s := range v.Scores {
			mv.Scores = append(mv.Scores, ptr(s, func(s *score) gocsaf.Score { return s.Score }))
		}
		for _, r := range v.Remediations {
			mv.Remediations = append(mv.Remediations, ptr(r, func(r *remediation) gocsaf.Remediation {
				r.Remediation.GroupIds = groups(r.GroupIDs)
				return r.Remediation
			}))
		}
		for _, f := range v.Flags {
			mv.Flags = append(mv.Flags, ptr(f, func(f *vulnFlag) gocsaf.Flag { f.Flag.GroupIDs = groups(f.GroupIDs); return f.Flag }))
		}
		for _, t := range v.Threats {
			mv.Threats = append(mv.Threats, ptr(t, func(t *threat) gocsaf.Threat { t.Threat.GroupIds = groups(t.GroupIDs); return t.Threat }))
		}
		m.Vulnerabilities = append(m.Vulnerabilities, &mv)
	}
	return &m
}

// ptr is &get(w), or nil (a null in the document) for nil.
func ptr[W, T any](w *W, get func(*W) T) *T {
	if w == nil {
		return nil
	}
	t := get(w)
	return &t
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
	var d advisory
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, decodeProblem(raw, err)
	}
	if d.Document == nil {
		return nil, invalid("document", "is missing: this is not a CSAF document")
	}
	v := &problems{}
	if field, msg, null := validate(d.model()); null {
		if at := locateNull(raw); at != "" {
			return nil, invalid(at, msg)
		}
		return nil, invalid("document", "is not a valid CSAF 2.0 document")
	} else if field != "" {
		v.Add(field, "%s", msg)
	}
	a := &Advisory{}
	doc := d.Document
	a.Title = strings.TrimSpace(text(doc.Title))
	if a.Title == "" {
		v.Add("document.title", "is required")
	}
	if doc.Publisher != nil {
		a.Publisher = strings.TrimSpace(text(doc.Publisher.Name))
	}
	if a.Publisher == "" {
		v.Add("document.publisher.name", "is required")
	}
	var tr gocsaf.Tracking
	if doc.Tracking != nil {
		tr = *doc.Tracking
	}
	a.TrackingID = strings.TrimSpace(text(tr.ID))
	switch {
	case domain.TextFault(a.TrackingID, 200) != "":
		v.Add("document.tracking.id", "%s", domain.TextFault(a.TrackingID, 200))
	case strings.ContainsAny(a.TrackingID, "\n\r\t"):
		v.Add("document.tracking.id", "must be one line (no line breaks or tabs)")
	}
	a.Revision, a.Status = text(tr.Version), text(tr.Status)
	a.InitialRelease = parseDate(v, "document.tracking.initial_release_date", text(tr.InitialReleaseDate))
	a.CurrentRelease = parseDate(v, "document.tracking.current_release_date", text(tr.CurrentReleaseDate))

	products := map[string]*TreeProduct{}
	groups := map[string][]string{}
	if d.ProductTree != nil {
		pt := d.ProductTree
		for i, b := range pt.Branches {
			walkBranch(v, fmt.Sprintf("product_tree.branches[%d]", i), b, TreeProduct{}, products, 0)
		}
		if pt.FullProductNames != nil {
			for i, f := range *pt.FullProductNames {
				if f == nil {
					continue
				}
				p := TreeProduct{ID: text(f.ProductID), Name: text(f.Name)}
				helper(&p, f)
				fromCPE(&p)
				addProduct(v, fmt.Sprintf("product_tree.full_product_names[%d]", i), p, products)
			}
		}
		// Relationships may refer to products other relationships define: resolve in order,
		// then once more for forward references.
		var pending gocsaf.Relationships
		if pt.RelationShips != nil {
			pending = slices.DeleteFunc(slices.Clone(*pt.RelationShips), func(r *gocsaf.Relationship) bool { return r == nil })
		}
		for range 2 {
			var later gocsaf.Relationships
			for _, rel := range pending {
				base, ok := products[text(rel.ProductReference)]
				if !ok {
					later = append(later, rel)
					continue
				}
				p := *base
				p.ID, p.Name = "", ""
				if f := rel.FullProductName; f != nil {
					p.ID, p.Name = text(f.ProductID), text(f.Name)
					helper(&p, f)
				}
				p.Relationship, p.RelatesTo = text(rel.Category), text(rel.RelatesToProductReference)
				addProduct(v, "product_tree.relationships", p, products)
			}
			pending = later
		}
		for _, rel := range pending {
			v.Add("product_tree.relationships", "product_reference %q is not defined in the product tree", clip(text(rel.ProductReference)))
		}
		for i, g := range pt.ProductGroups {
			if g == nil || text(g.GroupID) == "" {
				v.Add(fmt.Sprintf("product_tree.product_groups[%d].group_id", i), "is required")
				continue
			}
			groups[*g.GroupID] = productIDs(g.ProductIDs)
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
		if raw == nil {
			continue
		}
		at := fmt.Sprintf("vulnerabilities[%d]", i)
		vu := Vulnerability{CVE: strings.TrimSpace(text(raw.CVE)), Title: text(raw.Title), Remediations: []Remediation{}}
		var affected, fixed, notAffected, investigating []string
		ps := raw.ProductStatus
		if ps == nil {
			ps = &gocsaf.ProductStatus{}
		}
		for _, s := range []struct {
			name string
			ids  *gocsaf.Products
			into *[]string
		}{
			{"first_affected", ps.FirstAffected, &affected},
			{"first_fixed", ps.FirstFixed, &fixed},
			{"fixed", ps.Fixed, &fixed},
			{"known_affected", ps.KnownAffected, &affected},
			{"known_not_affected", ps.KnownNotAffected, &notAffected},
			{"last_affected", ps.LastAffected, &affected},
			// "recommended" products are fixed ones the vendor advises; otpatch reads the
			// remediations for what to install.
			{"recommended", ps.Recommended, nil},
			{"under_investigation", ps.UnderInvestigation, &investigating},
		} {
			if s.ids == nil {
				continue
			}
			ids := known(at+".product_status."+s.name, productIDs(s.ids))
			if s.into != nil {
				*s.into = append(*s.into, ids...)
			}
		}
		vu.Affected = set(affected)
		if vu.Affected == nil {
			vu.Affected = []string{}
		}
		vu.Fixed, vu.NotAffected, vu.UnderInvestigation = set(fixed), set(notAffected), set(investigating)
		for j, s := range raw.Scores {
			if s == nil {
				continue
			}
			known(fmt.Sprintf("%s.scores[%d].products", at, j), productIDs(s.Products))
			type cvss struct {
				score  *float64
				vector string
			}
			var cs []cvss
			if s.CVSS3 != nil {
				cs = append(cs, cvss{s.CVSS3.BaseScore, text(s.CVSS3.VectorString)})
			}
			if s.CVSS4 != nil {
				cs = append(cs, cvss{s.CVSS4.BaseScore, text(s.CVSS4.VectorString)})
			}
			for _, c := range cs {
				var base float64
				if c.score != nil {
					base = *c.score
				}
				if base < 0 || base > 10 {
					v.Add(fmt.Sprintf("%s.scores[%d]", at, j), "baseScore %v is outside 0-10", base)
					continue
				}
				if base > vu.CVSS || (vu.CVSS == 0 && vu.CVSSVector == "") {
					vu.CVSS, vu.CVSSVector = base, c.vector
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
			if f != nil {
				justify(fmt.Sprintf("%s.flags[%d]", at, j), clip(text(f.Label)), "", productIDs(f.ProductIds), groupIDs(f.GroupIDs))
			}
		}
		for j, th := range raw.Threats {
			if th != nil && text(th.Category) == string(gocsaf.CSAFThreatCategoryImpact) {
				justify(fmt.Sprintf("%s.threats[%d]", at, j), "", text(th.Details), productIDs(th.ProductIds), groupIDs(th.GroupIDs))
			}
		}
		for j, rm := range raw.Remediations {
			if rm == nil {
				continue
			}
			field := fmt.Sprintf("%s.remediations[%d]", at, j)
			ids := expand(field, productIDs(rm.ProductIds), groupIDs(rm.GroupIDs))
			rem := Remediation{Category: text(rm.Category), Details: text(rm.Details), URL: text(rm.URL), Date: text(rm.Date), ProductIDs: known(field+".product_ids", ids)}
			if rem.Category == VendorFix {
				rem.FixedVersion = FixedVersionOf(rem.Details)
			}
			if rm.RestartRequired != nil {
				rem.RestartRequired = text(rm.RestartRequired.Category)
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

// text is the string p points to, or "" for none.
func text[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// productIDs are the ids of a product list, nulls left out.
func productIDs(ps *gocsaf.Products) []string {
	if ps == nil {
		return nil
	}
	out := make([]string, 0, len(*ps))
	for _, id := range *ps {
		if id != nil {
			out = append(out, string(*id))
		}
	}
	return out
}

func groupIDs(gs []*gocsaf.ProductGroupID) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		if g != nil {
			out = append(out, string(*g))
		}
	}
	return out
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
func walkBranch(v *problems, at string, b *gocsaf.Branch, ctx TreeProduct, products map[string]*TreeProduct, depth int) {
	if b == nil {
		return
	}
	if depth >= maxBranchDepth {
		v.Add(at, "product tree branches are nested deeper than %d levels", maxBranchDepth)
		return
	}
	name := strings.TrimSpace(text(b.Name))
	switch text(b.Category) {
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
		ctx.Version, ctx.VersionCategory = text(b.Name), text(b.Category)
	}
	if b.Product != nil {
		p := ctx
		p.ID, p.Name = text(b.Product.ProductID), text(b.Product.Name)
		helper(&p, b.Product)
		addProduct(v, at+".product", p, products)
	}
	for i, c := range b.Branches {
		walkBranch(v, fmt.Sprintf("%s.branches[%d]", at, i), c, ctx, products, depth+1)
	}
}

func helper(p *TreeProduct, f *gocsaf.FullProductName) {
	if h := f.ProductIdentificationHelper; h != nil {
		p.CPE, p.PURL = text(h.CPE), text(h.PURL)
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

// set sorts ids and drops repeats; nil for none.
func set(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
