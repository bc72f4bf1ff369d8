package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Database computes gauges from otpatch's database at scrape time, so every API replica
// reports the same numbers and no process has to count transitions it did not see.
type Database struct {
	db  *gorm.DB
	now func() time.Time

	campaigns, assets, alarms, open, waiting, wait, up *prometheus.Desc
	// statuses and states are every campaign status and asset state: each is reported,
	// 0 when no campaign or asset is in it, so a dashboard and an alert see it from the start.
	statuses, states []string
}

var _ prometheus.Collector = (*Database)(nil)

// NewDatabase returns the collector over db.
func NewDatabase(db *gorm.DB, now func() time.Time) *Database {
	if now == nil {
		now = time.Now
	}
	var statuses, states []string
	for _, s := range domain.CampaignStatusInfo() {
		statuses = append(statuses, s.Value)
	}
	for _, s := range domain.AssetStates() {
		states = append(states, string(s))
	}
	return &Database{db: db, now: now, statuses: statuses, states: states,
		alarms:    prometheus.NewDesc("otpatch_alarms", "Alarms that ask a person for action (a failed rollback, a broken audit log, an unknown device) and are not cleared, by kind and severity.", []string{"kind", "severity"}, nil),
		open:      prometheus.NewDesc("otpatch_alarms_open", "Alarms not cleared, all kinds together (0 when there are none): the one series to alert on.", nil, nil),
		campaigns: prometheus.NewDesc("otpatch_campaigns", "Campaigns by status.", []string{"status"}, nil),
		assets: prometheus.NewDesc("otpatch_campaign_assets", "Production (non test-bench) assets of all campaigns by state: done = deployed and verified, "+
			"failed, rolled_back, rollback_failed, drifted (left untouched: the device did not run the plan's version), not_started (the campaign ended first), "+
			"aborted (restored after an abort), and the states in between.", []string{"state"}, nil),
		waiting: prometheus.NewDesc("otpatch_campaigns_waiting_for_window", "Approved campaigns waiting for their maintenance window to open.", nil, nil),
		wait:    prometheus.NewDesc("otpatch_window_wait_seconds", "Longest time until the maintenance window opens among the campaigns waiting for one (0 when none waits).", nil, nil),
		up:      prometheus.NewDesc("otpatch_database_scrape_ok", "1 when the gauges above could be read from the database.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (d *Database) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{d.campaigns, d.assets, d.alarms, d.open, d.waiting, d.wait, d.up} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (d *Database) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok := 1.0
	var rows []struct {
		Key string
		N   int64
	}
	if err := d.db.WithContext(ctx).Raw(`SELECT status AS key, COUNT(*) AS n FROM campaigns GROUP BY status`).Scan(&rows).Error; err != nil {
		ok = 0
	}
	emitAll(ch, d.campaigns, d.statuses, rows)
	rows = nil
	if err := d.db.WithContext(ctx).Raw(`SELECT state AS key, COUNT(*) AS n FROM campaign_assets WHERE test_bench = ? GROUP BY state`, false).Scan(&rows).Error; err != nil {
		ok = 0
	}
	emitAll(ch, d.assets, d.states, rows)
	var alarms []struct {
		Kind, Severity string
		N              int64
	}
	if err := d.db.WithContext(ctx).Raw(`SELECT kind, severity, COUNT(*) AS n FROM alarms WHERE cleared_at IS NULL GROUP BY kind, severity`).Scan(&alarms).Error; err != nil {
		ok = 0
	}
	var open int64
	for _, a := range alarms {
		ch <- prometheus.MustNewConstMetric(d.alarms, prometheus.GaugeValue, float64(a.N), a.Kind, a.Severity)
		open += a.N
	}
	ch <- prometheus.MustNewConstMetric(d.open, prometheus.GaugeValue, float64(open))
	var starts []time.Time
	if err := d.db.WithContext(ctx).Raw(`SELECT next_window_start FROM campaigns WHERE status = ? AND next_window_start IS NOT NULL`, "scheduled").Scan(&starts).Error; err != nil {
		ok = 0
	}
	longest := 0.0
	now := d.now()
	for _, s := range starts {
		if w := s.Sub(now).Seconds(); w > longest {
			longest = w
		}
	}
	ch <- prometheus.MustNewConstMetric(d.waiting, prometheus.GaugeValue, float64(len(starts)))
	ch <- prometheus.MustNewConstMetric(d.wait, prometheus.GaugeValue, longest)
	ch <- prometheus.MustNewConstMetric(d.up, prometheus.GaugeValue, ok)
}

// emitAll reports the count of every known value (0 when none), then any value in the
// database the list does not know (a newer version's).
func emitAll(ch chan<- prometheus.Metric, desc *prometheus.Desc, known []string, rows []struct {
	Key string
	N   int64
}) {
	counts := map[string]int64{}
	for _, r := range rows {
		counts[r.Key] = r.N
	}
	for _, k := range known {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[k]), k)
		delete(counts, k)
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), k)
	}
}
