package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

// A backup is a folder: the three PostgreSQL databases as pg_dump custom-format archives, the
// object store's bucket under objects/, the signing keys, and manifest.json
// naming every file with its SHA-256 and the audit log's head at the consistency point.
const (
	backupManifestName   = "manifest.json"
	backupFormat         = "otpatch-backup/1"
	backupTemporalDump   = "temporal.dump"
	backupVisibilityDump = "temporal-visibility.dump"
	backupOtpatchDump    = "otpatch.dump"
	backupKeyFile        = "audit-checkpoint.key"
	backupObjectsDir     = "objects"
	// restoredAfterPoint is where a restore keeps the checkpoint notes signed after the
	// consistency point: they cover events the restored log no longer holds, so they cannot
	// stay among the log's checkpoints, and they are evidence of what the restore lost.
	restoredAfterPoint = "audit/restored-after-point/"
)

// backupManifest is manifest.json.
type backupManifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Order is the order the parts were copied in (see docs/backup-and-restore.md).
	Order []string `json:"order"`
	// Point is otpatch's database at the consistency point: the snapshot its dump was taken from.
	Point     backupPoint    `json:"point"`
	Bucket    string         `json:"bucket"`
	ObjectLck bool           `json:"object_lock"`
	Files     []backupFile   `json:"files"`
	Objects   []backupObject `json:"objects"`
}

// backupPoint is the audit log's head in the snapshot otpatch's database was dumped from.
type backupPoint struct {
	AuditSeq  int64  `json:"audit_seq"`
	AuditHash string `json:"audit_hash"`
	TreeSize  int64  `json:"tree_size"`
	TreeRoot  string `json:"tree_root"`
	// Checkpoint is the size of the newest signed checkpoint note at or below the point.
	Checkpoint int64 `json:"checkpoint"`
}

type backupFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

