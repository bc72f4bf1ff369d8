package domain

import "time"

// DrillResult is how a run of a restore drill ended.
type DrillResult string

// Results of a restore drill run.
const (
	// DrillRunning: the run has started and not ended.
	DrillRunning DrillResult = "running"
	// DrillPassed: a verified production backup was restored onto the test bench and the bench
	// then reported the backup's version and was healthy.
	DrillPassed DrillResult = "passed"
	// DrillFailed: the run could not restore or verify; its reason says why (no backup to
	// restore, no bench asset of the product, the restore or the verification failed).
	DrillFailed DrillResult = "failed"
)

// DrillResults lists every DrillResult.
func DrillResults() []DrillResult { return []DrillResult{DrillRunning, DrillPassed, DrillFailed} }

// Bounds of a drill's interval, in hours: from a day to a year; the default is 90 days.
const (
	MinDrillInterval     = 24
	MaxDrillInterval     = 366 * 24
	DefaultDrillInterval = 90 * 24
)

// DrillDue is when a restore drill must next pass: interval after its last passing run, or
// after the plan was made when no run has passed yet.
func DrillDue(created time.Time, lastPassed *time.Time, interval time.Duration) time.Time {
	from := created
	if lastPassed != nil && lastPassed.After(from) {
		from = *lastPassed
	}
	return from.Add(interval)
}

// DrillOverdue reports whether a restore drill is overdue at now: its due time has passed
// with no passing run since.
func DrillOverdue(now, created time.Time, lastPassed *time.Time, interval time.Duration) bool {
	return now.After(DrillDue(created, lastPassed, interval))
}
