// Package store keeps otpatch's records — inventory, vendors and keys, tokens, patches,
// campaigns, approvals and the audit trail — in SQLite (embedded default) or PostgreSQL
// through gorm. Every change is written in the same transaction as the audit event that
// records it.
package store

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/libtnb/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/otpatch/otpatch/internal/audit"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Errors callers map to API answers.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrUnchanged, returned by a Write's function, means the change was made before (a
	// retried activity): nothing is written and no event is appended.
	ErrUnchanged = errors.New("unchanged")
)

// Store is the database.
type Store struct {
	db      *gorm.DB
	dialect string
	dsn     string // the PostgreSQL URL, for the agent job listener
	// jobWaiters are the agents' long polls waiting for a job (agent_notify.go).
	jobWaiters jobWaiters
	now        func() time.Time
	log        *slog.Logger
	// checkpointer, when set, is told about every committed audit event (SetCheckpointer).
	checkpointer atomic.Pointer[audit.Checkpointer]
	// tree is the committer's compact range of the audit tree (audit_tree.go); only the
	// committer goroutine and Migrate, before it writes, touch it.
	tree *treeState
	// auditHealth is what the last check of the audit log found (audit_watch.go).
	auditHealth atomic.Pointer[AuditHealth]
	// The group committer (commit.go).
	reqs    chan *writeReq
	stop    chan struct{}
	stopped chan struct{}
}

// Options configure Open.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// Open connects to dsn: a postgres:// URL selects PostgreSQL, anything else is a SQLite file
// path. It does not migrate; call Migrate.
func Open(dsn string, opt Options) (*Store, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	cfg := &gorm.Config{TranslateError: true, Logger: logger.Discard, NowFunc: func() time.Time { return opt.Now().UTC() }}
	s := &Store{now: opt.Now, log: opt.Logger}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect, s.dsn = "postgres", dsn
		s.db, err = gorm.Open(postgres.Open(dsn), cfg)
	} else {
		s.dialect = "sqlite"
		if dsn == "" {
			return nil, errors.New("database: give a SQLite file path or a postgres:// URL")
		}
		s.db, err = gorm.Open(sqlite.Open(sqliteDSN(dsn)), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", s.dialect, err)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	if s.dialect == "sqlite" {
		// One writer: SQLite serialises writes anyway, and one connection keeps the audit
		// sequence gap-free without lock errors.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(20)
	}
	if err := sqlDB.Ping(); err != nil {
		return nil, fmt.Errorf("reach %s database: %w", s.dialect, err)
	}
	s.startCommitter()
	return s, nil
}

