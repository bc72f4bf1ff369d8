package s3embed

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	testAccessKey = "otpatch-test"
	testSecretKey = "otpatch-test-secret-key-0123456789"
	testBucket    = "artifacts"
)

// payloadModes records the x-amz-content-sha256 modes the server received.
type payloadModes struct {
	mu    sync.Mutex
	modes map[string]int
}

func (p *payloadModes) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "sha256-hex"
		}
		p.mu.Lock()
		if p.modes == nil {
			p.modes = map[string]int{}
		}
		p.modes[r.Method+" "+mode]++
		p.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (p *payloadModes) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modes[key]
}

type harness struct {
	srv      *Server
	dir      string
	endpoint string
	client   *minio.Client
	core     *minio.Core
	modes    *payloadModes
}

type harnessOpts struct {
	dir             string
	trailingHeaders bool
	noRegion        bool
	logger          *syncBuffer
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs a Server through Listen on loopback and connects minio-go to it
// over plain HTTP. The payload modes it sees are recorded by a second
// listener wrapping the same handler when record is set.
func start(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	cfg := Config{Dir: o.dir, AccessKey: testAccessKey, SecretKey: testSecretKey}
	if o.logger != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(o.logger, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	t.Cleanup(func() { srv.Close() })

	h := &harness{srv: srv, dir: o.dir, modes: &payloadModes{}}
	endpoint, err := srv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	h.endpoint = endpoint
	// A recording listener in front of the same Server, so tests can check
	// which payload encodings minio-go really sent.
	rec := httptest.NewServer(h.modes.wrap(srv))
	t.Cleanup(rec.Close)
	u, _ := url.Parse(rec.URL)
	opts := &minio.Options{
		Creds:           credentials.NewStaticV4(testAccessKey, testSecretKey, ""),
		Secure:          false,
		TrailingHeaders: o.trailingHeaders,
	}
	if !o.noRegion {
		opts.Region = defaultRegion
	}
	h.client, err = minio.New(u.Host, opts)
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	h.core = &minio.Core{Client: h.client}
	return h
}

func (h *harness) makeBucket(t *testing.T, name string) {
	t.Helper()
	if err := h.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket %s: %v", name, err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func readObject(t *testing.T, c *minio.Client, bucket, key string, opts minio.GetObjectOptions) []byte {
	t.Helper()
	obj, err := c.GetObject(context.Background(), bucket, key, opts)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func errCode(err error) string { return minio.ToErrorResponse(err).Code }

// onlyReader hides io.ReaderAt/io.Seeker so minio-go takes its streaming
// (sequential) multipart path.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// failingReader returns an error after n bytes.
type failingReader struct {
	r io.Reader
	n int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source failed mid-way")
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestMultipartRoundTrip(t *testing.T) {
	const size = 20<<20 + 12345
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		trailing  bool
		reader    func() io.Reader
		wantParts int
	}{
		{"readerat-parallel", false, func() io.Reader { return bytes.NewReader(data) }, 5},
		{"sequential-stream", false, func() io.Reader { return onlyReader{bytes.NewReader(data)} }, 5},
		{"trailing-checksums", true, func() io.Reader { return bytes.NewReader(data) }, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpts{trailingHeaders: tc.trailing})
			h.makeBucket(t, testBucket)
			ctx := context.Background()
			key := "releases/" + tc.name + "/firmware.bin"
			info, err := h.client.PutObject(ctx, testBucket, key, tc.reader(), size, minio.PutObjectOptions{
				PartSize: 5 << 20, ContentType: "application/x-firmware",
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if info.Size != size {
				t.Errorf("uploaded size = %d, want %d", info.Size, size)
			}
			if !strings.HasSuffix(info.ETag, "-5") {
				t.Errorf("multipart ETag = %q, want a 5-part ETag", info.ETag)
			}
			got := readObject(t, h.client, testBucket, key, minio.GetObjectOptions{})
			if len(got) != size {
				t.Fatalf("read back %d bytes, want %d", len(got), size)
			}
			if sha256Hex(got) != sha256Hex(data) {
				t.Fatalf("SHA-256 of read-back object differs from the uploaded data")
			}
			st, err := h.client.StatObject(ctx, testBucket, key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("StatObject: %v", err)
			}
			if st.Size != size || st.ContentType != "application/x-firmware" || st.ETag != info.ETag {
				t.Errorf("stat = size %d type %q etag %q; want %d application/x-firmware %q", st.Size, st.ContentType, st.ETag, size, info.ETag)
			}
			// minio-go over plain HTTP must have used aws-chunked signed parts.
			mode := "PUT " + streamingPayload
			if tc.trailing {
				mode = "PUT " + streamingPayloadTrailer
			}
			if n := h.modes.count(mode); n != tc.wantParts {
				t.Errorf("server saw %d %q requests, want %d", n, mode, tc.wantParts)
			}
			if left := dirEntries(t, filepath.Join(h.dir, "multipart")); len(left) != 0 {
				t.Errorf("multipart staging not cleaned: %v", left)
			}
			if left := dirEntries(t, filepath.Join(h.dir, "tmp")); len(left) != 0 {
				t.Errorf("tmp not cleaned: %v", left)
			}
		})
	}
}

func TestSinglePutAndRead(t *testing.T) {
	h := start(t, harnessOpts{})
	h.makeBucket(t, testBucket)
	ctx := context.Background()
	small := randomBytes(t, 300<<10+7)

	cases := []struct {
		name     string
		key      string
		size     int64 // -1: unknown size
		opts     minio.PutObjectOptions
		wantMode string
	}{
		{"known-size-streaming-signed", "evidence/a/known.bin", int64(len(small)), minio.PutObjectOptions{}, "PUT " + streamingPayload},
		{"unknown-size", "evidence/a/unknown.bin", -1, minio.PutObjectOptions{PartSize: 5 << 20}, "PUT " + streamingPayload},
		{"unsigned-payload", "evidence/b/unsigned.bin", int64(len(small)), minio.PutObjectOptions{DisableContentSha256: true}, "PUT " + unsignedPayload},
		{"content-md5", "evidence/b/md5.bin", int64(len(small)), minio.PutObjectOptions{SendContentMd5: true}, "PUT " + streamingPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.modes.count(tc.wantMode)
			tc.opts.ContentType = "application/vnd.otpatch.evidence"
			tc.opts.UserMetadata = map[string]string{"Site": "plant-7", "Asset-Id": "plc-42"}
			if _, err := h.client.PutObject(ctx, testBucket, tc.key, bytes.NewReader(small), tc.size, tc.opts); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if h.modes.count(tc.wantMode) == before {
				t.Errorf("server saw no %q request", tc.wantMode)
			}
			if got := readObject(t, h.client, testBucket, tc.key, minio.GetObjectOptions{}); !bytes.Equal(got, small) {
				t.Fatalf("read back %d bytes differing from the %d uploaded", len(got), len(small))
			}

			var ropts minio.GetObjectOptions
			if err := ropts.SetRange(1000, 70000); err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, h.client, testBucket, tc.key, ropts); !bytes.Equal(got, small[1000:70001]) {
				t.Errorf("range 1000-70000 returned %d bytes not matching the data", len(got))
			}
			if err := ropts.SetRange(0, -200); err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, h.client, testBucket, tc.key, ropts); !bytes.Equal(got, small[len(small)-200:]) {
				t.Errorf("suffix range of 200 returned %d bytes not matching the data", len(got))
			}

			st, err := h.client.StatObject(ctx, testBucket, tc.key, minio.StatObjectOptions{})
			if err != nil {
				t.Fatalf("StatObject: %v", err)
			}
			if st.Size != int64(len(small)) {
				t.Errorf("stat size = %d, want %d", st.Size, len(small))
			}
			if st.ContentType != "application/vnd.otpatch.evidence" {
				t.Errorf("stat content type = %q", st.ContentType)
			}
			if st.UserMetadata["Site"] != "plant-7" || st.UserMetadata["Asset-Id"] != "plc-42" {
				t.Errorf("stat user metadata = %v", st.UserMetadata)
			}
			if st.LastModified.IsZero() || time.Since(st.LastModified) > time.Minute {
				t.Errorf("stat last modified = %v", st.LastModified)
			}
			if tc.size >= 0 {
				sum := md5.Sum(small)
				if st.ETag != hex.EncodeToString(sum[:]) {
					t.Errorf("single-part ETag = %q, want the MD5 of the data", st.ETag)
				}
			}
		})
	}

	t.Run("sha256-payload", func(t *testing.T) {
		body := []byte("signed with a plain SHA-256 payload hash")
		_, err := h.core.PutObject(ctx, testBucket, "plain/sha.txt", bytes.NewReader(body), int64(len(body)), "", sha256Hex(body),
			minio.PutObjectOptions{DisableContentSha256: true})
		if err != nil {
			t.Fatalf("PutObject with SHA-256 payload: %v", err)
		}
		if h.modes.count("PUT sha256-hex") == 0 {
			t.Errorf("server saw no request with a hex payload hash")
		}
		if got := readObject(t, h.client, testBucket, "plain/sha.txt", minio.GetObjectOptions{}); !bytes.Equal(got, body) {
			t.Errorf("read back %q", got)
		}
		_, err = h.core.PutObject(ctx, testBucket, "plain/bad.txt", bytes.NewReader(body), int64(len(body)), "", sha256Hex([]byte("other")),
			minio.PutObjectOptions{DisableContentSha256: true})
		if code := errCode(err); code != "XAmzContentSHA256Mismatch" {
			t.Errorf("wrong payload hash: error %v (code %q), want XAmzContentSHA256Mismatch", err, code)
		}
	})

	t.Run("list-with-prefix", func(t *testing.T) {
		var keys []string
		for o := range h.client.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: "evidence/a/", Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("ListObjects: %v", o.Err)
			}
			keys = append(keys, o.Key)
		}
		want := []string{"evidence/a/known.bin", "evidence/a/unknown.bin"}
		if !slices.Equal(keys, want) {
			t.Errorf("ListObjects prefix evidence/a/ = %v, want %v", keys, want)
		}
		var top []string
		for o := range h.client.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: "evidence/"}) {
			if o.Err != nil {
				t.Fatalf("ListObjects: %v", o.Err)
			}
			top = append(top, o.Key)
		}
		if want := []string{"evidence/a/", "evidence/b/"}; !slices.Equal(top, want) {
			t.Errorf("delimited listing = %v, want %v", top, want)
		}
	})

	t.Run("remove-then-stat", func(t *testing.T) {
		if err := h.client.RemoveObject(ctx, testBucket, "evidence/a/known.bin", minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("RemoveObject: %v", err)
		}
		_, err := h.client.StatObject(ctx, testBucket, "evidence/a/known.bin", minio.StatObjectOptions{})
		if code := errCode(err); code != "NoSuchKey" {
			t.Errorf("stat after remove: %v (code %q), want NoSuchKey", err, code)
		}
		_, err = h.client.GetObject(ctx, testBucket, "evidence/a/known.bin", minio.GetObjectOptions{})
		if err == nil {
			obj, _ := h.client.GetObject(ctx, testBucket, "evidence/a/known.bin", minio.GetObjectOptions{})
			_, err = io.ReadAll(obj)
		}
		if code := errCode(err); code != "NoSuchKey" {
			t.Errorf("get after remove: %v (code %q), want NoSuchKey", err, code)
		}
	})

	t.Run("remove-objects-and-bucket", func(t *testing.T) {
		const b = "scratch"
		h.makeBucket(t, b)
		for _, k := range []string{"x/1", "x/2", "y"} {
			if _, err := h.client.PutObject(ctx, b, k, bytes.NewReader([]byte(k)), int64(len(k)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		err := h.client.RemoveBucket(ctx, b)
		if code := errCode(err); code != "BucketNotEmpty" {
			t.Errorf("RemoveBucket of a bucket with objects: %v (code %q), want BucketNotEmpty", err, code)
		}
		objs := make(chan minio.ObjectInfo, 3)
		for _, k := range []string{"x/1", "x/2", "y"} {
			objs <- minio.ObjectInfo{Key: k}
		}
		close(objs)
		for e := range h.client.RemoveObjects(ctx, b, objs, minio.RemoveObjectsOptions{}) {
			t.Errorf("RemoveObjects %s: %v", e.ObjectName, e.Err)
		}
		if err := h.client.RemoveBucket(ctx, b); err != nil {
			t.Errorf("RemoveBucket of an emptied bucket: %v", err)
		}
		if ok, _ := h.client.BucketExists(ctx, b); ok {
			t.Errorf("bucket %s still exists after RemoveBucket", b)
		}
	})

	t.Run("buckets", func(t *testing.T) {
		ok, err := h.client.BucketExists(ctx, testBucket)
		if err != nil || !ok {
			t.Errorf("BucketExists(%s) = %v, %v", testBucket, ok, err)
		}
		ok, err = h.client.BucketExists(ctx, "missing-bucket")
		if err != nil || ok {
			t.Errorf("BucketExists(missing-bucket) = %v, %v", ok, err)
		}
		_, err = h.client.PutObject(ctx, "missing-bucket", "x", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		if code := errCode(err); code != "NoSuchBucket" {
			t.Errorf("put into missing bucket: %v (code %q), want NoSuchBucket", err, code)
		}
		// A client without a configured region asks GET ?location first.
		c, err := minio.New(h.client.EndpointURL().Host, &minio.Options{Creds: credentials.NewStaticV4(testAccessKey, testSecretKey, "")})
		if err != nil {
			t.Fatal(err)
		}
		buckets, err := h.client.ListBuckets(ctx)
		if err != nil || len(buckets) != 1 || buckets[0].Name != testBucket {
			t.Errorf("ListBuckets = %v, %v", buckets, err)
		}
		loc, err := c.GetBucketLocation(ctx, testBucket)
		if err != nil || loc != defaultRegion {
			t.Errorf("GetBucketLocation = %q, %v", loc, err)
		}
		if got := readObject(t, c, testBucket, "plain/sha.txt", minio.GetObjectOptions{}); len(got) == 0 {
			t.Errorf("region-less client read nothing")
		}
	})
}

func TestListObjectsPaging(t *testing.T) {
	h := start(t, harnessOpts{})
	h.makeBucket(t, testBucket)
	ctx := context.Background()
	var want []string
	for i := range 23 {
		key := "backups/" + string(rune('a'+i%5)) + "/" + hex.EncodeToString([]byte{byte(i)}) + " file+name.tar"
		want = append(want, key)
		if _, err := h.client.PutObject(ctx, testBucket, key, bytes.NewReader([]byte(key)), int64(len(key)), minio.PutObjectOptions{}); err != nil {
			t.Fatalf("PutObject %q: %v", key, err)
		}
	}
	slices.Sort(want)
	cases := []struct {
		name      string
		opts      minio.ListObjectsOptions
		want      []string
		wantCalls int
	}{
		{"recursive-pages-of-5", minio.ListObjectsOptions{Prefix: "backups/", Recursive: true, MaxKeys: 5}, want, 5},
		{"delimited-pages-of-2", minio.ListObjectsOptions{Prefix: "backups/", MaxKeys: 2}, []string{"backups/a/", "backups/b/", "backups/c/", "backups/d/", "backups/e/"}, 3},
		{"v1-listing", minio.ListObjectsOptions{Prefix: "backups/c/", Recursive: true, UseV1: true, MaxKeys: 2}, filter(want, "backups/c/"), 0},
		{"start-after", minio.ListObjectsOptions{Prefix: "backups/", Recursive: true, StartAfter: want[20]}, want[21:], 0},
		{"no-match", minio.ListObjectsOptions{Prefix: "nothing/", Recursive: true}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.modes.count("GET sha256-hex")
			var got []string
			for o := range h.client.ListObjects(ctx, testBucket, tc.opts) {
				if o.Err != nil {
					t.Fatalf("ListObjects: %v", o.Err)
				}
				got = append(got, o.Key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("listing = %q\nwant %q", got, tc.want)
			}
			if tc.wantCalls > 0 {
				if calls := h.modes.count("GET sha256-hex") - before; calls != tc.wantCalls {
					t.Errorf("listing took %d requests, want %d", calls, tc.wantCalls)
				}
			}
		})
	}
}

func filter(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

func TestAbortedMultipart(t *testing.T) {
	cases := []struct {
		name   string
		upload func(t *testing.T, h *harness, key string)
	}{
		{
			name: "reader-fails-mid-way",
			upload: func(t *testing.T, h *harness, key string) {
				src := &failingReader{r: bytes.NewReader(randomBytes(t, 20<<20)), n: 12 << 20}
				_, err := h.client.PutObject(context.Background(), testBucket, key, onlyReader{src}, 20<<20, minio.PutObjectOptions{PartSize: 5 << 20})
				if err == nil {
					t.Fatal("PutObject with a failing reader succeeded")
				}
			},
		},
		{
			name: "left-pending",
			upload: func(t *testing.T, h *harness, key string) {
				ctx := context.Background()
				id, err := h.core.NewMultipartUpload(ctx, testBucket, key, minio.PutObjectOptions{})
				if err != nil {
					t.Fatalf("NewMultipartUpload: %v", err)
				}
				part := randomBytes(t, 5<<20)
				if _, err := h.core.PutObjectPart(ctx, testBucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
					t.Fatalf("PutObjectPart: %v", err)
				}
				parts, err := h.core.ListObjectParts(ctx, testBucket, key, id, 0, 0)
				if err != nil || len(parts.ObjectParts) != 1 || parts.ObjectParts[0].Size != 5<<20 {
					t.Fatalf("ListObjectParts = %+v, %v", parts.ObjectParts, err)
				}
				var ids []string
				for u := range h.client.ListIncompleteUploads(ctx, testBucket, key, true) {
					if u.Err != nil {
						t.Fatalf("ListIncompleteUploads: %v", u.Err)
					}
					ids = append(ids, u.UploadID)
				}
				if !slices.Equal(ids, []string{id}) {
					t.Fatalf("incomplete uploads = %v, want [%s]", ids, id)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, harnessOpts{})
			h.makeBucket(t, testBucket)
			ctx := context.Background()
			key := "backups/" + tc.name + ".tar"
			tc.upload(t, h, key)
			if err := h.client.RemoveIncompleteUpload(ctx, testBucket, key); err != nil {
				t.Fatalf("RemoveIncompleteUpload: %v", err)
			}
			for u := range h.client.ListIncompleteUploads(ctx, testBucket, "", true) {
				if u.Err != nil {
					t.Fatalf("ListIncompleteUploads: %v", u.Err)
				}
				t.Errorf("incomplete upload still listed: %s %s", u.Key, u.UploadID)
			}
			_, err := h.client.StatObject(ctx, testBucket, key, minio.StatObjectOptions{})
			if code := errCode(err); code != "NoSuchKey" {
				t.Errorf("stat of aborted object: %v (code %q), want NoSuchKey", err, code)
			}
			if left := dirEntries(t, filepath.Join(h.dir, "multipart")); len(left) != 0 {
				t.Errorf("multipart staging not cleaned: %v", left)
			}
			if left := dirEntries(t, filepath.Join(h.dir, "tmp")); len(left) != 0 {
				t.Errorf("tmp not cleaned: %v", left)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	good := start(t, harnessOpts{})
	good.makeBucket(t, testBucket)
	ctx := context.Background()
	body := []byte("payload")

	badKey, err := minio.New(good.client.EndpointURL().Host, &minio.Options{
		Creds: credentials.NewStaticV4("someone-else", testSecretKey, ""), Region: defaultRegion,
	})
	if err != nil {
		t.Fatal(err)
	}
	anon, err := minio.New(good.client.EndpointURL().Host, &minio.Options{Region: defaultRegion})
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := minio.New(good.client.EndpointURL().Host, &minio.Options{
		Creds: credentials.NewStaticV4(testAccessKey, "not-the-secret", ""), Region: defaultRegion,
	})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		call  func() error
		codes []string
	}{
		{"wrong-secret-put", func() error {
			_, err := wrong.PutObject(ctx, testBucket, "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"AccessDenied", "SignatureDoesNotMatch"}},
		{"wrong-secret-get", func() error {
			obj, err := wrong.GetObject(ctx, testBucket, "k", minio.GetObjectOptions{})
			if err == nil {
				_, err = io.ReadAll(obj)
			}
			return err
		}, []string{"AccessDenied", "SignatureDoesNotMatch"}},
		{"wrong-secret-stat", func() error {
			_, err := wrong.StatObject(ctx, testBucket, "k", minio.StatObjectOptions{})
			return err
		}, []string{"AccessDenied", "SignatureDoesNotMatch"}},
		{"wrong-secret-make-bucket", func() error {
			return wrong.MakeBucket(ctx, "other-bucket", minio.MakeBucketOptions{})
		}, []string{"AccessDenied", "SignatureDoesNotMatch"}},
		{"unknown-access-key", func() error {
			return badKey.MakeBucket(ctx, "other-bucket", minio.MakeBucketOptions{})
		}, []string{"InvalidAccessKeyId"}},
		{"anonymous-client", func() error {
			_, err := anon.PutObject(ctx, testBucket, "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"AccessDenied"}},
		{"unsigned-request", func() error {
			resp, err := http.Get("http://" + good.endpoint + "/" + testBucket + "/k")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var e errorResponse
			if err := xml.NewDecoder(resp.Body).Decode(&e); err != nil {
				return err
			}
			return minio.ErrorResponse{Code: e.Code, Message: e.Message, StatusCode: resp.StatusCode}
		}, []string{"AccessDenied"}},
		{"dot-dot-key", func() error {
			_, err := good.client.PutObject(ctx, testBucket, "../outside.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"dot-dot-inside-key", func() error {
			_, err := good.client.PutObject(ctx, testBucket, "a/../../outside.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"backslash-dot-dot-key", func() error {
			_, err := good.client.PutObject(ctx, testBucket, `a\..\..\outside.txt`, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"absolute-key", func() error {
			_, err := good.client.PutObject(ctx, testBucket, "/etc/passwd", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"dot-dot-multipart", func() error {
			_, err := good.core.NewMultipartUpload(ctx, testBucket, "x/../../y", minio.PutObjectOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"bad-bucket-name", func() error {
			return good.client.MakeBucket(ctx, "Bad_Bucket", minio.MakeBucketOptions{})
		}, nil}, // refused by minio-go itself
		{"bucket-exists-twice", func() error {
			return good.client.MakeBucket(ctx, testBucket, minio.MakeBucketOptions{})
		}, []string{"BucketAlreadyOwnedByYou"}},
		{"no-such-upload", func() error {
			_, err := good.core.PutObjectPart(ctx, testBucket, "k", strings.Repeat("0", 32), 1, bytes.NewReader(body), int64(len(body)), minio.PutObjectPartOptions{})
			return err
		}, []string{"NoSuchUpload"}},
		{"part-number-too-high", func() error {
			id, err := good.core.NewMultipartUpload(ctx, testBucket, "k", minio.PutObjectOptions{})
			if err != nil {
				return err
			}
			defer good.core.AbortMultipartUpload(ctx, testBucket, "k", id)
			_, err = good.core.PutObjectPart(ctx, testBucket, "k", id, MaxParts+1, bytes.NewReader(body), int64(len(body)), minio.PutObjectPartOptions{})
			return err
		}, []string{"InvalidArgument"}},
		{"complete-with-missing-part", func() error {
			id, err := good.core.NewMultipartUpload(ctx, testBucket, "k", minio.PutObjectOptions{})
			if err != nil {
				return err
			}
			defer good.core.AbortMultipartUpload(ctx, testBucket, "k", id)
			_, err = good.core.CompleteMultipartUpload(ctx, testBucket, "k", id, []minio.CompletePart{{PartNumber: 1, ETag: "abc"}}, minio.PutObjectOptions{})
			return err
		}, []string{"InvalidPart"}},
		{"complete-with-small-part", func() error {
			id, err := good.core.NewMultipartUpload(ctx, testBucket, "k", minio.PutObjectOptions{})
			if err != nil {
				return err
			}
			defer good.core.AbortMultipartUpload(ctx, testBucket, "k", id)
			var parts []minio.CompletePart
			for n := 1; n <= 2; n++ {
				p, err := good.core.PutObjectPart(ctx, testBucket, "k", id, n, bytes.NewReader(body), int64(len(body)), minio.PutObjectPartOptions{})
				if err != nil {
					return err
				}
				parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
			}
			_, err = good.core.CompleteMultipartUpload(ctx, testBucket, "k", id, parts, minio.PutObjectOptions{})
			return err
		}, []string{"EntityTooSmall"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatalf("call succeeded, want one of %v", tc.codes)
			}
			if tc.codes != nil && !slices.Contains(tc.codes, errCode(err)) {
				t.Errorf("error %v (code %q), want one of %v", err, errCode(err), tc.codes)
			}
		})
	}

	// Nothing escaped the data folder and nothing was stored.
	parent := filepath.Dir(good.dir)
	for _, name := range []string{"outside.txt", "etc"} {
		if _, err := os.Stat(filepath.Join(parent, name)); err == nil {
			t.Errorf("%s was created next to the data folder", name)
		}
	}
	var n int
	for o := range good.client.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 0 {
		t.Errorf("%d objects stored by refused requests", n)
	}
}

func TestPresignedURLs(t *testing.T) {
	h := start(t, harnessOpts{})
	h.makeBucket(t, testBucket)
	ctx := context.Background()
	key := "evidence/run 42/report.json"
	body := []byte(`{"patched": true}`)

	putURL, err := h.client.PresignedPutObject(ctx, testBucket, key, 10*time.Minute)
	if err != nil {
		t.Fatalf("PresignedPutObject: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPut, putURL.String(), bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("presigned PUT: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT status %d", resp.StatusCode)
	}

	getURL, err := h.client.PresignedGetObject(ctx, testBucket, key, 10*time.Minute, url.Values{"response-content-type": {"application/json"}})
	if err != nil {
		t.Fatalf("PresignedGetObject: %v", err)
	}
	resp, err = http.Get(getURL.String())
	if err != nil {
		t.Fatalf("presigned GET: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("presigned GET = %d %q (%s), want 200 %q", resp.StatusCode, got, resp.Header.Get("Content-Type"), body)
	}

	// A second Server over the same folder whose clock is 11 minutes ahead
	// sees both URLs expired.
	later, err := New(Config{Dir: h.dir, AccessKey: testAccessKey, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	later.now = func() time.Time { return time.Now().Add(11 * time.Minute) }

	tampered := *getURL
	tq := tampered.Query()
	tq.Set("X-Amz-Expires", "3600")
	tampered.RawQuery = tq.Encode()

	cases := []struct {
		name     string
		srv      *Server
		method   string
		u        *url.URL
		wantCode string
	}{
		{"expired-get", later, http.MethodGet, getURL, "AccessDenied"},
		{"expired-put", later, http.MethodPut, putURL, "AccessDenied"},
		{"tampered-expiry", h.srv, http.MethodGet, &tampered, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.u.String(), bytes.NewReader(body))
			rec := httptest.NewRecorder()
			tc.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403; body %s", rec.Code, rec.Body)
			}
			var e errorResponse
			if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body does not parse: %v: %s", err, rec.Body)
			}
			if e.Code != tc.wantCode {
				t.Errorf("error code %q (%s), want %s", e.Code, e.Message, tc.wantCode)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	ctx := context.Background()
	small := randomBytes(t, 1234)
	large := randomBytes(t, 11<<20)

	h1 := start(t, harnessOpts{dir: dir})
	h1.makeBucket(t, testBucket)
	if _, err := h1.client.PutObject(ctx, testBucket, "cfg/small.json", bytes.NewReader(small), int64(len(small)),
		minio.PutObjectOptions{UserMetadata: map[string]string{"Plant": "north"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h1.client.PutObject(ctx, testBucket, "fw/large.bin", bytes.NewReader(large), int64(len(large)),
		minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	pending, err := h1.core.NewMultipartUpload(ctx, testBucket, "fw/pending.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := h1.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Leftovers of a crash: an interrupted completion (restored), an
	// interrupted abort (removed), a half-written temp file and a damaged
	// object file.
	if err := os.Rename(filepath.Join(dir, "multipart", pending), filepath.Join(dir, "multipart", pending+".complete")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "multipart", strings.Repeat("ab", 16)+".abort"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "upload-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := objectPath(dir, testBucket, "cfg/damaged")
	os.MkdirAll(filepath.Dir(damaged), 0o750)
	if err := os.WriteFile(damaged, []byte("not an object file"), 0o600); err != nil {
		t.Fatal(err)
	}

	h2 := start(t, harnessOpts{dir: dir, logger: logs})
	cases := []struct {
		key  string
		want []byte
	}{
		{"cfg/small.json", small},
		{"fw/large.bin", large},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			got := readObject(t, h2.client, testBucket, tc.key, minio.GetObjectOptions{})
			if !bytes.Equal(got, tc.want) {
				t.Errorf("after restart %s reads %d bytes differing from the %d stored", tc.key, len(got), len(tc.want))
			}
		})
	}
	st, err := h2.client.StatObject(ctx, testBucket, "cfg/small.json", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["Plant"] != "north" {
		t.Errorf("stat after restart = %v, %v", st.UserMetadata, err)
	}
	var keys []string
	for o := range h2.client.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if want := []string{"cfg/small.json", "fw/large.bin"}; !slices.Equal(keys, want) {
		t.Errorf("listing after restart = %v, want %v", keys, want)
	}
	var ids []string
	for u := range h2.client.ListIncompleteUploads(ctx, testBucket, "", true) {
		ids = append(ids, u.UploadID)
	}
	if !slices.Equal(ids, []string{pending}) {
		t.Errorf("pending uploads after restart = %v, want [%s]", ids, pending)
	}
	if left := dirEntries(t, filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp leftovers not removed on start: %v", left)
	}
	if left := dirEntries(t, filepath.Join(dir, "multipart")); !slices.Equal(left, []string{pending}) {
		t.Errorf("multipart folder after start = %v, want only [%s]", left, pending)
	}
	if !strings.Contains(logs.String(), "skipping unreadable object file") {
		t.Errorf("damaged object file not reported; logs:\n%s", logs)
	}
}

func TestCheckKey(t *testing.T) {
	cases := []struct {
		key  string
		code string // empty: accepted
	}{
		{"evidence/2025/run-1/report.json", ""},
		{"dir/", ""},
		{"a..b/c...d", ""},
		{"spaces and ünïcode/ok.txt", ""},
		{strings.Repeat("k", maxKeyLen), ""},
		{strings.Repeat("k", maxKeyLen+1), "KeyTooLongError"},
		{"../up", "InvalidArgument"},
		{"a/../../up", "InvalidArgument"},
		{"a/..", "InvalidArgument"},
		{`a\..\up`, "InvalidArgument"},
		{"a/./b", "InvalidArgument"},
		{"/abs/path", "InvalidArgument"},
		{`\abs`, "InvalidArgument"},
		{"nul\x00byte", "InvalidArgument"},
		{"line\nbreak", "InvalidArgument"},
		{"bad\xffutf8", "InvalidArgument"},
	}
	for _, tc := range cases {
		t.Run(tc.key[:min(len(tc.key), 20)], func(t *testing.T) {
			aerr := checkKey(tc.key)
			switch {
			case tc.code == "" && aerr != nil:
				t.Errorf("checkKey(%q) = %v, want accepted", tc.key, aerr)
			case tc.code != "" && (aerr == nil || aerr.Code != tc.code):
				t.Errorf("checkKey(%q) = %v, want %s", tc.key, aerr, tc.code)
			}
		})
	}
}

func TestReceiveBodyLimits(t *testing.T) {
	dir := t.TempDir()
	srv, err := New(Config{Dir: dir, AccessKey: testAccessKey, SecretKey: testSecretKey})
	if err != nil {
		t.Fatal(err)
	}
	twenty := []byte("twenty bytes of data")
	unsignedChunked := func(payload []byte) []byte {
		return encodeChunked(payload, 7, encodeOpts{trailers: []trailerField{{"x-amz-checksum-crc32", "S+M5eA=="}}})
	}
	cases := []struct {
		name     string
		body     []byte
		length   int64 // Content-Length; -1 unknown
		mode     string
		headers  map[string]string
		limit    int64
		wantCode string
	}{
		{"fits", twenty, 20, unsignedPayload, nil, 20, ""},
		{"declared-too-large", twenty, 20, unsignedPayload, nil, 10, "EntityTooLarge"},
		{"unknown-length-too-large", twenty, -1, unsignedPayload, nil, 10, "EntityTooLarge"},
		{"short-body", twenty[:5], 10, unsignedPayload, nil, 100, "IncompleteBody"},
		{"decoded-length-too-large", unsignedChunked(twenty), -1, streamingUnsignedTrailer,
			map[string]string{"X-Amz-Decoded-Content-Length": "20", "X-Amz-Trailer": "x-amz-checksum-crc32"}, 10, "EntityTooLarge"},
		{"chunks-exceed-limit", unsignedChunked(twenty), -1, streamingUnsignedTrailer,
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, 10, "EntityTooLarge"},
		{"decoded-length-mismatch", unsignedChunked(twenty), -1, streamingUnsignedTrailer,
			map[string]string{"X-Amz-Decoded-Content-Length": "19", "X-Amz-Trailer": "x-amz-checksum-crc32"}, 100, "IncompleteBody"},
		{"trailer-checksum-mismatch", unsignedChunked([]byte("twenty bytes of dat!")), -1, streamingUnsignedTrailer,
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, 100, "BadDigest"},
		{"trailer-checksum-ok", encodeChunked(twenty, 7, encodeOpts{trailers: []trailerField{{"x-amz-checksum-crc32", "S+M5eA=="}}}), -1, streamingUnsignedTrailer,
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, 100, ""},
		{"content-md5-mismatch", twenty, 20, unsignedPayload, map[string]string{"Content-Md5": "1B2M2Y8AsgTpgAmY7PhCfg=="}, 100, "BadDigest"},
		{"header-checksum-mismatch", twenty, 20, unsignedPayload, map[string]string{"X-Amz-Checksum-Sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, 100, "BadDigest"},
		{"sha256-mismatch", twenty, 20, emptySHA256, nil, 100, "XAmzContentSHA256Mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPut, "/b/k", bytes.NewReader(tc.body))
			req.ContentLength = tc.length
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rcv, aerr := srv.receiveBody(req, &authInfo{payloadHash: tc.mode}, tc.limit)
			if tc.wantCode == "" {
				if aerr != nil {
					t.Fatalf("receiveBody: %v", aerr)
				}
				if rcv.size != int64(len(twenty)) {
					t.Errorf("received %d bytes, want %d", rcv.size, len(twenty))
				}
				discard(rcv.f)
				return
			}
			if aerr == nil || aerr.Code != tc.wantCode {
				if rcv != nil {
					discard(rcv.f)
				}
				t.Fatalf("receiveBody = %v, want %s", aerr, tc.wantCode)
			}
			if left := dirEntries(t, filepath.Join(dir, "tmp")); len(left) != 0 {
				t.Errorf("temporary file left after a refused body: %v", left)
			}
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	h := start(t, harnessOpts{})
	h.makeBucket(t, testBucket)
	ctx := context.Background()
	payloads := make([][]byte, 6)
	for i := range payloads {
		payloads[i] = randomBytes(t, 200<<10+i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(payloads))
	for i, p := range payloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, key := range []string{"shared/latest.bin", "own/" + hex.EncodeToString([]byte{byte(i)})} {
				if _, err := h.client.PutObject(ctx, testBucket, key, bytes.NewReader(p), int64(len(p)), minio.PutObjectOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent PutObject: %v", err)
	}
	shared := readObject(t, h.client, testBucket, "shared/latest.bin", minio.GetObjectOptions{})
	if !slices.ContainsFunc(payloads, func(p []byte) bool { return bytes.Equal(p, shared) }) {
		t.Errorf("shared key holds %d bytes matching none of the writes", len(shared))
	}
	for i, p := range payloads {
		if got := readObject(t, h.client, testBucket, "own/"+hex.EncodeToString([]byte{byte(i)}), minio.GetObjectOptions{}); !bytes.Equal(got, p) {
			t.Errorf("own object %d differs", i)
		}
	}
}
