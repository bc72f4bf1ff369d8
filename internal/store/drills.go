package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Drill is a restore drill plan: every IntervalHours a verified production backup of an asset
// of its product (or of its zone) is restored onto a test-bench asset of the same product and
// verified there (workflows.RestoreDrill). Exactly one of ProductID and ZoneID is set.
type Drill struct {
	ID            string             `json:"id"`
	Name          string             `json:"name"`
	ProductID     string             `json:"product_id,omitempty"`
	ZoneID        string             `json:"zone_id,omitempty"`
	IntervalHours int                `json:"interval_hours"`
	LastRunID     string             `json:"last_run_id,omitempty"`
	LastRunAt     *time.Time         `json:"last_run_at"`
	LastResult    domain.DrillResult `json:"last_result,omitempty"`
	LastPassedAt  *time.Time         `json:"last_passed_at"`
	CreatedBy     string             `json:"created_by"`
	CreatedAt     time.Time          `json:"created_at"`
}

// Interval is how often the drill must pass.
func (d Drill) Interval() time.Duration { return time.Duration(d.IntervalHours) * time.Hour }

// Due is when the drill must next pass (domain.DrillDue).
func (d Drill) Due() time.Time { return domain.DrillDue(d.CreatedAt, d.LastPassedAt, d.Interval()) }

// Overdue reports whether the drill has not passed within its interval at now.
func (d Drill) Overdue(now time.Time) bool {
	return domain.DrillOverdue(now, d.CreatedAt, d.LastPassedAt, d.Interval())
}

// DrillRun is one run of a restore drill, kept as evidence.
type DrillRun struct {
	ID               string             `json:"id"`
	DrillID          string             `json:"drill_id"`
	WorkflowID       string             `json:"workflow_id"`
	StartedBy        string             `json:"started_by" doc:"Who started the run: a person's name, or schedule"`
	Result           domain.DrillResult `json:"result"`
	Reason           string             `json:"reason,omitempty" doc:"Why the run failed"`
	SourceAssetID    string             `json:"source_asset_id,omitempty" doc:"The production asset whose backup was restored"`
	BenchAssetID     string             `json:"bench_asset_id,omitempty" doc:"The test-bench asset it was restored onto"`
	BackupCampaignID string             `json:"backup_campaign_id,omitempty" doc:"The campaign that took the backup"`
	BackupKey        string             `json:"backup_key,omitempty"`
	BackupSHA256     string             `json:"backup_sha256,omitempty" gorm:"column:backup_sha256"`
	BackupVersion    string             `json:"backup_version,omitempty" doc:"The version the production asset ran when it was backed up"`
	VerifiedVersion  string             `json:"verified_version,omitempty" doc:"The version the bench reported after the restore"`
	RestoreMS        int64              `json:"restore_ms" gorm:"column:restore_ms" doc:"Time to restore: from the start of the restore to the end of its verification, in milliseconds (0 when it did not get that far)"`
	StartedAt        time.Time          `json:"started_at"`
	FinishedAt       *time.Time         `json:"finished_at"`
}

// MaxDrills bounds the drill plans a plant keeps; OverdueDrills reads them all.
const MaxDrills = 1000

// CreateDrill stores a new drill plan.
func (s *Store) CreateDrill(ctx context.Context, d *Drill, ev Event) error {
	if d.ID == "" {
		d.ID = NewID("drl")
	}
	d.CreatedAt = s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "drill.created", "drill", d.ID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Drill{}).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxDrills {
			return fmt.Errorf("there are already %d drill plans; delete one first: %w", MaxDrills, ErrConflict)
		}
		return tx.Create(d).Error
	})
}

// Drill loads one drill plan.
func (s *Store) Drill(ctx context.Context, id string) (Drill, error) {
	var d Drill
	return d, notFound(s.db.WithContext(ctx).Take(&d, "id = ?", id).Error, "drill "+id)
}

// DrillsPage reads a page of drill plans, newest first, after the one created at afterAt with
// id afterID (zero for the first page).
func (s *Store) DrillsPage(ctx context.Context, afterAt time.Time, afterID string, limit int) ([]Drill, error) {
	out := []Drill{}
	return out, newestFirst(s.db.WithContext(ctx).Model(&Drill{}), "created_at", afterAt, afterID, limit).Find(&out).Error
}

// OverdueDrills answers the drill plans overdue at now (Drill.Overdue): no passing run within
// their interval. The dashboard, the compliance report and notifications read it.
func (s *Store) OverdueDrills(ctx context.Context, now time.Time) ([]Drill, error) {
	var all []Drill
	if err := s.db.WithContext(ctx).Order("created_at, id").Limit(MaxDrills).Find(&all).Error; err != nil {
		return nil, err
	}
	out := []Drill{}
	for _, d := range all {
		if d.Overdue(now) {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeleteDrill removes a drill plan; its runs stay as evidence.
func (s *Store) DeleteDrill(ctx context.Context, id string, ev Event) error {
	ev.Action, ev.SubjectType, ev.SubjectID = "drill.deleted", "drill", id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&Drill{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return notFound(gorm.ErrRecordNotFound, "drill "+id)
		}
		return nil
	})
}

// DrillRuns reads the runs of a drill, newest first (at most limit).
func (s *Store) DrillRuns(ctx context.Context, drillID string, limit int) ([]DrillRun, error) {
	out := []DrillRun{}
	return out, s.db.WithContext(ctx).Where("drill_id = ?", drillID).Order("started_at DESC, id DESC").Limit(limit).Find(&out).Error
}

// RecentDrillRuns reads the runs of every drill that started at or after since, newest first
// (at most limit): the compliance report's evidence.
func (s *Store) RecentDrillRuns(ctx context.Context, since time.Time, limit int) ([]DrillRun, error) {
	out := []DrillRun{}
	return out, s.db.WithContext(ctx).Where("started_at >= ?", since).Order("started_at DESC, id DESC").Limit(limit).Find(&out).Error
}

// DrillRunByID loads one run.
func (s *Store) DrillRunByID(ctx context.Context, id string) (DrillRun, error) {
	var r DrillRun
	return r, notFound(s.db.WithContext(ctx).Take(&r, "id = ?", id).Error, "drill run "+id)
}

// BeginDrillRun records that a run started (result running) on its drill. A run of the same id
// recorded before (a retried activity) is left as it is, with no second event.
func (s *Store) BeginDrillRun(ctx context.Context, r *DrillRun, ev Event) error {
	r.Result, r.StartedAt = domain.DrillRunning, s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "drill.run_started", "drill", r.DrillID
	ev.WorkflowID = r.WorkflowID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&DrillRun{}).Where("id = ?", r.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUnchanged
		}
		if err := tx.Create(r).Error; err != nil {
			return err
		}
		return tx.Model(&Drill{}).Where("id = ?", r.DrillID).
			Updates(map[string]any{"last_run_id": r.ID, "last_run_at": r.StartedAt, "last_result": string(domain.DrillRunning)}).Error
	})
}

