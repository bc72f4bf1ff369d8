package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/otpatch/otpatch/internal/agent/jobs"
)

// entry is what the journal keeps of one attempt of one job.
type entry struct {
	JobID          string    `json:"job_id"`
	Attempt        int       `json:"attempt"`
	Op             string    `json:"op,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	ReceivedAt     time.Time `json:"received_at"`
	// Starts counts how often the agent started the job (more than one: a restart interrupted it).
	Starts int `json:"starts,omitempty"`
	// Refused is set when the job did not verify and never ran.
	Refused bool `json:"refused,omitempty"`
	// ChangeStarted is set, and on disk, before the device starts a deploy or a restore, with
	// the verified Job: a change started and without a Result was cut short by a restart, and
	// is settled from Job by asking the device, never by running it again.
	ChangeStarted *time.Time `json:"change_started,omitempty"`
	Job           *jobs.Job  `json:"job,omitempty"`
	// Result is set once the job ended; it is never run again after that.
	Result *jobs.Result `json:"result,omitempty"`
	// Reported is set once otpatch accepted the result (or no longer wanted it).
	Reported bool `json:"reported,omitempty"`
}

// journal keeps entries as files StateDir/journal/<job>-<attempt>.json, each written to a
// temporary file, synced, renamed and the directory synced, so a crash leaves the old or the
// new entry, never half, and a written entry survives a power cut.
type journal struct {
	dir string
	mu  sync.Mutex
}

// journalKeep is how long reported entries are kept.
const journalKeep = 30 * 24 * time.Hour

func openJournal(stateDir string) (*journal, error) {
	dir := filepath.Join(stateDir, "journal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &journal{dir: dir}
	for _, e := range j.all() {
		if e.Reported && time.Since(e.ReceivedAt) > journalKeep {
			_ = os.Remove(j.path(e.JobID, e.Attempt))
		}
	}
	return j, nil
}

func (j *journal) path(jobID string, attempt int) string {
	return filepath.Join(j.dir, fmt.Sprintf("%s-%d.json", filepath.Base(jobID), attempt))
}

func (j *journal) get(jobID string, attempt int) *entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := os.ReadFile(j.path(jobID, attempt))
	if err != nil {
		return nil
	}
	var e entry
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	return &e
}

func (j *journal) put(e *entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	final := j.path(e.JobID, e.Attempt)
	f, err := os.CreateTemp(j.dir, ".entry-*")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("journal: write %s: %w", final, err)
	}
	if err := syncDir(j.dir); err != nil {
		return fmt.Errorf("journal: write %s: %w", final, err)
	}
	return nil
}

// syncDir makes a rename in dir durable. A file system that cannot sync a directory makes the
// rename durable by itself or not at all; that is not an error here.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

func (j *journal) reported(e *entry) error {
	if e.Refused {
		return nil // nothing ran; nothing to remember
	}
	e.Reported = true
	return j.put(e)
}

// all lists the entries, oldest first.
func (j *journal) all() []*entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	files, _ := filepath.Glob(filepath.Join(j.dir, "*.json"))
	var out []*entry
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var e entry
		if json.Unmarshal(b, &e) == nil {
			out = append(out, &e)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ReceivedAt.Before(out[b].ReceivedAt) })
	return out
}

// cutShort reports whether e is a change a restart cut short: started on the device, without
// a result.
func (e *entry) cutShort() bool {
	return e.ChangeStarted != nil && e.Job != nil && e.Result == nil
}

// cutShort lists the changes a restart cut short.
func (j *journal) cutShort() []*entry {
	return j.where((*entry).cutShort)
}

// unreported lists entries with a result otpatch has not accepted yet.
func (j *journal) unreported() []*entry {
	return j.where(func(e *entry) bool { return e.Result != nil && !e.Reported })
}

// where lists the entries keep keeps, oldest first.
func (j *journal) where(keep func(*entry) bool) []*entry {
	var out []*entry
	for _, e := range j.all() {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}
