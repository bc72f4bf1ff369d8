package s3embed

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// On-disk layout under Config.Dir:
//
//	buckets/<bucket>/bucket.json                  creation time
//	buckets/<bucket>/objects/<h[0:2]>/<h>         one file per object, h = hex SHA-256 of the key
//	multipart/<upload id>/upload.json             pending multipart upload
//	multipart/<upload id>/part-NNNNN              uploaded part
//	multipart/<upload id>.complete|.abort         upload being completed or aborted
//	tmp/                                          files being written; emptied on start
//
// An object or part file holds the raw data first, then a JSON record (key,
// size, ETag, content type, metadata), then the record's length as 8 bytes
// big-endian and the 8-byte magic "S3EMBD01". Files are written in tmp/,
// synced and renamed into place, so a crash leaves either the old object or
// the new one, never a partial one. `head -c <size>` of a file is the data.

const (
	fileMagic      = "S3EMBD01"
	footerLen      = 16
	maxRecordLen   = 1 << 20
	maxKeyLen      = 1024
	maxUserMetaLen = 2 << 10
	dirPerm        = 0o750
	filePerm       = 0o640
)

// objectRecord is the JSON record stored at the end of an object or part file.
type objectRecord struct {
	Key          string            `json:"key,omitempty"`
	Size         int64             `json:"size"`
	ETag         string            `json:"etag"`
	LastModified time.Time         `json:"lastModified"`
	ContentType  string            `json:"contentType,omitempty"`
	UserMeta     map[string]string `json:"userMeta,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Checksums    map[string]string `json:"checksums,omitempty"`
	PartNumber   int               `json:"partNumber,omitempty"`
	PartCount    int               `json:"partCount,omitempty"`
}

// storedHeaders returns the standard object headers kept with an object
// and returned on GET and HEAD.
func storedHeaders() [5]string {
	return [5]string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}
}

func bucketDir(root, bucket string) string { return filepath.Join(root, "buckets", bucket) }

func objectPath(root, bucket, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(root, "buckets", bucket, "objects", h[:2], h)
}

func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
		if !alnum && c != '-' && c != '.' {
			return false
		}
		if (i == 0 || i == len(name)-1) && !alnum {
			return false
		}
	}
	return true
}

// checkKey refuses object keys that are too long, not UTF-8, contain
// control characters, are absolute or contain "." or ".." segments.
func checkKey(key string) *apiError {
	switch {
	case key == "":
		return errInvalidArgument("object key is empty")
	case len(key) > maxKeyLen:
		return newAPIError(http.StatusBadRequest, "KeyTooLongError", "object key is %d bytes long, the limit is %d", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return errInvalidArgument("object key is not valid UTF-8")
	case key[0] == '/' || key[0] == '\\':
		return errInvalidArgument("object key %q is an absolute path", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return errInvalidArgument("object key %q contains a control character", key)
		}
	}
	for _, seg := range strings.FieldsFunc(key, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." || seg == "." {
			return errInvalidArgument("object key %q contains a %q path segment", key, seg)
		}
	}
	return nil
}

// appendRecord writes the record footer after the data already in f.
func appendRecord(f *os.File, rec *objectRecord) error {
	js, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode object record: %w", err)
	}
	if len(js) > maxRecordLen {
		return fmt.Errorf("object record of %d bytes exceeds %d", len(js), maxRecordLen)
	}
	var tail [footerLen]byte
	binary.BigEndian.PutUint64(tail[:8], uint64(len(js)))
	copy(tail[8:], fileMagic)
	if _, err := f.Write(append(js, tail[:]...)); err != nil {
		return fmt.Errorf("write object record to %s: %w", f.Name(), err)
	}
	return nil
}

// readRecord reads the record footer of an object or part file and checks
// that the data section has the recorded size.
func readRecord(f *os.File) (*objectRecord, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < footerLen {
		return nil, fmt.Errorf("%s: %d bytes is too short for an object file", f.Name(), size)
	}
	var tail [footerLen]byte
	if _, err := f.ReadAt(tail[:], size-footerLen); err != nil {
		return nil, fmt.Errorf("%s: read footer: %w", f.Name(), err)
	}
	if string(tail[8:]) != fileMagic {
		return nil, fmt.Errorf("%s: footer magic missing", f.Name())
	}
	n := binary.BigEndian.Uint64(tail[:8])
	if n > maxRecordLen || int64(n) > size-footerLen {
		return nil, fmt.Errorf("%s: record length %d out of range", f.Name(), n)
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, size-footerLen-int64(n)); err != nil {
		return nil, fmt.Errorf("%s: read record: %w", f.Name(), err)
	}
	rec := &objectRecord{}
	if err := json.Unmarshal(js, rec); err != nil {
		return nil, fmt.Errorf("%s: decode record: %w", f.Name(), err)
	}
	if rec.Size != size-footerLen-int64(n) {
		return nil, fmt.Errorf("%s: record says %d data bytes, file holds %d", f.Name(), rec.Size, size-footerLen-int64(n))
	}
	return rec, nil
}

func readRecordFile(path string) (*objectRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRecord(f)
}

// finishTemp appends rec to the temporary file f, syncs and closes it and
// returns its path; on error the file is removed.
func finishTemp(f *os.File, rec *objectRecord) (string, error) {
	if err := appendRecord(f, rec); err != nil {
		discard(f)
		return "", err
	}
	if err := f.Sync(); err != nil {
		discard(f)
		return "", fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// placeFile renames the finished temporary file tmp to dst, creating dst's
// folder, and syncs that folder; on error tmp is removed.
func placeFile(tmp, dst string) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, dst, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable; it is best effort because not
// every platform can sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func writeJSONFile(path string, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return err
	}
	if _, err := f.Write(js); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bucketIndex is the in-memory listing index of one bucket, rebuilt from
// the object files when a Server starts.
type bucketIndex struct {
	created time.Time
	keys    []string // sorted
	objs    map[string]*objectRecord
}

func (b *bucketIndex) put(rec *objectRecord) {
	if _, ok := b.objs[rec.Key]; !ok {
		i := sort.SearchStrings(b.keys, rec.Key)
		b.keys = append(b.keys, "")
		copy(b.keys[i+1:], b.keys[i:])
		b.keys[i] = rec.Key
	}
	b.objs[rec.Key] = rec
}

func (b *bucketIndex) remove(key string) {
	if _, ok := b.objs[key]; !ok {
		return
	}
	delete(b.objs, key)
	i := sort.SearchStrings(b.keys, key)
	if i < len(b.keys) && b.keys[i] == key {
		b.keys = append(b.keys[:i], b.keys[i+1:]...)
	}
}

type bucketMeta struct {
	Created time.Time `json:"created"`
}

// loadBuckets rebuilds the index of every bucket from disk.
func (s *Server) loadBuckets() error {
	root := filepath.Join(s.dir, "buckets")
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read %s: %w", root, err)
	}
	for _, e := range entries {
		if !e.IsDir() || !validBucketName(e.Name()) {
			s.log.Warn("s3embed: ignoring unexpected entry in buckets folder", "name", e.Name())
			continue
		}
		idx, err := s.loadBucket(e.Name())
		if err != nil {
			return err
		}
		s.buckets[e.Name()] = idx
	}
	return nil
}

func (s *Server) loadBucket(name string) (*bucketIndex, error) {
	dir := bucketDir(s.dir, name)
	idx := &bucketIndex{objs: map[string]*objectRecord{}}
	var meta bucketMeta
	if js, err := os.ReadFile(filepath.Join(dir, "bucket.json")); err == nil && json.Unmarshal(js, &meta) == nil {
		idx.created = meta.Created
	} else if st, err := os.Stat(dir); err == nil {
		idx.created = st.ModTime().UTC()
	}
	objDir := filepath.Join(dir, "objects")
	err := filepath.WalkDir(objDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == objDir {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rec, err := readRecordFile(path)
		if err != nil {
			s.log.Warn("s3embed: skipping unreadable object file", "path", path, "err", err)
			return nil
		}
		if objectPath(s.dir, name, rec.Key) != path {
			s.log.Warn("s3embed: skipping object file stored under the wrong name", "path", path, "key", rec.Key)
			return nil
		}
		idx.keys = append(idx.keys, rec.Key)
		idx.objs[rec.Key] = rec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index bucket %s: %w", name, err)
	}
	sort.Strings(idx.keys)
	return idx, nil
}

// newTemp creates a file in the tmp folder.
func (s *Server) newTemp(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), pattern)
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	return f, nil
}

// discard closes and removes a temporary file that is not committed.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// createBucket makes the bucket's folder atomically.
func (s *Server) createBucket(name string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok {
		return newAPIError(http.StatusConflict, "BucketAlreadyOwnedByYou", "bucket %q already exists", name)
	}
	staging, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "bucket-*")
	if err != nil {
		return errInternal(err)
	}
	now := s.now().UTC()
	if err := os.Mkdir(filepath.Join(staging, "objects"), dirPerm); err != nil {
		os.RemoveAll(staging)
		return errInternal(err)
	}
	if err := writeJSONFile(filepath.Join(staging, "bucket.json"), bucketMeta{Created: now}); err != nil {
		os.RemoveAll(staging)
		return errInternal(err)
	}
	if err := os.Rename(staging, bucketDir(s.dir, name)); err != nil {
		os.RemoveAll(staging)
		return errInternal(fmt.Errorf("create bucket folder: %w", err))
	}
	syncDir(filepath.Join(s.dir, "buckets"))
	s.buckets[name] = &bucketIndex{created: now, objs: map[string]*objectRecord{}}
	return nil
}

func (s *Server) deleteBucket(name string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	if !ok {
		return errNoSuchBucket(name)
	}
	if len(b.keys) > 0 {
		return newAPIError(http.StatusConflict, "BucketNotEmpty", "bucket %q holds %d objects", name, len(b.keys))
	}
	staging := filepath.Join(s.dir, "tmp", "deleted-"+name+"-"+randomHex(8))
	if err := os.Rename(bucketDir(s.dir, name), staging); err != nil {
		return errInternal(fmt.Errorf("remove bucket folder: %w", err))
	}
	delete(s.buckets, name)
	if err := os.RemoveAll(staging); err != nil {
		s.log.Warn("s3embed: could not remove deleted bucket folder", "path", staging, "err", err)
	}
	return nil
}

func (s *Server) bucketExists(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.buckets[name]
	return ok
}

// commitObject renames the finished temporary object file tmp into place
// and records it in the index. cond, when not nil, is checked against the
// current object (nil if none) under the lock, so conditional writes are
// atomic. On error tmp is removed.
func (s *Server) commitObject(tmp, bucket string, rec *objectRecord, cond func(cur *objectRecord) *apiError) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucket]
	if !ok {
		os.Remove(tmp)
		return errNoSuchBucket(bucket)
	}
	if cond != nil {
		if aerr := cond(b.objs[rec.Key]); aerr != nil {
			os.Remove(tmp)
			return aerr
		}
	}
	if err := placeFile(tmp, objectPath(s.dir, bucket, rec.Key)); err != nil {
		return errInternal(err)
	}
	b.put(rec)
	return nil
}

// openObject opens an object's file together with its record; the pair is
// consistent because renames happen under the same lock.
func (s *Server) openObject(bucket, key string) (*os.File, *objectRecord, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucket]
	if !ok {
		return nil, nil, errNoSuchBucket(bucket)
	}
	rec, ok := b.objs[key]
	if !ok {
		return nil, nil, errNoSuchKey(key)
	}
	f, err := os.Open(objectPath(s.dir, bucket, key))
	if err != nil {
		return nil, nil, errInternal(fmt.Errorf("open object %q: %w", key, err))
	}
	return f, rec, nil
}

func (s *Server) deleteObject(bucket, key string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucket]
	if !ok {
		return errNoSuchBucket(bucket)
	}
	if _, ok := b.objs[key]; !ok {
		return nil
	}
	p := objectPath(s.dir, bucket, key)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errInternal(fmt.Errorf("delete object %q: %w", key, err))
	}
	syncDir(filepath.Dir(p))
	b.remove(key)
	return nil
}

type listResult struct {
	objects   []*objectRecord
	prefixes  []string
	truncated bool
	next      string // last key or common prefix returned
}

// listObjects lists keys after marker (exclusive) that start with prefix,
// rolling keys up to common prefixes at the first delimiter after prefix.
func (s *Server) listObjects(bucket, prefix, delimiter, marker string, maxKeys int) (*listResult, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.buckets[bucket]
	if !ok {
		return nil, errNoSuchBucket(bucket)
	}
	res := &listResult{}
	if maxKeys <= 0 {
		return res, nil
	}
	start := prefix
	if marker > start {
		start = marker
	}
	i := sort.SearchStrings(b.keys, start)
	// A marker that is a common prefix skips every key under it.
	if marker != "" && delimiter != "" && strings.HasPrefix(marker, prefix) && strings.HasSuffix(marker, delimiter) &&
		strings.Index(marker[len(prefix):], delimiter) == len(marker)-len(prefix)-len(delimiter) {
		i = skipPrefix(b.keys, i, marker)
	}
	count := 0
	for i < len(b.keys) {
		key := b.keys[i]
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if key == marker {
			i++
			continue
		}
		if count == maxKeys {
			res.truncated = true
			break
		}
		if delimiter != "" {
			if j := strings.Index(key[len(prefix):], delimiter); j >= 0 {
				cp := key[:len(prefix)+j+len(delimiter)]
				res.prefixes = append(res.prefixes, cp)
				res.next = cp
				count++
				i = skipPrefix(b.keys, i, cp)
				continue
			}
		}
		res.objects = append(res.objects, b.objs[key])
		res.next = key
		count++
		i++
	}
	return res, nil
}

// skipPrefix returns the index of the first key at or after i that does not
// start with p.
func skipPrefix(keys []string, i int, p string) int {
	return i + sort.Search(len(keys)-i, func(j int) bool {
		k := keys[i+j]
		return k > p && !strings.HasPrefix(k, p)
	})
}

func (s *Server) listBuckets() ([]string, map[string]time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.buckets))
	created := make(map[string]time.Time, len(s.buckets))
	for n, b := range s.buckets {
		names = append(names, n)
		created[n] = b.created
	}
	sort.Strings(names)
	return names, created
}

// copyData copies the data section of an object or part file to w.
func copyData(w io.Writer, f *os.File, off, n int64) (int64, error) {
	return io.Copy(w, io.NewSectionReader(f, off, n))
}
