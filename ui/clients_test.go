package ui_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/testenv"
)

// contractTools is the npm project with Redocly CLI, openapi-typescript, openapi-fetch and
// TypeScript, installed by .ci/run (npm ci).
var contractTools = filepath.Join("..", "internal", "tools", "contract")

// npmTool finds an installed tool of contractTools; without it the test skips, or fails when
// services are required (.ci/run).
func npmTool(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(contractTools, "node_modules", ".bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		msg := name + " is not installed: run `npm ci` in internal/tools/contract (bash .ci/run does)"
		if os.Getenv(testenv.EnvRequireServices) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// TestTypeScriptClient is what a third party does with the document the server serves: lint
// it with Redocly's recommended rules (no error, no warning), generate a TypeScript client
// from it with openapi-typescript, type-check an integrator's flow (internal/tools/contract/
// flow.ts: list campaigns page by page, read one, ask for a missing one) against it, and run
// that flow against the server.
func TestTypeScriptClient(t *testing.T) {
	redocly, openapiTS, tsc := npmTool(t, "redocly"), npmTool(t, "openapi-typescript"), npmTool(t, "tsc")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed")
	}
	s := newStack(t)
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 2000))
	first := s.approvedCampaign("HMI auth bypass, pkg-hmi-01", patchID, []string{"ast_pkg-hmi-01"})
	second := s.approvedCampaign("HMI auth bypass, pkg-hmi-02", patchID, []string{"ast_pkg-hmi-02"})

	res, err := http.Get(s.url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()

	dir := t.TempDir()
	tools, _ := filepath.Abs(contractTools)
	if err := os.Symlink(filepath.Join(tools, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"flow.ts", "tsconfig.json", "redocly.yaml", ".redocly.lint-ignore.yaml"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("openapi.json", served)
	write("package.json", []byte(`{"private": true, "type": "module"}`))

	t.Run("redocly lint", func(t *testing.T) {
		cmd := exec.Command(redocly, "lint", "--config", "redocly.yaml", "--format", "json", "openapi.json")
		cmd.Dir = dir
		out, _ := cmd.Output() // it exits 1 on errors; the totals say more
		var report struct {
			Totals struct {
				Errors, Warnings int
			} `json:"totals"`
			Problems []struct {
				RuleID   string `json:"ruleId"`
				Severity string `json:"severity"`
				Message  string `json:"message"`
				Location []struct {
					Pointer string `json:"pointer"`
				} `json:"location"`
			} `json:"problems"`
		}
		if err := json.Unmarshal(out, &report); err != nil {
			t.Fatalf("redocly's report is not JSON: %v\n%s", err, out)
		}
		for i, p := range report.Problems {
			if i == 20 {
				t.Errorf("… and %d more", len(report.Problems)-20)
				break
			}
			where := ""
			if len(p.Location) > 0 {
				where = p.Location[0].Pointer
			}
			t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
		}
		if report.Totals.Errors != 0 || report.Totals.Warnings != 0 {
			t.Errorf("redocly lint: %d errors, %d warnings; want none", report.Totals.Errors, report.Totals.Warnings)
		}
	})

	run(t, dir, openapiTS, "openapi.json", "--output", "schema.d.ts")
	run(t, dir, tsc, "-p", ".") // type-checks flow.ts against the generated client, then emits it
	out := run(t, dir, node, filepath.Join("dist", "flow.js"), s.url, s.tokens.Auditor)

	var got struct {
		Pages     int      `json:"pages"`
		Campaigns []string `json:"campaigns"`
		Read      struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Status  string `json:"status"`
			PatchID string `json:"patch_id"`
		} `json:"read"`
		Missing struct {
			Status int    `json:"status"`
			Type   string `json:"type"`
		} `json:"missing"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("the flow printed %q: %v", out, err)
	}
	var read struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Status  string `json:"status"`
		PatchID string `json:"patch_id"`
	}
	s.call("GET", "/api/v1/campaigns/"+got.Read.ID, s.tokens.Auditor, nil, &read)
	switch {
	case got.Pages != 2 || len(got.Campaigns) != 2 || !slices.Contains(got.Campaigns, first) || !slices.Contains(got.Campaigns, second):
		t.Errorf("the flow listed %v in %d pages of one; want %s and %s in 2", got.Campaigns, got.Pages, first, second)
	case got.Read.ID != read.ID || got.Read.Name != read.Name || got.Read.Status != read.Status || got.Read.PatchID != patchID:
		t.Errorf("the flow read %+v; the server has %+v", got.Read, read)
	case got.Missing.Status != http.StatusNotFound || got.Missing.Type != "urn:otpatch:problem:not-found":
		t.Errorf("a missing campaign: %+v; want 404 urn:otpatch:problem:not-found", got.Missing)
	}
}
