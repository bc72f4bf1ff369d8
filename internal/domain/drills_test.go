package domain

import (
	"testing"
	"time"
)

func TestDrillDue(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	passed := created.Add(10 * 24 * time.Hour)
	before := created.Add(-time.Hour)
	day := 24 * time.Hour
	for _, c := range []struct {
		name       string
		lastPassed *time.Time
		now        time.Time
		due        time.Time
		overdue    bool
	}{
		{"never run, within the interval", nil, created.Add(6 * day), created.Add(7 * day), false},
		{"never run, at the due time", nil, created.Add(7 * day), created.Add(7 * day), false},
		{"never run, past the interval", nil, created.Add(7*day + time.Second), created.Add(7 * day), true},
		{"passed since, within the interval", &passed, created.Add(16 * day), passed.Add(7 * day), false},
		{"passed since, past the interval", &passed, passed.Add(8 * day), passed.Add(7 * day), true},
		{"passed before the plan was made", &before, created.Add(8 * day), created.Add(7 * day), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := DrillDue(created, c.lastPassed, 7*day); !got.Equal(c.due) {
				t.Errorf("due %s, want %s", got, c.due)
			}
			if got := DrillOverdue(c.now, created, c.lastPassed, 7*day); got != c.overdue {
				t.Errorf("overdue %v, want %v", got, c.overdue)
			}
		})
	}
}
