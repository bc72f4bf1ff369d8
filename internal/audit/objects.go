package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/otpatch/otpatch/internal/artifacts"
)

// ErrBadCheckpoint marks a stored checkpoint that does not parse or sits under the wrong key:
// the checkpoint store was tampered with, which verification reports as a failure.
var ErrBadCheckpoint = errors.New("checkpoint object is not a valid checkpoint")

// CheckpointStore keeps checkpoints outside the database.
type CheckpointStore interface {
	// PutNote keeps a tree checkpoint.
	PutNote(ctx context.Context, c TreeCheckpoint) error
	// Notes returns every stored checkpoint note of a log of at least fromSize events, as
	// stored (unverified), in size order.
	Notes(ctx context.Context, fromSize int64) ([][]byte, error)
	// NoteSizes lists the log sizes that have a checkpoint note, ascending, without reading
	// the notes.
	NoteSizes(ctx context.Context) ([]int64, error)
	// Checkpoints returns every stored checkpoint of the older hash chain with a sequence of
	// at least fromSeq, in sequence order. They are no longer written; they stay verifiable.
	Checkpoints(ctx context.Context, fromSeq int64) ([]Checkpoint, error)
}

var _ CheckpointStore = (*ObjectCheckpoints)(nil)

// ObjectCheckpoints keeps checkpoints in the S3 bucket under audit/checkpoints/<seq>.json.
// When the bucket has object lock enabled (MinIO bucket created with object locking), each
// checkpoint is written under COMPLIANCE retention, so nobody — the root account included —
// can delete or overwrite that version before the retention ends; and checkpoints are read by
// version, so a delete marker does not hide one.
type ObjectCheckpoints struct {
	client    *minio.Client
	bucket    string
	retention time.Duration
	locked    bool
	now       func() time.Time
}

// DefaultRetention keeps checkpoints for three years, the NERC CIP evidence period.
const DefaultRetention = 3 * 365 * 24 * time.Hour

// NewObjectCheckpoints finds out whether the bucket has object lock and returns the store.
// retention 0 means DefaultRetention; now nil means time.Now.
func NewObjectCheckpoints(ctx context.Context, objs *artifacts.Store, retention time.Duration, now func() time.Time) (*ObjectCheckpoints, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if now == nil {
		now = time.Now
	}
	o := &ObjectCheckpoints{client: objs.Client(), bucket: objs.Bucket(), retention: retention, now: now}
	enabled, _, _, _, err := o.client.GetObjectLockConfig(ctx, o.bucket)
	switch code := minio.ToErrorResponse(err).Code; {
	case err == nil:
		o.locked = enabled == "Enabled"
	case code == "ObjectLockConfigurationNotFoundError" || code == "NotImplemented":
		// No lock on this bucket, or a store without it (the embedded endpoint).
	default:
		return nil, fmt.Errorf("object store: read the object lock configuration of %s: %w", o.bucket, err)
	}
	return o, nil
}

// Locked reports whether checkpoints are written under COMPLIANCE retention.
func (o *ObjectCheckpoints) Locked() bool { return o.locked }

// PutCheckpoint writes a checkpoint of the older hash chain, under retention when the bucket
// has object lock. otpatch writes tree checkpoints now (PutNote); this remains for tests and
// tools that reproduce a log kept before.
func (o *ObjectCheckpoints) PutCheckpoint(ctx context.Context, c Checkpoint) error {
	return o.put(ctx, CheckpointObjectKey(c.Seq), c.Marshal(), "application/json")
}

// PutNote writes a tree checkpoint as audit/checkpoints/<size>.note, under retention when the
// bucket has object lock.
func (o *ObjectCheckpoints) PutNote(ctx context.Context, c TreeCheckpoint) error {
	return o.put(ctx, NoteObjectKey(c.Size), c.Note, "text/plain; charset=utf-8")
}

func (o *ObjectCheckpoints) put(ctx context.Context, key string, b []byte, contentType string) error {
	opts := minio.PutObjectOptions{ContentType: contentType}
	if o.locked {
		opts.Mode = minio.Compliance
		opts.RetainUntilDate = o.now().UTC().Add(o.retention).Truncate(time.Second)
		opts.SendContentMd5 = true
	}
	if _, err := o.client.PutObject(ctx, o.bucket, key, bytes.NewReader(b), int64(len(b)), opts); err != nil {
		return fmt.Errorf("object store: write %s: %w", key, err)
	}
	return nil
}

