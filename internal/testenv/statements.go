package testenv

import (
	"sync"
	"testing"

	"gorm.io/gorm"
)

// StatementLog keeps the SQL of every statement a gorm database sends, so a test can count
// what a piece of code cost the database.
type StatementLog struct {
	mu  sync.Mutex
	sql []string
}

// LogStatements starts keeping db's statements (queries, creates, updates, deletes, row and
// raw statements).
func LogStatements(tb testing.TB, db *gorm.DB) *StatementLog {
	tb.Helper()
	l := &StatementLog{}
	keep := func(db *gorm.DB) {
		l.mu.Lock()
		l.sql = append(l.sql, db.Statement.SQL.String())
		l.mu.Unlock()
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("testenv:log_query", keep),
		cb.Create().After("gorm:create").Register("testenv:log_create", keep),
		cb.Update().After("gorm:update").Register("testenv:log_update", keep),
		cb.Delete().After("gorm:delete").Register("testenv:log_delete", keep),
		cb.Row().After("gorm:row").Register("testenv:log_row", keep),
		cb.Raw().After("gorm:raw").Register("testenv:log_raw", keep),
	} {
		if err != nil {
			tb.Fatalf("log the store's statements: %v", err)
		}
	}
	return l
}

// Len is how many statements were sent so far.
func (l *StatementLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sql)
}

// Since lists the statements sent after the first n that match.
func (l *StatementLog) Since(n int, match func(string) bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, sql := range l.sql[n:] {
		if match(sql) {
			out = append(out, sql)
		}
	}
	return out
}

// Count is how many statements sent so far match.
func (l *StatementLog) Count(match func(string) bool) int { return len(l.Since(0, match)) }
