// Package artifacts keeps patch artifacts, device backups and evidence in an S3-compatible
// object store (the embedded endpoint or MinIO) through minio-go. Uploads stream in parts of
// a fixed size with SHA-256 computed on the way, and an upload that does not match what it
// claims is aborted so that no object is left behind.
package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultPartSize is the multipart part size.
const DefaultPartSize = 8 << 20

// uploadsInFlight is how many parts of one upload travel at once; an upload holds
// uploadsInFlight+1 part buffers.
const uploadsInFlight = 3

// Config says where the object store is.
type Config struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool
	Region    string
	PartSize  int64
}

// Store is a bucket of an S3-compatible object store.
type Store struct {
	core     *minio.Core
	bucket   string
	partSize int64
	region   string
	// parts keeps part buffers (*[]byte of partSize) between uploads, so many small uploads
	// (each asset's backup) do not each allocate and zero several parts.
	parts sync.Pool
}

// Info describes a stored object.
type Info struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// MismatchError says an upload was not what its manifest promised; nothing was stored.
type MismatchError struct {
	Key   string
	What  string // "size" or "sha256"
	Got   string
	Want  string
	Extra string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s of %s does not match the manifest (got %s, manifest says %s)%s; nothing was stored", e.What, e.Key, e.Got, e.Want, e.Extra)
}

// New connects to the object store. It does not create the bucket; call EnsureBucket.
func New(cfg Config) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("object store: endpoint and bucket are required")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("object store: part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	core, err := minio.NewCore(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", cfg.Endpoint, err)
	}
	return &Store{core: core, bucket: cfg.Bucket, partSize: cfg.PartSize, region: cfg.Region}, nil
}

// Bucket is the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Client is the minio-go client, for presigned URLs and checks.
func (s *Store) Client() *minio.Client { return s.core.Client }

// EnsureBucket creates the bucket when it is missing.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("object store: check bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region}); err != nil {
		return fmt.Errorf("object store: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping checks the store answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.core.BucketExists(ctx, s.bucket)
	return err
}

// Expect is what an upload must turn out to be; zero values are not checked.
type Expect struct {
	Size   int64
	SHA256 string
}

// Put streams r into key in parts of the store's part size, hashing on the way. When expect
// is set and the bytes differ from it — or r fails — the multipart upload is aborted and no
// object exists afterwards. maxSize bounds an upload of unknown size (0: expect.Size).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, expect Expect, contentType string) (Info, error) {
	limit := expect.Size
	if limit <= 0 {
		limit = 1 << 40
	}
	opts := minio.PutObjectOptions{ContentType: contentType}
	// A stream that ends within smallObject bytes (a device's configuration backup, a
	// manifest) is stored with one PUT instead of three multipart requests.
	head := make([]byte, min(smallObject, limit+1))
	got, rerr := io.ReadFull(r, head)
	switch {
	case rerr == nil:
		r = io.MultiReader(bytes.NewReader(head), r)
	case errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF):
		return s.putSmall(ctx, key, head[:got], expect, limit, opts)
	default:
		return Info{}, fmt.Errorf("reading upload of %s: %w; nothing was stored", key, rerr)
	}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.bucket, key, opts)
	if err != nil {
		return Info{}, fmt.Errorf("object store: start upload of %s: %w", key, err)
	}
	abort := func(cause error) (Info, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := s.core.AbortMultipartUpload(actx, s.bucket, key, uploadID); err != nil {
			return Info{}, fmt.Errorf("%w (and aborting the upload failed: %v)", cause, err)
		}
		return Info{}, cause
	}
	// Parts are read and hashed in order on this goroutine and uploaded by up to
	// uploadsInFlight goroutines, each with its own part buffer: memory stays at
	// (uploadsInFlight+1) parts whatever the size.
	h := sha256.New()
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Part buffers are taken only when needed (a small upload uses one) and go back to the
	// store's pool afterwards.
	free := make(chan []byte, uploadsInFlight+1)
	allocated := 0
	defer func() {
		for {
			select {
			case b := <-free:
				s.parts.Put(&b)
			default:
				return
			}
		}
	}()
	var (
		mu       sync.Mutex
		parts    []minio.CompletePart
		upErr    error
		inflight sync.WaitGroup
	)
	upload := func(n int, buf []byte) {
		defer inflight.Done()
		defer func() { free <- buf[:cap(buf)] }()
		// The whole stream's SHA-256 is computed on the way in and checked before the upload
		// completes, and the object is read back and hashed before anything uses it, so
		// parts travel unsigned rather than being hashed a second time.
		p, err := s.core.PutObjectPart(uctx, s.bucket, key, uploadID, n, bytes.NewReader(buf), int64(len(buf)),
			minio.PutObjectPartOptions{DisableContentSha256: true})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if upErr == nil {
				upErr = fmt.Errorf("object store: upload part %d of %s: %w; nothing was stored", n, key, err)
			}
			cancel()
			return
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return upErr
	}
	var total int64
	// Read one byte past the limit so an oversized stream is noticed.
	src := io.LimitReader(io.TeeReader(r, h), limit+1)
	var readErr error
	for n := 1; ; n++ {
		var buf []byte
		select {
		case buf = <-free:
		default:
			if allocated < uploadsInFlight+1 {
				allocated++
				buf = s.partBuffer()
			} else {
				select {
				case buf = <-free:
				case <-uctx.Done():
				}
			}
		}
		if buf == nil || failed() != nil {
			break
		}
		got, rerr := io.ReadFull(src, buf)
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			readErr = fmt.Errorf("reading upload of %s: %w; nothing was stored", key, rerr)
			free <- buf
			break
		}
		total += int64(got)
		if total > limit {
			readErr = &MismatchError{Key: key, What: "size", Got: fmt.Sprintf("more than %d bytes", limit), Want: fmt.Sprint(expect.Size)}
			free <- buf
			break
		}
		if got > 0 || n == 1 {
			inflight.Add(1)
			go upload(n, buf[:got])
		} else {
			free <- buf
		}
		if got < len(buf) {
			break
		}
	}
	inflight.Wait()
	if readErr == nil {
		readErr = failed()
	}
	if readErr == nil && ctx.Err() != nil {
		readErr = fmt.Errorf("upload of %s cancelled: %w; nothing was stored", key, ctx.Err())
	}
	if readErr != nil {
		return abort(readErr)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	sum := hex.EncodeToString(h.Sum(nil))
	if expect.Size > 0 && total != expect.Size {
		return abort(&MismatchError{Key: key, What: "size", Got: fmt.Sprint(total), Want: fmt.Sprint(expect.Size)})
	}
	if expect.SHA256 != "" && !strings.EqualFold(sum, expect.SHA256) {
		return abort(&MismatchError{Key: key, What: "sha256", Got: sum, Want: expect.SHA256})
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, key, uploadID, parts, opts); err != nil {
		return abort(fmt.Errorf("object store: complete upload of %s: %w", key, err))
	}
	return Info{Key: key, Size: total, SHA256: sum}, nil
}

