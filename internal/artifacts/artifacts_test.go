package artifacts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/s3embed"
	"github.com/otpatch/otpatch/internal/testenv"
)

const bucket = "otpatch-test"

// forEachObjectStore runs test against the embedded S3 endpoint and against a real MinIO
// server (skipped when the MinIO binary is missing, a failure with OTPATCH_REQUIRE_SERVICES=1).
func forEachObjectStore(t *testing.T, test func(t *testing.T, st *artifacts.Store)) {
	t.Helper()
	t.Run("s3embed", func(t *testing.T) {
		t.Parallel()
		const access, secret = "otpatch-test", "otpatch-test-secret-key-0123456789"
		srv, err := s3embed.New(s3embed.Config{Dir: t.TempDir(), AccessKey: access, SecretKey: secret})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(func() {
			cancel()
			srv.Close()
		})
		endpoint, err := srv.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		test(t, newStore(t, artifacts.Config{Endpoint: endpoint, AccessKey: access, SecretKey: secret, Bucket: bucket}))
	})
	t.Run("minio", func(t *testing.T) {
		t.Parallel()
		m := testenv.MinIO(t)
		test(t, newStore(t, artifacts.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Bucket: bucket}))
	})
}

func newStore(t *testing.T, cfg artifacts.Config) *artifacts.Store {
	t.Helper()
	st, err := artifacts.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(ctx); err != nil {
		t.Fatalf("EnsureBucket on an existing bucket: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// stream is n bytes of reproducible random data.
func stream(seed uint64, n int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

func sumOf(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// incomplete lists the multipart uploads left for key.
func incomplete(t *testing.T, st *artifacts.Store, key string) []string {
	t.Helper()
	var ids []string
	for u := range st.Client().ListIncompleteUploads(context.Background(), st.Bucket(), key, true) {
		if u.Err != nil {
			t.Fatalf("list incomplete uploads of %s: %v", key, u.Err)
		}
		ids = append(ids, u.Key+"/"+u.UploadID)
	}
	return ids
}

func assertNothingStored(t *testing.T, st *artifacts.Store, key string) {
	t.Helper()
	ok, err := st.Exists(context.Background(), key)
	if err != nil {
		t.Fatalf("Exists(%s): %v", key, err)
	}
	if ok {
		t.Errorf("object %s exists after a refused upload", key)
	}
	if ups := incomplete(t, st, key); len(ups) != 0 {
		t.Errorf("incomplete uploads left for %s: %v", key, ups)
	}
}

const mib = 1 << 20

func TestPutRoundTrip(t *testing.T) {
	forEachObjectStore(t, func(t *testing.T, st *artifacts.Store) {
		ctx := context.Background()
		tests := []struct {
			name   string
			size   int64
			expect bool // pass the size and SHA-256 as expected values
		}{
			{"20 MiB in three parts, size and SHA-256 given", 20 * mib, true},
			{"exactly one part", artifacts.DefaultPartSize, true},
			{"unknown size and SHA-256", 9*mib + 17, false},
			{"small", 1000, true},
			{"empty", 0, false},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := fmt.Sprintf("patches/pat_%d/fw.upd", i)
				want := sumOf(t, stream(uint64(i), tt.size))
				var exp artifacts.Expect
				if tt.expect {
					exp = artifacts.Expect{Size: tt.size, SHA256: want}
				}
				info, err := st.Put(ctx, key, stream(uint64(i), tt.size), exp, "application/octet-stream")
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if info.Key != key || info.Size != tt.size || info.SHA256 != want {
					t.Fatalf("Put = %+v, want %d bytes with SHA-256 %s", info, tt.size, want)
				}
				back, err := st.Hash(ctx, key)
				if err != nil {
					t.Fatalf("Hash: %v", err)
				}
				if back.Size != tt.size || back.SHA256 != want {
					t.Fatalf("read back %d bytes with SHA-256 %s, want %d bytes with %s", back.Size, back.SHA256, tt.size, want)
				}
				if ok, err := st.Exists(ctx, key); err != nil || !ok {
					t.Fatalf("Exists = %v, %v", ok, err)
				}
				if ups := incomplete(t, st, key); len(ups) != 0 {
					t.Fatalf("incomplete uploads left after a successful Put: %v", ups)
				}
				stat, err := st.Client().StatObject(ctx, st.Bucket(), key, minio.StatObjectOptions{})
				if err != nil || stat.ContentType != "application/octet-stream" {
					t.Fatalf("stored content type %q, %v", stat.ContentType, err)
				}
			})
		}

		t.Run("list, open, remove", func(t *testing.T) {
			keys, err := st.List(ctx, "patches/")
			if err != nil || len(keys) != len(tests) {
				t.Fatalf("List(patches/) = %v, %v; want %d keys", keys, err, len(tests))
			}
			rc, err := st.Open(ctx, keys[3])
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want, _ := io.ReadAll(stream(3, 1000))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Open(%s) read %d bytes, %v; want the 1000 bytes stored", keys[3], len(got), err)
			}
			if err := st.Remove(ctx, keys[3]); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.Exists(ctx, keys[3]); err != nil || ok {
				t.Fatalf("Exists after Remove = %v, %v", ok, err)
			}
			if _, err := st.Hash(ctx, keys[3]); err == nil {
				t.Fatal("Hash of a removed object succeeded")
			}
			if other, err := st.List(ctx, "backups/"); err != nil || len(other) != 0 {
				t.Fatalf("List(backups/) = %v, %v; want none", other, err)
			}
		})
	})
}

// An upload that is not what the manifest promised is refused with a *MismatchError and leaves
// neither an object nor an incomplete multipart upload behind.
func TestPutMismatchStoresNothing(t *testing.T) {
	const size = 20 * mib
	tests := []struct {
		name     string
		send     int64 // bytes actually streamed
		expect   func(sum string) artifacts.Expect
		what     string
		got      string
		errParts []string
	}{
		{
			name:   "SHA-256 differs",
			send:   size,
			expect: func(string) artifacts.Expect { return artifacts.Expect{Size: size, SHA256: strings.Repeat("41", 32)} },
			what:   "sha256",
			errParts: []string{"sha256 of ", "does not match the manifest", "manifest says " + strings.Repeat("41", 32),
				"nothing was stored"},
		},
		{
			name:     "one byte more than the manifest says",
			send:     size + 1,
			expect:   func(sum string) artifacts.Expect { return artifacts.Expect{Size: size, SHA256: sum} },
			what:     "size",
			got:      fmt.Sprintf("more than %d bytes", size),
			errParts: []string{fmt.Sprintf("got more than %d bytes, manifest says %d", size, size)},
		},
		{
			name:     "much more than the manifest says",
			send:     size + 12*mib,
			expect:   func(sum string) artifacts.Expect { return artifacts.Expect{Size: size} },
			what:     "size",
			got:      fmt.Sprintf("more than %d bytes", size),
			errParts: []string{"more than"},
		},
		{
			name:     "one byte fewer than the manifest says",
			send:     size - 1,
			expect:   func(sum string) artifacts.Expect { return artifacts.Expect{Size: size, SHA256: sum} },
			what:     "size",
			got:      fmt.Sprint(size - 1),
			errParts: []string{fmt.Sprintf("got %d, manifest says %d", size-1, size)},
		},
		{
			name:   "small file, fewer bytes",
			send:   1000,
			expect: func(string) artifacts.Expect { return artifacts.Expect{Size: 2000} },
			what:   "size",
			got:    "1000",
		},
	}
	forEachObjectStore(t, func(t *testing.T, st *artifacts.Store) {
		ctx := context.Background()
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := fmt.Sprintf("patches/pat_bad%d/fw.upd", i)
				sum := sumOf(t, stream(uint64(i), tt.send))
				info, err := st.Put(ctx, key, stream(uint64(i), tt.send), tt.expect(sum), "")
				var mm *artifacts.MismatchError
				if !errors.As(err, &mm) {
					t.Fatalf("Put = %+v, %v; want a *MismatchError", info, err)
				}
				if mm.Key != key || mm.What != tt.what {
					t.Errorf("MismatchError = %+v, want key %s and what %q", mm, key, tt.what)
				}
				if tt.got != "" && mm.Got != tt.got {
					t.Errorf("MismatchError.Got = %q, want %q", mm.Got, tt.got)
				}
				if tt.what == "sha256" && mm.Got != sum {
					t.Errorf("MismatchError.Got = %q, want the SHA-256 of what was sent (%s)", mm.Got, sum)
				}
				for _, p := range tt.errParts {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error %q does not say %q", err, p)
					}
				}
				assertNothingStored(t, st, key)
			})
		}
	})
}