// FinishDrillRun records how a run ended (passed or failed, with what was restored, where and
// how long it took) on the run and on its drill; a passing run moves the drill's next due
// date. A run already ended is left as it is.
func (s *Store) FinishDrillRun(ctx context.Context, r DrillRun, ev Event) (DrillRun, error) {
	now := s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "drill."+string(r.Result), "drill", r.DrillID
	ev.WorkflowID, ev.AssetID = r.WorkflowID, r.BenchAssetID
	var out DrillRun
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		if err := tx.Take(&out, "id = ?", r.ID).Error; err != nil {
			return notFound(err, "drill run "+r.ID)
		}
		if out.Result != domain.DrillRunning {
			return ErrUnchanged
		}
		out.Result, out.Reason, out.FinishedAt = r.Result, r.Reason, &now
		out.SourceAssetID, out.BenchAssetID, out.BackupCampaignID = r.SourceAssetID, r.BenchAssetID, r.BackupCampaignID
		out.BackupKey, out.BackupSHA256, out.BackupVersion, out.VerifiedVersion, out.RestoreMS = r.BackupKey, r.BackupSHA256, r.BackupVersion, r.VerifiedVersion, r.RestoreMS
		if err := tx.Save(&out).Error; err != nil {
			return err
		}
		upd := map[string]any{"last_result": string(r.Result)}
		if r.Result == domain.DrillPassed {
			upd["last_passed_at"] = now
		}
		return tx.Model(&Drill{}).Where("id = ? AND last_run_id = ?", r.DrillID, r.ID).Updates(upd).Error
	})
	return out, err
}

// ProductionBackup is a verified backup a campaign took of a production asset.
type ProductionBackup struct {
	CampaignID string
	AssetID    string
	ProductID  string
	ZoneID     string
	Key        string
	SHA256     string
	Version    string
}

// LatestProductionBackup finds the most recent verified backup a campaign took of an asset
// outside the test bench, of the product or in the zone given (exactly one of them). No
// backup is ErrNotFound.
func (s *Store) LatestProductionBackup(ctx context.Context, productID, zoneID string) (ProductionBackup, error) {
	var row struct {
		CampaignID   string
		AssetID      string
		ProductID    string
		ZoneID       string
		BackupKey    string `gorm:"column:backup_key"`
		BackupSHA256 string `gorm:"column:backup_sha256"`
		FromVersion  string `gorm:"column:from_version"`
	}
	q := s.db.WithContext(ctx).Table("campaign_assets AS ca").
		Select("ca.campaign_id, ca.asset_id, a.product_id, a.zone_id, ca.backup_key, ca.backup_sha256, ca.from_version").
		Joins("JOIN assets a ON a.id = ca.asset_id").Joins("JOIN zones z ON z.id = a.zone_id").
		Where("ca.test_bench = ? AND z.test_bench = ? AND ca.backup_key <> '' AND ca.backup_sha256 <> ''", false, false)
	if productID != "" {
		q = q.Where("a.product_id = ?", productID)
	}
	if zoneID != "" {
		q = q.Where("a.zone_id = ?", zoneID)
	}
	res := q.Order("ca.updated_at DESC, ca.campaign_id DESC, ca.asset_id").Limit(1).Scan(&row)
	if res.Error != nil {
		return ProductionBackup{}, res.Error
	}
	if res.RowsAffected == 0 {
		return ProductionBackup{}, ErrNotFound
	}
	return ProductionBackup{CampaignID: row.CampaignID, AssetID: row.AssetID, ProductID: row.ProductID, ZoneID: row.ZoneID,
		Key: row.BackupKey, SHA256: row.BackupSHA256, Version: row.FromVersion}, nil
}

// BenchAssetOf finds a test-bench asset of the product (the first by id). None is ErrNotFound.
func (s *Store) BenchAssetOf(ctx context.Context, productID string) (Asset, error) {
	var a Asset
	err := s.db.WithContext(ctx).Model(&Asset{}).Select("assets.*").Joins("JOIN zones z ON z.id = assets.zone_id").
		Where("assets.product_id = ? AND z.test_bench = ?", productID, true).Order("assets.id").Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a, ErrNotFound
	}
	return a, err
}

// DrillRunsByID loads the runs of the ids given, by id.
func (s *Store) DrillRunsByID(ctx context.Context, ids []string) (map[string]DrillRun, error) {
	out := map[string]DrillRun{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []DrillRun
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out, nil
}
