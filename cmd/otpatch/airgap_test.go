package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/testenv"
	"github.com/otpatch/otpatch/internal/transfer"
)

// TestAirGappedSite runs the central instance and an air-gapped site's own instance as two
// otpatch processes with their own data folders, each in a network namespace of its own with
// no path to the other, exchanging only files: the site's inventory, an approved plan, the
// site's results. Tampered, expired, replayed and foreign-signed bundles are refused with
// their reason and change nothing; the central evidence bundle covers the site's run.
func TestAirGappedSite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two otpatch instances in two network namespaces and a campaign in the demo's windows")
	}
	nsC, nsS := testenv.NewNetns(t), testenv.NewNetns(t)
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	dirC, dirS, media := t.TempDir(), t.TempDir(), t.TempDir()
	centralAddr := fmt.Sprintf("%s:%d", nsC.NSIP, nsC.Port())
	siteAddr := fmt.Sprintf("%s:%d", nsS.NSIP, nsS.Port())
	startIn := func(name string, ns *testenv.Netns, addr string, args ...string) {
		cmd := ns.Command(bin, append([]string{"dev", "--demo", "--listen", addr}, args...)...)
		startOtpatchCmd(t, name, cmd, []string{"OTPATCH_SIM_STEP=300ms"}, func(*otpatchProcess) bool {
			res, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}
	startIn("central", nsC, centralAddr, "--data", dirC)
	central := apiClient{t: t, base: "http://" + centralAddr}
	tc := readTokens(t, dirC)
	var ck struct {
		PEM   string `json:"pem"`
		KeyID string `json:"key_id"`
	}
	if code := central.json("GET", "/api/v1/transfers/key", tc["engineer"], nil, &ck); code != http.StatusOK || ck.PEM == "" {
		t.Fatalf("central transfer key: %d", code)
	}
	centralKey := filepath.Join(media, "central-transfer-key.pem")
	if err := os.WriteFile(centralKey, []byte(ck.PEM), 0o644); err != nil {
		t.Fatal(err)
	}
	startIn("site", nsS, siteAddr, "--data", dirS, "--transfer-site", "site_basel", "--transfer-central-key", centralKey)
	site := apiClient{t: t, base: "http://" + siteAddr}
	ts := readTokens(t, dirS)

	// No network path between them, either way.
	if nsC.CanDial(siteAddr, 2*time.Second) || nsS.CanDial(centralAddr, 2*time.Second) {
		t.Fatal("the central instance and the site can reach each other")
	}
	cli := func(c apiClient, token string, args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--url", c.base, "--token", token)...)
		cmd.Env = environWithout("OTPATCH_")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustCLI := func(c apiClient, token string, args ...string) string {
		t.Helper()
		out, err := cli(c, token, args...)
		if err != nil {
			t.Fatalf("otpatch %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	// The site's key is pinned at the central instance, and its inventory comes over.
	var sk struct {
		PublicKey    string `json:"public_key"`
		Site         string `json:"site"`
		CentralKeyID string `json:"central_key_id"`
	}
	site.json("GET", "/api/v1/transfers/key", ts["engineer"], nil, &sk)
	if sk.Site != "site_basel" || sk.CentralKeyID != ck.KeyID {
		t.Fatalf("the site instance is not in site mode with the central key: %+v", sk)
	}
	if code := central.json("PATCH", "/api/v1/sites/site_basel", tc["admin"], map[string]any{"device_work": "air_gapped", "transfer_key": sk.PublicKey}, nil); code != http.StatusOK {
		t.Fatalf("pin the site's key: %d", code)
	}
	inv := filepath.Join(media, "inventory.tar")
	out := mustCLI(site, ts["engineer"], "transfer", "export", "--kind", "inventory", "--out", inv)
	if !strings.Contains(out, "SHA-256 ") {
		t.Fatalf("export printed no SHA-256:\n%s", out)
	}
	if out := mustCLI(central, tc["engineer"], "transfer", "import", inv); !strings.Contains(out, "inventory of site site_basel") {
		t.Fatalf("inventory import:\n%s", out)
	}

	// A qualified patch and a campaign of the site's packaging PLCs, approved at the center.
	patchID := submitPLCPatch(t, central, dirC, tc, 32768)
	central.json("PUT", "/api/v1/zones/zone_packaging/window", tc["engineer"], map[string]any{"cron": "* * * * *", "duration": "1h", "time_zone": "Europe/Zurich", "max_parallel": 2}, nil)
	var camp struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
	}
	if code := central.json("POST", "/api/v1/campaigns", tc["engineer"], map[string]any{"name": "PLC fix at Basel", "patch_id": patchID, "asset_ids": plcTargets}, &camp); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	status := func(c apiClient, token string) campaignState {
		var s campaignState
		c.json("GET", "/api/v1/campaigns/"+camp.ID, token, nil, &s)
		return s
	}
	waitFor(t, "awaiting approval", func() (bool, string) {
		s := status(central, tc["engineer"])
		return s.Status == "awaiting_approval", s.Status
	})
	// Before approval there is no plan bundle to write.
	if out, err := cli(central, tc["engineer"], "transfer", "export", "--kind", "plan", "--campaign", camp.ID, "--out", filepath.Join(media, "early.tar")); err == nil || !strings.Contains(out, "approved") {
		t.Fatalf("a plan bundle before approval: %v\n%s", err, out)
	}
	if code := central.json("POST", "/api/v1/campaigns/"+camp.ID+"/decisions", tc["approver"], map[string]any{"decision": "approve", "plan_digest": camp.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	waitFor(t, "waiting for the site", func() (bool, string) {
		s := status(central, tc["engineer"])
		return s.Status == "scheduled" && strings.Contains(s.Detail, "results not returned yet"), s.Status + " " + s.Detail
	})
	plan := filepath.Join(media, "plan.tar")
	first := mustCLI(central, tc["engineer"], "transfer", "export", "--kind", "plan", "--campaign", camp.ID, "--out", plan)
	// A copy lost on the way is written again, byte for byte.
	again := mustCLI(central, tc["engineer"], "transfer", "export", "--kind", "plan", "--campaign", camp.ID, "--out", filepath.Join(media, "plan-again.tar"))
	if !strings.Contains(again, "written again") || sha256Hex(mustRead(t, plan)) != sha256Hex(mustRead(t, filepath.Join(media, "plan-again.tar"))) {
		t.Fatalf("the plan bundle written again differs:\n%s\n%s", first, again)
	}

	// Bundles the site refuses, each for its reason, and nothing changes at the site.
	siteState := func() string {
		var cs, tr struct{ Items []json.RawMessage }
		site.json("GET", "/api/v1/campaigns", ts["engineer"], nil, &cs)
		site.json("GET", "/api/v1/transfers", ts["engineer"], nil, &tr)
		return fmt.Sprintf("%d campaigns, %d transfers", len(cs.Items), len(tr.Items))
	}
	before := siteState()
	good, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	centralPriv, err := signing.LoadOrCreateKey(filepath.Join(dirC, "transfer.key"), "transfer key")
	if err != nil {
		t.Fatal(err)
	}
	_, foreignPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged := func(name string, key ed25519.PrivateKey, seq uint64, created, expires time.Time) string {
		var buf bytes.Buffer
		h := transfer.Header{Kind: transfer.KindPlan, SiteID: "site_basel", Sequence: seq, CreatedAt: created, ExpiresAt: expires, Origin: "otpatch/central"}
		if _, err := transfer.Write(&buf, h, []transfer.File{transfer.BytesFile("plan.json", []byte("{}\n"))}, key); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(media, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now().UTC()
	tampered := append([]byte(nil), good...)
	i := len(tampered) - 1
	for tampered[i] == 0 {
		i--
	}
	tampered[i] ^= 0x01
	tamperedFile := filepath.Join(media, "tampered.tar")
	if err := os.WriteFile(tamperedFile, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	// Bundles the central key signed whose content is not what was approved.
	goodBundle, err := transfer.OpenFile(plan, centralPriv.Public().(ed25519.PublicKey), transfer.Options{Now: now, ExtractTo: filepath.Join(media, "good")})
	if err != nil {
		t.Fatal(err)
	}
	resigned := func(name string, change func(doc map[string]any, manifest []byte) []byte) string {
		var files []transfer.File
		for _, f := range goodBundle.Header.Files {
			b, err := os.ReadFile(goodBundle.FilePath(f.Path))
			if err != nil {
				t.Fatal(err)
			}
			switch f.Path {
			case "plan.json":
				var doc map[string]any
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatal(err)
				}
				change(doc, nil)
				b, _ = json.Marshal(doc)
			case "manifest.json":
				b = change(nil, b)
			}
			files = append(files, transfer.BytesFile(f.Path, b))
		}
		var buf bytes.Buffer
		h := goodBundle.Header
		h.Files = nil
		if _, err := transfer.Write(&buf, h, files, centralPriv); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(media, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keep := func(_ map[string]any, m []byte) []byte { return m }
	widened := resigned("widened.tar", func(doc map[string]any, m []byte) []byte {
		if doc != nil { // one more target than was approved: the plan no longer hashes to its digest
			p := doc["plan"].(map[string]any)
			ts := p["targets"].([]any)
			p["targets"] = append(ts, ts[len(ts)-1])
		}
		return m
	})
	selfApproved := resigned("self-approved.tar", func(doc map[string]any, m []byte) []byte {
		if doc != nil {
			doc["approvals"].([]any)[0].(map[string]any)["actor"] = doc["campaign"].(map[string]any)["created_by"]
		}
		return keep(doc, m)
	})
	unsigned := resigned("manifest-changed.tar", func(doc map[string]any, m []byte) []byte {
		if m != nil { // the manifest and the hash the plan names, changed together: the vendor's signature fails
			m = bytes.Replace(m, []byte("Modbus"), []byte("Modbux"), 1)
		}
		if doc != nil {
			doc["patch"].(map[string]any)["manifest_sha256"] = sha256Hex(bytes.Replace(mustRead(t, goodBundle.FilePath("manifest.json")), []byte("Modbus"), []byte("Modbux"), 1))
		}
		return m
	})
	for file, reason := range map[string]string{
		widened:      "(plan_digest)",
		selfApproved: "(approvals)",
		unsigned:     "(vendor_signature)",
		tamperedFile: "(tampered)",
		forged("expired.tar", centralPriv, 1, now.Add(-48*time.Hour), now.Add(-24*time.Hour)): "(expired)",
		forged("foreign.tar", foreignPriv, 1, now, now.Add(24*time.Hour)):                     "(foreign_key)",
	} {
		out, err := cli(site, ts["engineer"], "transfer", "import", file)
		if err == nil || !strings.Contains(out, "refused") || !strings.Contains(out, reason) {
			t.Errorf("%s: want a refusal naming %q: %v\n%s", filepath.Base(file), reason, err, out)
		}
		t.Logf("%s: %s", filepath.Base(file), out)
	}
	if after := siteState(); after != before {
		t.Fatalf("refused bundles changed the site: %s, then %s", before, after)
	}

	// The plan is imported once, and the site runs it in the plan's windows.
	if out := mustCLI(site, ts["engineer"], "transfer", "import", plan); !strings.Contains(out, "imported") || !strings.Contains(out, "approved by") {
		t.Fatalf("plan import:\n%s", out)
	} else {
		t.Logf("plan import: %s", out)
	}
	if out := mustCLI(site, ts["engineer"], "transfer", "import", plan); !strings.Contains(out, "nothing changed") {
		t.Fatalf("the same plan again:\n%s", out)
	}
	// An inventory written before the site's results, carried in after them, must not undo them.
	staleInventory := filepath.Join(media, "inventory-2.tar")
	mustCLI(site, ts["engineer"], "transfer", "export", "--kind", "inventory", "--out", staleInventory)
	replayed := forged("replayed.tar", centralPriv, 1, now, now.Add(24*time.Hour))
	if out, err := cli(site, ts["engineer"], "transfer", "import", replayed); err == nil || !strings.Contains(out, "(replayed)") {
		t.Fatalf("a replayed sequence number: %v\n%s", err, out)
	}
	waitFor(t, "the site's run", func() (bool, string) {
		s := status(site, ts["engineer"])
		return s.Status == "completed", s.Status + " " + s.Detail
	})
	if s := status(central, tc["engineer"]); s.Status != "scheduled" || !strings.Contains(s.Detail, "results not returned yet") {
		t.Fatalf("the central instance assumed results it has not seen: %s %s", s.Status, s.Detail)
	}

	// The results come back, once; the central campaign ends as the site's did.
	// The first results bundle is lost on the way: the second is refused as a gap until an
	// operator accepts the gap, which the audit trail records.
	mustCLI(site, ts["engineer"], "transfer", "export", "--kind", "results", "--campaign", camp.ID, "--out", filepath.Join(media, "results-lost.tar"))
	results := filepath.Join(media, "results.tar")
	mustCLI(site, ts["engineer"], "transfer", "export", "--kind", "results", "--campaign", camp.ID, "--out", results)
	if out, err := cli(central, tc["engineer"], "transfer", "import", results); err == nil || !strings.Contains(out, "(sequence_gap)") || !strings.Contains(out, "bundle 1 never arrived") {
		t.Fatalf("results after a lost bundle: %v\n%s", err, out)
	}
	if s := status(central, tc["engineer"]); !strings.Contains(s.Detail, "results not returned yet") {
		t.Fatalf("a refused results bundle changed the campaign: %s %s", s.Status, s.Detail)
	}
	if out := mustCLI(central, tc["engineer"], "transfer", "import", "--accept-gap", results); !strings.Contains(out, "reports campaign") {
		t.Fatalf("results import:\n%s", out)
	} else {
		t.Logf("results import: %s", out)
	}
	waitFor(t, "the central campaign to complete", func() (bool, string) {
		s := status(central, tc["engineer"])
		return s.Status == "completed", s.Status + " " + s.Detail
	})
	s := status(central, tc["engineer"])
	for _, a := range s.Assets {
		if a.State != "done" {
			t.Errorf("asset %s is %s at the central instance", a.AssetID, a.State)
		}
	}
	var plc struct {
		InstalledVersion string `json:"installed_version"`
	}
	if central.json("GET", "/api/v1/assets/"+plcTargets[0], tc["engineer"], nil, &plc); plc.InstalledVersion != "V2.9.4" {
		t.Errorf("the central inventory says %s runs %q after the site's results", plcTargets[0], plc.InstalledVersion)
	}
	// The site's events are in the central audit trail, with the site's checkpoint.
	var evs struct {
		Items []struct {
			Details string `json:"details"`
		} `json:"items"`
	}
	central.json("GET", "/api/v1/audit/events?action=transfer.imported&campaign_id="+camp.ID, tc["auditor"], nil, &evs)
	var imported struct {
		SiteEvents []struct {
			Action   string `json:"action"`
			LeafHash string `json:"leaf_hash"`
		} `json:"site_events"`
		SiteEvidence struct {
			CheckpointOrigin string `json:"checkpoint_origin"`
		} `json:"site_evidence"`
		GapAccepted struct {
			MissedFrom int `json:"missed_from"`
			MissedTo   int `json:"missed_to"`
		} `json:"gap_accepted"`
	}
	if len(evs.Items) != 1 || json.Unmarshal([]byte(evs.Items[0].Details), &imported) != nil ||
		len(imported.SiteEvents) == 0 || len(imported.SiteEvents[0].LeafHash) != 64 || imported.SiteEvidence.CheckpointOrigin == "" {
		t.Fatalf("the central audit trail does not hold the site's events with its checkpoint: %+v", evs)
	}
	if imported.GapAccepted.MissedFrom != 1 || imported.GapAccepted.MissedTo != 1 {
		t.Errorf("the accepted gap is not recorded: %+v", imported.GapAccepted)
	}
	if out := mustCLI(central, tc["engineer"], "transfer", "import", staleInventory); !strings.Contains(out, "kept as newer results of the site say") {
		t.Fatalf("an inventory older than the results:\n%s", out)
	}
	if central.json("GET", "/api/v1/assets/"+plcTargets[0], tc["engineer"], nil, &plc); plc.InstalledVersion != "V2.9.4" {
		t.Errorf("an older inventory set %s back to %q", plcTargets[0], plc.InstalledVersion)
	}
	if out := mustCLI(central, tc["engineer"], "transfer", "import", results); !strings.Contains(out, "nothing changed") {
		t.Fatalf("the same results again:\n%s", out)
	}

	// The central evidence bundle covers the site's run, verified with the site's audit key.
	evidenceFile := filepath.Join(media, "evidence.tar.gz")
	req, _ := http.NewRequest("GET", central.base+"/api/v1/campaigns/"+camp.ID+"/evidence", nil)
	req.Header.Set("Authorization", "Bearer "+tc["auditor"])
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("evidence: %v %v", err, res)
	}
	var eb bytes.Buffer
	_, _ = eb.ReadFrom(res.Body)
	res.Body.Close()
	if err := os.WriteFile(evidenceFile, eb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, bin, "evidence", "verify", evidenceFile); !strings.Contains(out, "air-gapped site site_basel: its evidence bundle verified") {
		t.Fatalf("evidence verify:\n%s", out)
	} else {
		t.Logf("evidence verify: %s", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
