package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/testenv"
)

// BenchmarkArtifactUpload measures a large artifact (OTPATCH_BENCH_BYTES, default 1 GiB)
// submitted through the API of an `otpatch server` process into a real MinIO, side by side
// with minio-go's PutObject of the same file to the same server, and the server's peak RSS.
// The server is the production build (-tags noembedded, as deploy/Dockerfile builds it).
// It is a command a person runs (see docs/benchmarks.md), never part of CI:
//
//	go test ./cmd/otpatch -run '^$' -bench ArtifactUpload -benchtime 1x
func BenchmarkArtifactUpload(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("OTPATCH_BENCH_BYTES"); v != "" {
		size, _ = strconv.ParseInt(v, 10, 64)
	}
	mc := testenv.MinIO(b)
	dir := b.TempDir()
	artifact := filepath.Join(dir, "firmware.bin")
	sum := writeRandomFile(b, artifact, size)

	// otpatch dev provides Temporal and the seeded database; the API under test is a separate
	// `otpatch server` process on the same database, Temporal and MinIO.
	devAddr, temporalAddr, apiAddr := freePort(b), freePort(b), freePort(b)
	s3env := []string{"OTPATCH_S3_ENDPOINT=" + mc.Endpoint, "OTPATCH_S3_ACCESS_KEY=" + mc.AccessKey, "OTPATCH_S3_SECRET_KEY=" + mc.SecretKey,
		"OTPATCH_MAX_ARTIFACT_BYTES=" + strconv.FormatInt(size+1, 10)}
	startProcess(b, "http://"+devAddr, append(s3env, "OTPATCH_TEMPORAL_LISTEN="+temporalAddr), "dev", "--demo", "--data", dir, "--listen", devAddr)
	server := startProcessWith(b, leanBinary, "http://"+apiAddr, append(s3env, "OTPATCH_DATABASE_URL="+filepath.Join(dir, "otpatch.db"), "OTPATCH_TEMPORAL_ADDRESS="+temporalAddr), "server", "--listen", apiAddr)
	tokens := readTokens(b, dir)
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "demo-keys", "acme.key"))
	key, err := signing.ParsePrivate(keyPEM)
	if err != nil {
		b.Fatal(err)
	}

	client, err := minio.New(mc.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(mc.AccessKey, mc.SecretKey, "")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := client.MakeBucket(ctx, "baseline", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	var apiTime, putTime time.Duration
	for i := 0; i < b.N; i++ {
		// minio-go's PutObject of the same file: the baseline. Dirty pages of the previous
		// upload are flushed first so neither run pays for the other's writeback.
		syscall.Sync()
		f, _ := os.Open(artifact)
		start := time.Now()
		if _, err := client.PutObject(ctx, "baseline", fmt.Sprintf("firmware-%d.bin", i), f, size, minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			b.Fatal(err)
		}
		putTime += time.Since(start)
		f.Close()

		syscall.Sync()
		manifest := fmt.Sprintf(`{"schema":"otpatch.manifest/v1","vendor":"acme","product":"ViewPanel-HMI","patch_id":"BENCH-%d","version":"V16.0.%d","title":"benchmark upload","release_date":"2026-11-20","affected_versions":["< V16.0.2"],"fixed_version":"V16.0.2","artifacts":[{"name":"firmware.bin","size":%d,"sha256":"%s"}]}`, i, 2+i, size, sum)
		start = time.Now()
		if code, body := submitFile(b, "http://"+apiAddr, tokens["vendor"], []byte(manifest), signing.Sign(key, []byte(manifest)), artifact); code != http.StatusCreated {
			b.Fatalf("submit: %d %s", code, body)
		}
		apiTime += time.Since(start)
	}
	b.StopTimer()
	mb := float64(size) * float64(b.N) / (1 << 20)
	apiRate, putRate := mb/apiTime.Seconds(), mb/putTime.Seconds()
	b.ReportMetric(apiRate, "api-MiB/s")
	b.ReportMetric(putRate, "putobject-MiB/s")
	b.ReportMetric(100*apiRate/putRate, "api-%-of-putobject")
	b.ReportMetric(peakRSSMiB(b, server.Process.Pid), "server-peak-RSS-MiB")
}

func writeRandomFile(b *testing.B, path string, size int64) string {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, size); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// startProcess runs the otpatch binary with args until the benchmark ends and waits for
// base/readyz.
func startProcess(b *testing.B, base string, env []string, args ...string) *exec.Cmd {
	return startProcessWith(b, binary, base, env, args...)
}

// leanBinary is the production build (-tags noembedded), as deploy/Dockerfile builds it.
var leanBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "otpatch-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "otpatch")
	cmd := exec.Command("go", "build", "-tags", "noembedded", "-o", out, ".")
	cmd.Stderr = os.Stderr
	return out, cmd.Run()
})

func startProcessWith(b *testing.B, build func() (string, error), base string, env []string, args ...string) *exec.Cmd {
	b.Helper()
	bin, err := build()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return cmd
			}
		}
	}
	b.Fatalf("otpatch %s did not become ready:\n%s", args[0], out.String())
	return nil
}

// submitFile streams a submission like `otpatch vendor submit`.
func submitFile(b *testing.B, base, token string, manifest []byte, sig, path string) (int, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormField("manifest")
		fw.Write(manifest)
		mw.WriteField("signature", sig)
		aw, _ := mw.CreateFormFile("artifact", filepath.Base(path))
		f, err := os.Open(path)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(aw, f); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/patches", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// peakRSSMiB reads the process's high-water resident set size (VmHWM) from /proc.
func peakRSSMiB(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("peak RSS not available: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}
