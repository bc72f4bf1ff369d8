package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// EnvMinIOBin names the environment variable that points at the MinIO
	// server binary. It takes precedence over PATH and the cache directory.
	EnvMinIOBin = "OTPATCH_MINIO_BIN"

	// MinIOModule and MinIOVersion pin the MinIO server the tests run
	// against. It is built from source with `go install` and always runs as
	// a separate process; its Go packages are never imported.
	MinIOModule  = "github.com/minio/minio"
	MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

	minioStartTimeout = 90 * time.Second
	minioStopTimeout  = 15 * time.Second
	minioStartTries   = 3
)

// MinIOServer is a running MinIO server that belongs to one test.
type MinIOServer struct {
	// Endpoint is the server's "host:port", as minio-go expects it.
	Endpoint string
	// AccessKey and SecretKey are the server's root credentials.
	AccessKey string
	SecretKey string
}

// URL returns the server's base URL ("http://host:port").
func (s MinIOServer) URL() string { return "http://" + s.Endpoint }

// DefaultBinDir is where the pinned MinIO binary is installed when neither
// OTPATCH_MINIO_BIN nor PATH provides one: $(os.UserCacheDir)/otpatch/bin.
func DefaultBinDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "otpatch", "bin"), nil
}

// MinIOInstallCommand returns the shell command that builds the pinned MinIO
// server into DefaultBinDir.
func MinIOInstallCommand() string {
	gobin := `"${XDG_CACHE_HOME:-$HOME/.cache}/otpatch/bin"`
	if dir, err := DefaultBinDir(); err == nil {
		gobin = dir
	}
	return "GOBIN=" + gobin + " go install " + MinIOModule + "@" + MinIOVersion
}

func minioHint() string {
	return "build the MinIO server with `" + MinIOInstallCommand() + "` (a few minutes), " +
		"put `minio` on PATH, or set " + EnvMinIOBin + " to its path"
}

// minioBinary finds the MinIO server binary: $OTPATCH_MINIO_BIN, then
// `minio` on PATH, then DefaultBinDir()/minio.
func minioBinary() (string, error) {
	if p := os.Getenv(EnvMinIOBin); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", EnvMinIOBin, p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	looked := []string{"$" + EnvMinIOBin + " (unset)", "minio on PATH"}
	if dir, err := DefaultBinDir(); err == nil {
		p := filepath.Join(dir, "minio")
		if isExecutable(p) {
			return p, nil
		}
		looked = append(looked, p)
	}
	return "", fmt.Errorf("MinIO server binary not found (looked at %s)", strings.Join(looked, ", "))
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// MinIO starts a MinIO server for this test on a free loopback port, with a
// temporary data directory and random root credentials, waits until it
// serves requests and stops it when the test ends. The server's output is
// logged when the test fails.
//
// When no MinIO binary is found the test is skipped, or fails when
// OTPATCH_REQUIRE_SERVICES=1.
func MinIO(t testing.TB) MinIOServer {
	t.Helper()
	bin, err := minioBinary()
	if err != nil {
		unavailable(t, "testenv: "+err.Error()+"; "+minioHint())
		return MinIOServer{}
	}
	srv := MinIOServer{
		AccessKey: "otpatch-" + randomHex(t, 6),
		SecretKey: randomHex(t, 20),
	}
	root := t.TempDir()
	for try := 1; ; try++ {
		err := startMinIO(t, bin, root, try, &srv)
		if err == nil {
			return srv
		}
		// A server that exited at once most likely lost its port to another
		// process between FreeAddr and its bind: try again on a new port.
		if !errors.Is(err, errExitedEarly) || try == minioStartTries {
			t.Fatalf("testenv: start MinIO (%s): %v", bin, err)
		}
	}
}

var errExitedEarly = errors.New("MinIO exited before it was ready")

func startMinIO(t testing.TB, bin, root string, try int, srv *MinIOServer) error {
	t.Helper()
	dataDir := filepath.Join(root, fmt.Sprintf("data-%d", try))
	certsDir := filepath.Join(root, fmt.Sprintf("certs-%d", try))
	for _, d := range []string{dataDir, certsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	srv.Endpoint = FreeAddr(t)

	out := &SyncBuffer{}
	cmd := exec.Command(bin, "server",
		"--address", srv.Endpoint,
		"--certs-dir", certsDir,
		dataDir)
	cmd.Env = append(environWithout("MINIO_"),
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout = out
	cmd.Stderr = out
	proc, err := startProcess(cmd, minioStopTimeout)
	if err != nil {
		return err
	}
	stop := proc.stop

	if err := waitMinIOReady(srv.URL(), proc.done); err != nil {
		stop()
		if errors.Is(err, errExitedEarly) {
			return fmt.Errorf("%w (%v); output:\n%s", err, proc.err, out)
		}
		return fmt.Errorf("%w; output:\n%s", err, out)
	}

	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: MinIO at %s output:\n%s", srv.Endpoint, out)
		}
	})
	return nil
}

// waitMinIOReady polls the liveness endpoint until the server answers with
// its object layer up, then the cluster endpoint until bucket metadata and
// IAM are initialised, so the first S3 request of a test does not race the
// server's start.
func waitMinIOReady(base string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(minioStartTimeout)
	ready := func(path string) bool {
		resp, err := client.Get(base + path)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") == ""
	}
	for _, path := range []string{"/minio/health/live", "/minio/health/cluster"} {
		for !ready(path) {
			select {
			case <-exited:
				return errExitedEarly
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("MinIO at %s not ready after %s (waiting for %s)", base, minioStartTimeout, path)
			}
		}
	}
	return nil
}

// environWithout returns the process environment less the variables whose
// names start with prefix.
func environWithout(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// SyncBuffer collects a child process's output; it is written from the
// process's copy goroutines and read by the test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
