package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// helixAdvisory is a CSAF 2.0 advisory for the demo plant's switches: every Helix switch is
// affected and there is no patch, only a mitigation.
const helixAdvisory = `{
  "document": {"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Helix switch HTTP management",
    "publisher": {"name": "Helix PSIRT", "category": "vendor", "namespace": "https://helix.example"},
    "tracking": {"id": "HELIX-SA-2026-003", "status": "final", "version": "1",
      "initial_release_date": "2026-11-02T00:00:00Z", "current_release_date": "2026-11-02T00:00:00Z"}},
  "product_tree": {"branches": [{"category": "vendor", "name": "Helix Industrial Networks", "branches": [
    {"category": "product_name", "name": "Helix-Switch", "branches": [
      {"category": "product_version_range", "name": "All versions", "product": {"name": "Helix-Switch All versions", "product_id": "HELIX-SW"}}]}]}]},
  "vulnerabilities": [{"cve": "CVE-2026-31338", "product_status": {"known_affected": ["HELIX-SW"]},
    "scores": [{"products": ["HELIX-SW"], "cvss_v3": {"baseScore": 5.3, "vectorString": "CVSS:3.1/AV:N", "version": "3.1"}}],
    "remediations": [{"category": "mitigation", "details": "Disable the switch's HTTP management interface", "product_ids": ["HELIX-SW"]}]}]
}`

// TestAdvisoryDecideCLI decides on an advisory with `otpatch advisory decide`, named by its
// tracking id: a mitigation for every affected switch, then a risk acceptance for the packaging
// switches that the requester may not approve and the named approver does.
func TestAdvisoryDecideCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	var demo struct {
		Users map[string]string `json:"users"`
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "demo-tokens.json"))
	if err := json.Unmarshal(raw, &demo); err != nil {
		t.Fatal(err)
	}
	approver := ""
	for name, role := range demo.Users {
		if role == "approver" {
			approver = name
		}
	}
	file := filepath.Join(dir, "helix.json")
	if err := os.WriteFile(file, []byte(helixAdvisory), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, _ := binary()
	otpatch := func(token string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--url", "http://"+addr, "--token", token)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		}
		t.Fatalf("otpatch %v: %v", args, err)
		return "", 0
	}
	if out, code := otpatch(tokens["engineer"], "csaf", "ingest", file); code != 0 {
		t.Fatalf("ingest: %d %s", code, out)
	}

	if out, code := otpatch(tokens["engineer"], "advisory", "decide", "--patch", "--mitigate", "--all", "HELIX-SA-2026-003"); code != exitUsage || !strings.Contains(out, "one of --patch") {
		t.Fatalf("two kinds: %d %s", code, out)
	}
	if out, code := otpatch(tokens["engineer"], "advisory", "decide", "--patch", "--all", "HELIX-SA-2026-003"); code != exitFailure || !strings.Contains(out, "no qualified patch fixes") {
		t.Fatalf("patch without a patch: %d %s", code, out)
	}
	review := time.Now().UTC().AddDate(0, 0, 20).Format(time.DateOnly)
	out, code := otpatch(tokens["engineer"], "advisory", "decide", "--mitigate", "--all", "--control", "disabled_service",
		"--description", "HTTP management disabled", "--owner", "ot-network", "--evidence", "CHG-1234", "--review", review, "HELIX-SA-2026-003")
	if code != 0 || !strings.Contains(out, "mitigate for ") || !strings.Contains(out, "of HELIX-SA-2026-003, active; mitigation plan mit_") {
		t.Fatalf("mitigate: %d %s", code, out)
	}

	expires := time.Now().UTC().AddDate(0, 0, 90).Format(time.DateOnly)
	out, code = otpatch(tokens["engineer"], "advisory", "decide", "--accept", "--zone", "zone_packaging", "--justification", "line 2 is rebuilt in spring",
		"--approver", approver, "--expires", expires, "HELIX-SA-2026-003")
	if code != 0 || !strings.Contains(out, "pending; awaits the approval of "+approver) {
		t.Fatalf("accept: %d %s", code, out)
	}
	id, _, _ := strings.Cut(out, ":")
	if out, code := otpatch(tokens["engineer"], "advisory", "approve", id); code != exitFailure || !strings.Contains(out, "403") {
		t.Fatalf("an engineer approving: %d %s", code, out)
	}
	if out, code := otpatch(tokens["approver"], "advisory", "approve", id); code != 0 || !strings.Contains(out, "active; approved by "+approver) {
		t.Fatalf("the approver approving: %d %s", code, out)
	}

	// A second acceptance is rejected, with the reason; without one the command refuses.
	out, code = otpatch(tokens["engineer"], "advisory", "decide", "--accept", "--zone", "zone_packaging", "--justification", "and another spring",
		"--approver", approver, "--expires", expires, "HELIX-SA-2026-003")
	if code != 0 {
		t.Fatalf("second accept: %d %s", code, out)
	}
	second, _, _ := strings.Cut(out, ":")
	if out, code := otpatch(tokens["approver"], "advisory", "reject", second); code != exitUsage || !strings.Contains(out, "--reason") {
		t.Fatalf("rejecting without a reason: %d %s", code, out)
	}
	if out, code := otpatch(tokens["approver"], "advisory", "reject", "--reason", "patch it instead", second); code != 0 || !strings.Contains(out, "rejected; rejected by "+approver+": patch it instead") {
		t.Fatalf("the approver rejecting: %d %s", code, out)
	}
	if out, code := otpatch(tokens["approver"], "advisory", "reject", "--reason", "again", second); code != exitFailure || !strings.Contains(out, "409") {
		t.Fatalf("rejecting twice: %d %s", code, out)
	}
}