// smallObject is the largest stream Put stores with a single PUT.
const smallObject = 256 << 10

// putSmall stores a whole small stream with one PUT, after the same size and SHA-256 checks
// as a multipart upload; the object store checks the body against the SHA-256 too.
func (s *Store) putSmall(ctx context.Context, key string, b []byte, expect Expect, limit int64, opts minio.PutObjectOptions) (Info, error) {
	sum256 := sha256.Sum256(b)
	sum := hex.EncodeToString(sum256[:])
	size := int64(len(b))
	if size > limit || (expect.Size > 0 && size != expect.Size) {
		return Info{}, &MismatchError{Key: key, What: "size", Got: fmt.Sprint(size), Want: fmt.Sprint(expect.Size)}
	}
	if expect.SHA256 != "" && !strings.EqualFold(sum, expect.SHA256) {
		return Info{}, &MismatchError{Key: key, What: "sha256", Got: sum, Want: expect.SHA256}
	}
	if _, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(b), size, "", sum, opts); err != nil {
		return Info{}, fmt.Errorf("object store: store %s: %w; nothing was stored", key, err)
	}
	return Info{Key: key, Size: size, SHA256: sum}, nil
}

// partBuffer is a part buffer from the pool, or a new one.
func (s *Store) partBuffer() []byte {
	if b, ok := s.parts.Get().(*[]byte); ok && int64(cap(*b)) == s.partSize {
		return (*b)[:cap(*b)]
	}
	return make([]byte, s.partSize)
}

// Open reads an object.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("object store: read %s: %w", key, err)
	}
	return obj, nil
}

// Hash reads an object once and returns its size and SHA-256: the read-back check.
func (s *Store) Hash(ctx context.Context, key string) (Info, error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return Info{}, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return Info{}, fmt.Errorf("object store: read back %s: %w", key, err)
	}
	return Info{Key: key, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Exists reports whether key is stored.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return false, nil
	}
	return false, err
}

// Remove deletes an object.
func (s *Store) Remove(ctx context.Context, key string) error {
	return s.core.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
}

// List returns the keys under prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// SweepIncomplete aborts multipart uploads left by a crash under prefix.
func (s *Store) SweepIncomplete(ctx context.Context, prefix string) (int, error) {
	n := 0
	// MinIO lists multipart uploads by prefix only for an exact object name, so list them all
	// and filter here.
	for u := range s.core.Client.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return n, u.Err
		}
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// PatchKey is where a patch's artifact lives in the object store.
func PatchKey(patchID, name string) string { return PatchPrefix(patchID) + name }

// PatchPrefix holds every artifact of a patch.
func PatchPrefix(patchID string) string { return "patches/" + patchID + "/" }