// Notes lists and reads the checkpoint notes of logs of at least fromSize events. With
// object lock every stored version is read, so a note hidden behind a delete marker or a newer
// version is still found.
func (o *ObjectCheckpoints) Notes(ctx context.Context, fromSize int64) ([][]byte, error) {
	opts := minio.ListObjectsOptions{Prefix: NotePrefix, Recursive: true, WithVersions: o.locked}
	if fromSize > 1 {
		opts.StartAfter = NoteObjectKey(fromSize - 1)
	}
	type found struct {
		size int64
		note []byte
	}
	var out []found
	for obj := range o.client.ListObjects(ctx, o.bucket, opts) {
		if obj.Err != nil {
			return nil, fmt.Errorf("object store: list checkpoints: %w", obj.Err)
		}
		if obj.IsDeleteMarker || !strings.HasSuffix(obj.Key, ".note") {
			continue
		}
		size, err := noteSize(obj.Key)
		if err != nil {
			return nil, err
		}
		if size < fromSize {
			continue
		}
		b, err := o.readObject(ctx, obj.Key, obj.VersionID)
		if err != nil {
			return nil, err
		}
		out = append(out, found{size, b})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].size < out[j].size })
	notes := make([][]byte, len(out))
	for i, f := range out {
		notes[i] = f.note
	}
	return notes, nil
}

// Checkpoints lists and reads the checkpoints from fromSeq on. With object lock every stored
// version is read, so a checkpoint hidden behind a delete marker or a newer version is still
// found.
func (o *ObjectCheckpoints) Checkpoints(ctx context.Context, fromSeq int64) ([]Checkpoint, error) {
	opts := minio.ListObjectsOptions{Prefix: CheckpointPrefix, Recursive: true, WithVersions: o.locked}
	if fromSeq > 1 {
		opts.StartAfter = CheckpointObjectKey(fromSeq - 1)
	}
	var out []Checkpoint
	for obj := range o.client.ListObjects(ctx, o.bucket, opts) {
		if obj.Err != nil {
			return nil, fmt.Errorf("object store: list checkpoints: %w", obj.Err)
		}
		if obj.IsDeleteMarker || !strings.HasSuffix(obj.Key, ".json") {
			continue
		}
		c, err := o.read(ctx, obj.Key, obj.VersionID)
		if err != nil {
			return nil, err
		}
		if c.Seq >= fromSeq {
			out = append(out, c)
		}
	}
	SortCheckpoints(out)
	return out, nil
}

// NoteSizes lists the sizes of the stored notes, reading keys only.
func (o *ObjectCheckpoints) NoteSizes(ctx context.Context) ([]int64, error) {
	var out []int64
	for obj := range o.client.ListObjects(ctx, o.bucket, minio.ListObjectsOptions{Prefix: NotePrefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("object store: list checkpoints: %w", obj.Err)
		}
		if !strings.HasSuffix(obj.Key, ".note") {
			continue
		}
		size, err := noteSize(obj.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, size)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// noteSize reads the log size a note's object key names (NoteObjectKey).
func noteSize(key string) (int64, error) {
	var size int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(key, NotePrefix), "%020d.note", &size); err != nil || NoteObjectKey(size) != key {
		return 0, fmt.Errorf("%w: %s is not named by a log size", ErrBadCheckpoint, key)
	}
	return size, nil
}

func (o *ObjectCheckpoints) readObject(ctx context.Context, key, version string) ([]byte, error) {
	obj, err := o.client.GetObject(ctx, o.bucket, key, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		return nil, fmt.Errorf("object store: read %s: %w", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("object store: read %s: %w", key, err)
	}
	return b, nil
}

func (o *ObjectCheckpoints) read(ctx context.Context, key, version string) (Checkpoint, error) {
	b, err := o.readObject(ctx, key, version)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := ParseCheckpoint(b)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %s: %v", ErrBadCheckpoint, key, err)
	}
	if CheckpointObjectKey(c.Seq) != key {
		return Checkpoint{}, fmt.Errorf("%w: %s holds the checkpoint of event %d", ErrBadCheckpoint, key, c.Seq)
	}
	return c, nil
}
