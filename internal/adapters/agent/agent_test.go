package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// A worker whose job-signing key is not the one the other workers registered (and the agents
// pin) does not start: every job it signed would be refused.
func TestNewRefusesASecondSigningKey(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "otpatch.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, first, _ := ed25519.GenerateKey(rand.Reader)
	_, second, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := New(ctx, Options{Store: st, Objects: nopObjects{}, Key: first}); err != nil {
		t.Fatalf("first worker: %v", err)
	}
	if _, err := New(ctx, Options{Store: st, Objects: nopObjects{}, Key: first}); err != nil {
		t.Fatalf("second worker with the same key: %v", err)
	}
	_, err = New(ctx, Options{Store: st, Objects: nopObjects{}, Key: second})
	if err == nil || !strings.Contains(err.Error(), signing.Fingerprint(first.Public().(ed25519.PublicKey))) {
		t.Fatalf("worker with another key: %v", err)
	}
}

// nopObjects is an object store the constructor never uses.
type nopObjects struct{}

func (nopObjects) Put(context.Context, string, io.Reader, artifacts.Expect, string) (artifacts.Info, error) {
	return artifacts.Info{}, errors.New("not used")
}

func (nopObjects) Open(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("not used")
}