func sqliteDSN(path string) string {
	if strings.HasPrefix(path, "file:") {
		return path
	}
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// DB exposes the connection to packages that keep their own tables in this database (the
// simulator adapter).
func (s *Store) DB() *gorm.DB { return s.db }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection.
func (s *Store) Close() error {
	s.stopCommitter()
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

type migration struct {
	version int
	name    string
	sql     string
	// dialect, when set ("NNNN_name.postgres.sql"), limits the migration to that database;
	// elsewhere its version is recorded with nothing to run, so versions stay comparable.
	dialect string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		m := migration{version: v, name: e.Name(), sql: string(b)}
		if parts := strings.Split(strings.TrimSuffix(e.Name(), ".sql"), "."); len(parts) == 2 {
			m.dialect = parts[1]
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrateLockKey is the PostgreSQL advisory lock taken while creating schema_migrations.
const migrateLockKey = 0x6f7470617463 // "otpatc"

// Migrate applies every embedded migration newer than the schema's version, each in its own
// transaction. It returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	return s.MigrateTo(ctx, 0)
}

// MigrateTo applies migrations up to version target (0: all).
func (s *Store) MigrateTo(ctx context.Context, target int) ([]int, error) {
	db := s.db.WithContext(ctx)
	err := db.Transaction(func(tx *gorm.DB) error {
		if s.dialect == "postgres" {
			// Concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL with a duplicate
			// key in its catalogue: processes starting together create the table one at a time.
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(?)`, migrateLockKey).Error; err != nil {
				return err
			}
		}
		return tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	ts := "TIMESTAMP"
	if s.dialect == "postgres" {
		ts = "TIMESTAMPTZ"
	}
	var applied []int
	for _, m := range ms {
		if target > 0 && m.version > target {
			break
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if s.dialect == "postgres" {
				// Two processes starting together must not both migrate.
				if err := tx.Exec(`LOCK TABLE schema_migrations IN EXCLUSIVE MODE`).Error; err != nil {
					return err
				}
			}
			var n int64
			if err := tx.Raw(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			sql := m.sql
			if m.dialect != "" && m.dialect != s.dialect {
				sql = ""
			}
			for _, stmt := range splitSQL(strings.ReplaceAll(sql, "{{TS}}", ts)) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			applied = append(applied, m.version)
			return tx.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, s.Now().Format(time.RFC3339)).Error
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	if target == 0 || target >= treeMigration {
		if err := s.buildTree(ctx); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// SchemaVersion is the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	err := s.db.WithContext(ctx).Raw(`SELECT MAX(version) FROM schema_migrations`).Scan(&v).Error
	if err != nil || v == nil {
		return 0, err
	}
	return *v, nil
}

func splitSQL(src string) []string {
	var lines []string
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--") {
			continue
		}
		lines = append(lines, l)
	}
	var out []string
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		if strings.TrimSpace(stmt) != "" {
			out = append(out, strings.TrimSpace(stmt))
		}
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// NewID returns a random identifier with a type prefix, such as "cmp_4k2…".
func NewID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Event is the audit record a mutation writes; the store seals it into the chain.
type Event struct {
	Actor       string
	Role        string
	Action      string
	SubjectType string
	SubjectID   string
	CampaignID  string
	PatchID     string
	AssetID     string
	RequestID   string
	WorkflowID  string
	Details     any
}

type auditHead struct {
	ID       int
	Seq      int64
	Hash     string
	TreeSize int64
	TreeRoot string
}

func (auditHead) TableName() string { return "audit_head" }

type auditRow audit.Event

func (auditRow) TableName() string { return "audit_events" }

// Write runs fn and appends ev to the audit chain in one transaction: both happen or neither.
// fn must use only the tx it is given.
func (s *Store) Write(ctx context.Context, ev Event, fn func(tx *gorm.DB) error) error {
	_, err := s.commit(ctx, func(tx *gorm.DB) (Event, error) {
		if fn != nil {
			if err := fn(tx); err != nil {
				return Event{}, err
			}
		}
		return ev, nil
	})
	if errors.Is(err, ErrUnchanged) {
		return nil
	}
	return err
}

// Append writes one audit event on its own (a refused request, a login).
func (s *Store) Append(ctx context.Context, ev Event) (audit.Event, error) {
	return s.commit(ctx, func(*gorm.DB) (Event, error) { return ev, nil })
}

// AuditFilter selects audit events.
type AuditFilter struct {
	AfterSeq int64
	// Limit is how many events at most (default 1000, at most 10000).
	Limit      int
	Actor      string
	Action     string
	CampaignID string
	PatchID    string
	AssetID    string
	// From and To bound the event time: From <= at < To (zero: unbounded).
	From, To time.Time
}

// AuditEvents lists events in sequence order.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]audit.Event, error) {
	switch {
	case f.Limit <= 0:
		f.Limit = 1000
	case f.Limit > verifyPage:
		f.Limit = verifyPage
	}
	q := s.db.WithContext(ctx).Model(&auditRow{}).Where("seq > ?", f.AfterSeq)
	for col, v := range map[string]string{"actor": f.Actor, "action": f.Action, "campaign_id": f.CampaignID, "patch_id": f.PatchID, "asset_id": f.AssetID} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	// Event times are stored in one fixed-width UTC layout, so text order is time order.
	if !f.From.IsZero() {
		q = q.Where("at >= ?", audit.FormatTime(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", audit.FormatTime(f.To))
	}
	var rows []auditRow
	if err := q.Order("seq").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]audit.Event, len(rows))
	for i, r := range rows {
		out[i] = audit.Event(r)
	}
	return out, nil
}

// verifyPage is how many events verifyChain reads per query.
const verifyPage = 10000

// verifyChain recomputes the whole log with v and compares its end with the recorded head.
// It reads the trail in keyset pages (seq > last seen), scanning rows without reflection, and
// reads and hashes the next page (on every core) while v checks the current one.
func (s *Store) verifyChain(ctx context.Context, v *audit.Verifier) (audit.Result, error) {
	type page struct {
		rows   []audit.Event
		chain  []string
		leaves [][]byte
		err    error
	}
	// The head first: events committed while the log is read are left for the next check,
	// and nothing committed before it is mistaken for missing.
	var head auditHead
	if err := s.db.WithContext(ctx).Take(&head, "id = 1").Error; err != nil {
		return audit.Result{}, err
	}
	var beyond atomic.Int64 // the newest event found after the head read first
	ctx, cancel := context.WithCancel(ctx)
	// Three stages: the reader reads page n+2 while the hasher hashes page n+1 (on every
	// core) and v checks page n.
	raw, pages := make(chan page, 1), make(chan page, 1)
	go func() {
		defer close(raw)
		var after int64
		for {
			rows, err := s.auditPage(ctx, after, verifyPage)
			for len(rows) > 0 && rows[len(rows)-1].Seq > head.Seq {
				beyond.Store(max(beyond.Load(), rows[len(rows)-1].Seq))
				rows = rows[:len(rows)-1]
			}
			select {
			case raw <- page{rows: rows, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(rows) < verifyPage || rows[len(rows)-1].Seq >= head.Seq {
				return
			}
			after = rows[len(rows)-1].Seq
		}
	}()
	go func() {
		defer close(pages)
		for p := range raw {
			if p.err == nil {
				p.chain, p.leaves = audit.Hashes(p.rows)
			}
			select {
			case pages <- p:
			case <-ctx.Done():
				for range raw { // the reader stops once ctx is done
				}
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range pages { // both stages have stopped when pages is closed
		}
	}()
	for p := range pages {
		if p.err != nil {
			return audit.Result{}, p.err
		}
		for i, e := range p.rows {
			if !v.AddHashed(e, p.chain[i], p.leaves[i]) {
				return v.Result(), nil
			}
		}
	}
	v.CheckHead(head.Seq, head.Hash)
	if b := beyond.Load(); b > 0 && v.Result().OK {
		// Committed since the head was read, or written without moving the head: the head
		// now tells which.
		var now auditHead
		if err := s.db.WithContext(ctx).Take(&now, "id = 1").Error; err != nil {
			return audit.Result{}, err
		}
		if now.Seq < b {
			res := v.Result()
			res.OK, res.BrokenAt = false, now.Seq+1
			res.Problem = fmt.Sprintf("the log continues to event %d but the recorded head is event %d: events %d to %d were added without moving the head", b, now.Seq, now.Seq+1, b)
			return res, nil
		}
	}
	return v.Result(), nil
}

// auditPage reads up to limit events after sequence number after, in sequence order.
func (s *Store) auditPage(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	return s.auditPageTx(s.db.WithContext(ctx), after, limit)
}

func (s *Store) auditPageTx(db *gorm.DB, after int64, limit int) ([]audit.Event, error) {
	rows, err := db.Raw(`SELECT seq, at, actor, role, action, subject_type, subject_id, campaign_id, patch_id,
		asset_id, request_id, workflow_id, details, prev_hash, hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]audit.Event, 0, limit)
	for rows.Next() {
		var e audit.Event
		if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Action, &e.SubjectType, &e.SubjectID, &e.CampaignID, &e.PatchID,
			&e.AssetID, &e.RequestID, &e.WorkflowID, &e.Details, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return err
}