type backupObject struct {
	Key         string `json:"key"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	// AfterPoint marks a checkpoint note signed for a log larger than the point's.
	AfterPoint bool `json:"after_point,omitempty"`
}

// backupTargets are the settings backup and restore share.
type backupTargets struct {
	dsn, temporalDSN, visibilityDSN string
	// keys are the signing key files: the audit checkpoint key, the workers' job-signing key
	// and the transfer key; each is copied when its setting names it.
	keys []backupKey
	s3   config
}

// backupKey is one signing key file: its name in the backup and where it lives.
type backupKey struct {
	name, file string
}

func (b *backupTargets) flags(fs *flags) {
	fs.StringVar(&b.dsn, "database", env("DATABASE_URL", ""), "otpatch's PostgreSQL database, postgres:// URL (OTPATCH_DATABASE_URL)")
	fs.StringVar(&b.temporalDSN, "temporal-database", env("TEMPORAL_DATABASE_URL", ""), "Temporal's persistence database, postgres:// URL (OTPATCH_TEMPORAL_DATABASE_URL)")
	fs.StringVar(&b.visibilityDSN, "temporal-visibility-database", env("TEMPORAL_VISIBILITY_DATABASE_URL", ""), "Temporal's visibility database, postgres:// URL (OTPATCH_TEMPORAL_VISIBILITY_DATABASE_URL)")
	b.keys = []backupKey{{name: backupKeyFile}, {name: "agent-signing.key"}, {name: "transfer.key"}}
	fs.StringVar(&b.keys[0].file, "checkpoint-key", env("CHECKPOINT_KEY_FILE", ""), "the audit checkpoint signing key file (OTPATCH_CHECKPOINT_KEY_FILE)")
	fs.StringVar(&b.keys[1].file, "agent-signing-key", env("AGENT_SIGNING_KEY", ""), "the workers' job-signing key file (OTPATCH_AGENT_SIGNING_KEY)")
	fs.StringVar(&b.keys[2].file, "transfer-key", env("TRANSFER_KEY_FILE", ""), "the transfer bundle signing key file (OTPATCH_TRANSFER_KEY_FILE)")
	fs.StringVar(&b.s3.s3Endpoint, "s3-endpoint", env("S3_ENDPOINT", ""), "S3 endpoint host:port (OTPATCH_S3_ENDPOINT)")
	fs.StringVar(&b.s3.s3Access, "s3-access-key", env("S3_ACCESS_KEY", ""), "S3 access key (OTPATCH_S3_ACCESS_KEY)")
	fs.StringVar(&b.s3.s3Secret, "s3-secret-key", env("S3_SECRET_KEY", ""), "S3 secret key (OTPATCH_S3_SECRET_KEY)")
	fs.StringVar(&b.s3.s3Bucket, "s3-bucket", env("S3_BUCKET", "otpatch"), "S3 bucket (OTPATCH_S3_BUCKET)")
	fs.BoolVar(&b.s3.s3Secure, "s3-secure", env("S3_SECURE", "") == "true", "reach S3 over HTTPS (OTPATCH_S3_SECURE)")
}

func (b *backupTargets) check(fs *flags) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--database", b.dsn}, {"--temporal-database", b.temporalDSN},
		{"--temporal-visibility-database", b.visibilityDSN}, {"--s3-endpoint", b.s3.s3Endpoint}} {
		if f.v == "" {
			missing = append(missing, f.name)
		} else if f.name != "--s3-endpoint" && !strings.HasPrefix(f.v, "postgres://") && !strings.HasPrefix(f.v, "postgresql://") {
			return fs.usageError("%s must be a postgres:// URL: backup and restore work on the production databases (for otpatch dev, copy its data folder while it is stopped)", f.name)
		}
	}
	if len(missing) > 0 {
		return fs.usageError("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

func (b *backupTargets) objects() (*artifacts.Store, error) {
	return artifacts.New(artifacts.Config{Endpoint: b.s3.s3Endpoint, AccessKey: b.s3.s3Access, SecretKey: b.s3.s3Secret, Bucket: b.s3.s3Bucket, Secure: b.s3.s3Secure})
}

// runBackup copies Temporal's databases, then otpatch's database from one snapshot whose audit
// head it records, then the bucket, then the checkpoint key, into a new folder with a manifest.
func runBackup(ctx context.Context, args []string) error {
	fs := newFlags("backup")
	out := fs.String("out", "", "a new or empty folder to write the backup into")
	var b backupTargets
	b.flags(fs)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *out == "" {
		return fs.usageError("--out is required")
	}
	if err := b.check(fs); err != nil {
		return err
	}
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 {
		return fs.usageError("%s is not empty: give a new folder for each backup", *out)
	}
	if err := os.MkdirAll(filepath.Join(*out, backupObjectsDir), 0o700); err != nil {
		return err
	}
	m := backupManifest{Format: backupFormat, CreatedAt: time.Now().UTC(), Bucket: b.s3.s3Bucket,
		Order: []string{"temporal", "temporal-visibility", "otpatch", "objects", "signing-keys"}}
	// Temporal first: every step a workflow remembers was written to otpatch's database before
	// the step completed, so otpatch's copy, taken after, holds it too.
	for _, d := range []struct{ name, dsn string }{{backupTemporalDump, b.temporalDSN}, {backupVisibilityDump, b.visibilityDSN}} {
		fmt.Fprintf(os.Stderr, "copying %s …\n", strings.TrimSuffix(d.name, ".dump"))
		if err := pgDump(ctx, d.dsn, filepath.Join(*out, d.name), ""); err != nil {
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "copying otpatch's database …")
	point, err := dumpAtPoint(ctx, b.dsn, filepath.Join(*out, backupOtpatchDump))
	if err != nil {
		return err
	}
	m.Point = point
	// The bucket after the database: every object a row names was written before its row, so
	// it is in this copy.
	objs, err := b.objects()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "copying the object store …")
	if m.Objects, m.ObjectLck, err = copyBucketOut(ctx, objs, filepath.Join(*out, backupObjectsDir), point.TreeSize); err != nil {
		return err
	}
	for _, o := range m.Objects {
		if strings.HasPrefix(o.Key, audit.NotePrefix) && !o.AfterPoint {
			if size, err := noteSizeOf(o.Key); err == nil && size > m.Point.Checkpoint {
				m.Point.Checkpoint = size
			}
		}
	}
	for _, k := range b.keys {
		if k.file == "" {
			continue
		}
		if err := copyFile(k.file, filepath.Join(*out, k.name)); err != nil {
			return fmt.Errorf("copy the signing key %s: %w", k.file, err)
		}
	}
	for _, name := range []string{backupTemporalDump, backupVisibilityDump, backupOtpatchDump, backupKeyFile, "agent-signing.key", "transfer.key"} {
		f, err := hashFile(filepath.Join(*out, name))
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(name, ".key") {
			continue
		}
		if err != nil {
			return err
		}
		f.Path = name
		m.Files = append(m.Files, f)
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, backupManifestName), append(mb, '\n'), 0o600); err != nil {
		return err
	}
	after := 0
	for _, o := range m.Objects {
		if o.AfterPoint {
			after++
		}
	}
	fmt.Printf("backup written to %s: audit log at event %d (tree size %d, newest checkpoint in the copy at %d), %d objects", *out, m.Point.AuditSeq, m.Point.TreeSize, m.Point.Checkpoint, len(m.Objects))
	if after > 0 {
		fmt.Printf(", %d checkpoint notes signed after the point", after)
	}
	fmt.Println()
	if b.keys[0].file == "" {
		fmt.Println("no checkpoint signing key copied (--checkpoint-key not given): keep the key file safe yourself")
	}
	return nil
}

// pgDump runs pg_dump in its custom format, from the exported snapshot when one is given.
func pgDump(ctx context.Context, dsn, file, snapshot string) error {
	args := []string{"--format=custom", "--no-owner", "--no-privileges", "--file=" + file, "--dbname=" + dsn}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	cmd := exec.CommandContext(ctx, "pg_dump", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump of %s: %v: %s (is the PostgreSQL client, pg_dump, installed and of the server's major version or newer?)", redactDSN(dsn), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dumpAtPoint dumps otpatch's database from a snapshot it holds open, reading the audit head
// in the same snapshot: that head is exactly the last event in the dump.
func dumpAtPoint(ctx context.Context, dsn, file string) (backupPoint, error) {
	var p backupPoint
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return p, fmt.Errorf("connect to %s: %w", redactDSN(dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return p, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return p, fmt.Errorf("export a snapshot of %s: %w", redactDSN(dsn), err)
	}
	if err := tx.QueryRow(ctx, `SELECT seq, hash, tree_size, tree_root FROM audit_head WHERE id = 1`).Scan(&p.AuditSeq, &p.AuditHash, &p.TreeSize, &p.TreeRoot); err != nil {
		return p, fmt.Errorf("read the audit head of %s (is it otpatch's database, migrated?): %w", redactDSN(dsn), err)
	}
	if err := pgDump(ctx, dsn, file, snapshot); err != nil {
		return p, err
	}
	return p, tx.Commit(ctx)
}

// copyBucketOut downloads every object (latest version) into dir, hashing each; checkpoint
// notes of a log larger than treeSize are marked after the point.
func copyBucketOut(ctx context.Context, objs *artifacts.Store, dir string, treeSize int64) ([]backupObject, bool, error) {
	c := objs.Client()
	_, _, _, _, lockErr := c.GetObjectLockConfig(ctx, objs.Bucket())
	locked := lockErr == nil
	var out []backupObject
	for info := range c.ListObjects(ctx, objs.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			return nil, false, fmt.Errorf("list bucket %s: %w", objs.Bucket(), info.Err)
		}
		if !safeObjectKey(info.Key) {
			return nil, false, fmt.Errorf("object %q: a key with an empty, . or .. segment cannot be copied to a folder", info.Key)
		}
		dst := filepath.Join(dir, filepath.FromSlash(info.Key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, false, err
		}
		r, err := c.GetObject(ctx, objs.Bucket(), info.Key, minio.GetObjectOptions{})
		if err != nil {
			return nil, false, err
		}
		o, err := writeHashed(dst, r)
		r.Close()
		if err != nil {
			return nil, false, fmt.Errorf("copy object %s: %w", info.Key, err)
		}
		o.Key, o.ContentType = info.Key, info.ContentType
		if strings.HasPrefix(info.Key, audit.NotePrefix) {
			if size, err := noteSizeOf(info.Key); err == nil && size > treeSize {
				o.AfterPoint = true
			}
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, locked, nil
}

func noteSizeOf(key string) (int64, error) {
	var size int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(key, audit.NotePrefix), "%020d.note", &size); err != nil || audit.NoteObjectKey(size) != key {
		return 0, fmt.Errorf("%s is not a checkpoint note", key)
	}
	return size, nil
}

func safeObjectKey(key string) bool {
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func writeHashed(dst string, r io.Reader) (backupObject, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return backupObject{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return backupObject{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, err
}

func hashFile(p string) (backupFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return backupFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return backupFile{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = writeHashed(dst, in)
	return err
}

func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 {
		if j := strings.Index(dsn, "://"); j > 0 && j < i {
			userinfo := dsn[j+3 : i]
			if k := strings.Index(userinfo, ":"); k >= 0 {
				return dsn[:j+3] + userinfo[:k] + ":xxxxx" + dsn[i:]
			}
		}
	}
	return dsn
}

// runRestore checks every file of a backup against its manifest, restores the three databases
// into empty databases and the bucket into an empty bucket, moves the checkpoint notes signed
// after the point aside, puts the checkpoint key back, and records the restore in the audit log.
func runRestore(ctx context.Context, args []string) error {
	fs := newFlags("restore")
	from := fs.String("from", "", "the folder otpatch backup wrote")
	var b backupTargets
	b.flags(fs)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *from == "" {
		return fs.usageError("--from is required")
	}
	if err := b.check(fs); err != nil {
		return err
	}
	m, err := readBackup(*from)
	if err != nil {
		return err
	}
	inBackup := map[string]bool{}
	for _, f := range m.Files {
		inBackup[f.Path] = true
	}
	for _, k := range b.keys {
		if !inBackup[k.name] {
			continue
		}
		if k.file == "" {
			return fs.usageError("the backup holds %s: give the file the processes will read it from (see otpatch restore -h)", k.name)
		}
		if _, err := os.Stat(k.file); err == nil {
			return fs.usageError("%s exists: restore puts the backup's %s there and never overwrites a key", k.file, k.name)
		}
	}
	for _, d := range []struct{ name, dsn string }{{backupTemporalDump, b.temporalDSN}, {backupVisibilityDump, b.visibilityDSN}, {backupOtpatchDump, b.dsn}} {
		if err := requireEmptyDatabase(ctx, d.dsn); err != nil {
			return err
		}
	}
	objs, err := b.objects()
	if err != nil {
		return err
	}
	if err := requireEmptyBucket(ctx, objs); err != nil {
		return err
	}
	for _, d := range []struct{ name, dsn string }{{backupTemporalDump, b.temporalDSN}, {backupVisibilityDump, b.visibilityDSN}, {backupOtpatchDump, b.dsn}} {
		fmt.Fprintf(os.Stderr, "restoring %s …\n", strings.TrimSuffix(d.name, ".dump"))
		cmd := exec.CommandContext(ctx, "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--dbname="+d.dsn, filepath.Join(*from, d.name))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pg_restore of %s into %s: %v: %s", d.name, redactDSN(d.dsn), err, strings.TrimSpace(string(out)))
		}
		if d.name != backupOtpatchDump {
			if err := renameTemporalSchema(ctx, d.dsn); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(os.Stderr, "restoring the object store …")
	c := objs.Client()
	if err := c.MakeBucket(ctx, objs.Bucket(), minio.MakeBucketOptions{ObjectLocking: m.ObjectLck}); err != nil {
		return fmt.Errorf("create bucket %s: %w", objs.Bucket(), err)
	}
	var moved []string
	for _, o := range m.Objects {
		key := o.Key
		if o.AfterPoint {
			key = restoredAfterPoint + strings.TrimPrefix(o.Key, audit.NotePrefix)
			moved = append(moved, key)
		}
		f, err := os.Open(filepath.Join(*from, backupObjectsDir, filepath.FromSlash(o.Key)))
		if err != nil {
			return err
		}
		opts := minio.PutObjectOptions{ContentType: o.ContentType}
		if m.ObjectLck && strings.HasPrefix(o.Key, "audit/") {
			opts.Mode, opts.RetainUntilDate = minio.Compliance, time.Now().Add(audit.DefaultRetention)
		}
		_, err = c.PutObject(ctx, objs.Bucket(), key, f, o.Size, opts)
		f.Close()
		if err != nil {
			return fmt.Errorf("restore object %s: %w", o.Key, err)
		}
	}
	for _, k := range b.keys {
		if !inBackup[k.name] {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(k.file), 0o700); err != nil {
			return err
		}
		if err := copyFile(filepath.Join(*from, k.name), k.file); err != nil {
			return fmt.Errorf("put the signing key %s back at %s: %w", k.name, k.file, err)
		}
	}
	st, err := store.Open(b.dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	seq, _, err := st.AuditHead(ctx)
	if err != nil {
		return err
	}
	if seq != m.Point.AuditSeq {
		return fmt.Errorf("the restored database's audit log ends at event %d, the manifest says %d: the dump is not the one the manifest describes", seq, m.Point.AuditSeq)
	}
	details := map[string]any{"backup_created_at": m.CreatedAt, "point_audit_seq": m.Point.AuditSeq, "point_audit_hash": m.Point.AuditHash,
		"point_tree_size": m.Point.TreeSize, "point_tree_root": m.Point.TreeRoot, "objects": len(m.Objects)}
	if len(moved) > 0 {
		details["checkpoints_after_point"] = moved
	}
	if _, err := st.Append(ctx, store.Event{Actor: "otpatch restore", Role: "system", Action: "otpatch.restored", SubjectType: "installation", SubjectID: "otpatch", Details: details}); err != nil {
		return fmt.Errorf("record the restore in the audit log: %w", err)
	}
	fmt.Printf("restored the backup of %s: audit log at event %d, %d objects\n", m.CreatedAt.Format(time.RFC3339), m.Point.AuditSeq, len(m.Objects))
	if len(moved) > 0 {
		fmt.Printf("%d checkpoint notes signed after the backup's point cover events this restore does not hold; they are kept under %s\n", len(moved), restoredAfterPoint)
	}
	fmt.Println("start the server: it compares every running campaign with its workflow and raises an alarm for each difference")
	return nil
}

// readBackup reads the manifest and checks every file and object against it.
func readBackup(dir string) (backupManifest, error) {
	var m backupManifest
	b, err := os.ReadFile(filepath.Join(dir, backupManifestName))
	if err != nil {
		return m, fmt.Errorf("no backup at %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, backupManifestName), err)
	}
	if m.Format != backupFormat {
		return m, fmt.Errorf("%s: format %q, this otpatch reads %q", filepath.Join(dir, backupManifestName), m.Format, backupFormat)
	}
	check := func(rel, want string, size int64) error {
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("backup file %s: %w", rel, err)
		}
		if got.SHA256 != want || got.Size != size {
			return fmt.Errorf("backup file %s does not match the manifest (sha256 %s…, manifest says %s…): the backup is damaged; nothing was restored", rel, got.SHA256[:12], want[:min(12, len(want))])
		}
		return nil
	}
	for _, f := range m.Files {
		if path.Base(f.Path) != f.Path {
			return m, fmt.Errorf("manifest names %q outside the backup folder", f.Path)
		}
		if err := check(f.Path, f.SHA256, f.Size); err != nil {
			return m, err
		}
	}
	for _, o := range m.Objects {
		if !safeObjectKey(o.Key) {
			return m, fmt.Errorf("manifest names object %q, not a key a backup holds", o.Key)
		}
		if err := check(backupObjectsDir+"/"+o.Key, o.SHA256, o.Size); err != nil {
			return m, err
		}
	}
	return m, nil
}

// renameTemporalSchema makes Temporal's schema version rows, which name the database they were
// written in, name the database they were restored into: Temporal's schema tool looks its
// version up by database name, and would otherwise set the schema up again over the data.
func renameTemporalSchema(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactDSN(dsn), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_version SET db_name = current_database()`); err != nil {
		return fmt.Errorf("Temporal's schema version in %s: %w", redactDSN(dsn), err)
	}
	return nil
}

func requireEmptyDatabase(ctx context.Context, dsn string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w (create the empty database first)", redactDSN(dsn), err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s has %d tables: restore only into a new, empty database; nothing was restored", redactDSN(dsn), n)
	}
	return nil
}

func requireEmptyBucket(ctx context.Context, objs *artifacts.Store) error {
	ok, err := objs.Client().BucketExists(ctx, objs.Bucket())
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	if ok {
		return fmt.Errorf("bucket %s exists: restore only into an object store without it (restore creates it, with object lock when the backed-up one had it); nothing was restored", objs.Bucket())
	}
	return nil
}