// failingReader returns n bytes of data and then err.
type failingReader struct {
	r   io.Reader
	n   int64
	err error
	hit func()
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		if f.hit != nil {
			f.hit()
		}
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

func TestPutInterruptedStoresNothing(t *testing.T) {
	reset := errors.New("read tcp 10.0.3.7:443: connection reset by peer")
	forEachObjectStore(t, func(t *testing.T, st *artifacts.Store) {
		tests := []struct {
			name   string
			failAt int64
			cancel bool // cancel the request's context when the reader fails
		}{
			{"reader fails in the second part", 10 * mib, false},
			{"reader fails at once", 0, false},
			{"reader fails on a part boundary", artifacts.DefaultPartSize, false},
			{"request cancelled mid-way", 10 * mib, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				key := fmt.Sprintf("backups/cmp_1/ast_%d.bak", i)
				r := &failingReader{r: stream(9, 20*mib), n: tt.failAt, err: reset}
				if tt.cancel {
					r.err = context.Canceled
					r.hit = cancel
				}
				info, err := st.Put(ctx, key, r, artifacts.Expect{Size: 20 * mib}, "")
				if err == nil {
					t.Fatalf("Put of a failing stream = %+v, want an error", info)
				}
				var mm *artifacts.MismatchError
				if errors.As(err, &mm) {
					t.Errorf("Put = %v: a broken stream is not a manifest mismatch", err)
				}
				if !errors.Is(err, r.err) || !strings.Contains(err.Error(), "nothing was stored") {
					t.Errorf("Put = %v, want it to wrap %v and say nothing was stored", err, r.err)
				}
				assertNothingStored(t, st, key)
			})
		}
	})
}

