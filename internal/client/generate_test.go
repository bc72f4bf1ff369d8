package client_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/otpatch/otpatch/api"
)

// TestClientIsGenerated fails when client.gen.go is not what oapi-codegen makes of the
// document the server serves now: run `go generate ./internal/client`.
func TestClientIsGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds oapi-codegen")
	}
	doc, err := json.MarshalIndent(api.OpenAPIDocument(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(spec, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	config, _ := filepath.Abs("oapi-codegen.yaml")
	out := filepath.Join(dir, "client.gen.go")
	cmd := exec.Command("go", "run", "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen", "-config", config, "-o", out, spec)
	cmd.Dir = filepath.Join("..", "tools", "codegen")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("client.gen.go is not generated from the current OpenAPI document; run: go generate ./internal/client")
	}
}