// A crash between starting an upload and completing or aborting it leaves an incomplete
// upload; SweepIncomplete aborts those under a prefix and leaves stored objects alone.
func TestSweepIncomplete(t *testing.T) {
	forEachObjectStore(t, func(t *testing.T, st *artifacts.Store) {
		ctx := context.Background()
		core := minio.Core{Client: st.Client()}
		leave := func(key string) {
			t.Helper()
			id, err := core.NewMultipartUpload(ctx, st.Bucket(), key, minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			part := bytes.Repeat([]byte{7}, 5*mib)
			if _, err := core.PutObjectPart(ctx, st.Bucket(), key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		kept := "backups/cmp_1/ast_ok.bak"
		if _, err := st.Put(ctx, kept, strings.NewReader("config"), artifacts.Expect{}, ""); err != nil {
			t.Fatal(err)
		}
		leftovers := []string{"backups/cmp_1/ast_1.bak", "backups/cmp_1/ast_2.bak", "patches/pat_1/fw.upd"}
		for _, k := range leftovers {
			leave(k)
		}
		for _, k := range leftovers {
			if ups := incomplete(t, st, k); len(ups) != 1 {
				t.Fatalf("incomplete uploads of %s = %v, want the one just left", k, ups)
			}
		}

		n, err := st.SweepIncomplete(ctx, "backups/")
		if err != nil || n != 2 {
			t.Fatalf("SweepIncomplete(backups/) = %d, %v; want the 2 uploads under backups/ aborted", n, err)
		}
		for _, k := range leftovers[:2] {
			if ups := incomplete(t, st, k); len(ups) != 0 {
				t.Errorf("incomplete upload of %s survived the sweep: %v", k, ups)
			}
		}
		if ups := incomplete(t, st, leftovers[2]); len(ups) != 1 {
			t.Errorf("the sweep of backups/ touched %s: %v", leftovers[2], ups)
		}
		n, err = st.SweepIncomplete(ctx, "")
		if err != nil || n != 1 {
			t.Fatalf("SweepIncomplete(\"\") = %d, %v; want the last upload aborted", n, err)
		}
		if n, err := st.SweepIncomplete(ctx, ""); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v; want nothing left", n, err)
		}
		keys, err := st.List(ctx, "")
		if err != nil || !slices.Equal(keys, []string{kept}) {
			t.Fatalf("objects after the sweeps = %v, %v; want only %s", keys, err, kept)
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  artifacts.Config
		msg  string
	}{
		{"no endpoint", artifacts.Config{Bucket: "b"}, "endpoint and bucket are required"},
		{"no bucket", artifacts.Config{Endpoint: "127.0.0.1:9000"}, "endpoint and bucket are required"},
		{"part below the S3 minimum", artifacts.Config{Endpoint: "127.0.0.1:9000", Bucket: "b", PartSize: 1 * mib}, "below the S3 minimum of 5 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := artifacts.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("New(%+v) = %v, want %q", tt.cfg, err, tt.msg)
			}
		})
	}
	t.Run("unreachable store", func(t *testing.T) {
		st, err := artifacts.New(artifacts.Config{Endpoint: testenv.FreeAddr(t), AccessKey: "a", SecretKey: "b", Bucket: "b"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err == nil {
			t.Fatal("Ping of a closed port succeeded")
		}
	})
}

// A small stream (one PUT, not a multipart upload) gets the same checks: a size or SHA-256 that
// differs from what is expected stores nothing.
func TestPutSmallMismatchStoresNothing(t *testing.T) {
	forEachObjectStore(t, func(t *testing.T, st *artifacts.Store) {
		ctx := context.Background()
		sum := sumOf(t, stream(7, 1000))
		for _, tt := range []struct {
			name   string
			expect artifacts.Expect
			what   string
		}{
			{"SHA-256 differs", artifacts.Expect{Size: 1000, SHA256: strings.Repeat("41", 32)}, "sha256"},
			{"one byte more than expected", artifacts.Expect{Size: 999, SHA256: sum}, "size"},
			{"one byte fewer than expected", artifacts.Expect{Size: 1001, SHA256: sum}, "size"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				key := "backups/small/" + strings.ReplaceAll(tt.name, " ", "-")
				_, err := st.Put(ctx, key, stream(7, 1000), tt.expect, "application/octet-stream")
				var mm *artifacts.MismatchError
				if !errors.As(err, &mm) || mm.What != tt.what {
					t.Fatalf("Put = %v, want a %s mismatch", err, tt.what)
				}
				if ok, err := st.Exists(ctx, key); err != nil || ok {
					t.Fatalf("Exists after a refused Put = %v, %v", ok, err)
				}
			})
		}
	})
}
