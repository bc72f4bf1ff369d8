// Package simulator is a virtual plant: an adapter whose devices keep an installed version, a
// configuration and a health state in the database, so they survive a restart, with
// deterministic fault injection for the demo and the tests (deploy fails, verify fails, deploy
// hangs, backup corrupt, restore fails), set per asset or drawn per asset from a seed.
package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/adapters"
)

var _ adapters.Target = (*Simulator)(nil)

// Faults are the failures a device will show, set by an engineer for a test or a demo.
type Faults struct {
	// DeployFail makes every deploy fail with an installer error.
	DeployFail bool `json:"deploy_fail,omitempty"`
	// VerifyFail makes the device unhealthy after a deploy, until it is restored.
	VerifyFail bool `json:"verify_fail,omitempty"`
	// Hang makes a deploy block, reporting no progress (adapters.Stalled), until it is
	// cancelled: the deploy times out after the activity's heartbeat timeout.
	Hang bool `json:"hang,omitempty"`
	// BackupCorrupt flips a byte of every backup in transit.
	BackupCorrupt bool `json:"backup_corrupt,omitempty"`
	// RestoreFail makes every restore fail, so a failed asset ends rollback_failed.
	RestoreFail bool `json:"restore_fail,omitempty"`
}

// FaultRates are the chances (0 to 1) of each fault per asset when faults are drawn from a seed.
type FaultRates struct {
	DeployFail    float64 `json:"deploy_fail,omitempty"`
	VerifyFail    float64 `json:"verify_fail,omitempty"`
	Hang          float64 `json:"hang,omitempty"`
	BackupCorrupt float64 `json:"backup_corrupt,omitempty"`
	RestoreFail   float64 `json:"restore_fail,omitempty"`
}

// Draw returns the faults of assetID drawn with rates from seed. The same seed, asset and
// rates always draw the same faults, whatever other assets exist, so a demo or a test that
// names its seed is reproducible.
func Draw(seed uint64, assetID string, r FaultRates) Faults {
	h := fnv.New64a()
	_, _ = h.Write([]byte(assetID))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	roll := func(p float64) bool { return rng.Float64() < p }
	return Faults{DeployFail: roll(r.DeployFail), VerifyFail: roll(r.VerifyFail), Hang: roll(r.Hang),
		BackupCorrupt: roll(r.BackupCorrupt), RestoreFail: roll(r.RestoreFail)}
}

// InjectSeeded sets the faults of each asset in assetIDs to those drawn from seed, and returns
// the assets that got any fault.
func (s *Simulator) InjectSeeded(ctx context.Context, seed uint64, r FaultRates, assetIDs []string) (map[string]Faults, error) {
	out := map[string]Faults{}
	for _, id := range assetIDs {
		f := Draw(seed, id, r)
		if err := s.SetFaults(ctx, nil, id, f); err != nil {
			return nil, err
		}
		if f != (Faults{}) {
			out[id] = f
		}
	}
	return out, nil
}

// Device is a simulated device's state.
type Device struct {
	AssetID   string    `json:"asset_id" gorm:"primaryKey"`
	Version   string    `json:"version"`
	Config    string    `json:"config"`
	Health    string    `json:"health"`
	Faults    string    `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TableName maps Device to its table.
func (Device) TableName() string { return "sim_devices" }

// Operation is one change applied to a device, keyed by its idempotency key.
type Operation struct {
	IdempotencyKey string    `json:"idempotency_key" gorm:"primaryKey"`
	AssetID        string    `json:"asset_id"`
	Op             string    `json:"op"`
	Detail         string    `json:"detail"`
	At             time.Time `json:"at"`
}

// TableName maps Operation to its table.
func (Operation) TableName() string { return "sim_operations" }

// Simulator implements adapters.Target over the sim_devices and sim_operations tables.
type Simulator struct {
	db *gorm.DB
	// Step is how long each simulated operation takes.
	step time.Duration
	now  func() time.Time
}

// New returns a simulator over db; each operation takes step.
func New(db *gorm.DB, step time.Duration, now func() time.Time) *Simulator {
	if now == nil {
		now = time.Now
	}
	return &Simulator{db: db, step: step, now: now}
}

// ErrUnknownDevice is returned for an asset the simulator does not model.
var ErrUnknownDevice = errors.New("no simulated device for this asset")

// Register creates or resets a simulated device.
func (s *Simulator) Register(ctx context.Context, assetID, version, config string) error {
	d := Device{AssetID: assetID, Version: version, Config: config, Health: "ok", Faults: "{}", UpdatedAt: s.now().UTC()}
	return s.db.WithContext(ctx).Save(&d).Error
}

// Device loads a device.
func (s *Simulator) Device(ctx context.Context, assetID string) (Device, error) {
	var d Device
	err := s.db.WithContext(ctx).Take(&d, "asset_id = ?", assetID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return d, fmt.Errorf("asset %s: %w", assetID, ErrUnknownDevice)
	}
	return d, err
}

// Faults returns a device's injected faults.
func (s *Simulator) Faults(ctx context.Context, assetID string) (Faults, error) {
	d, err := s.Device(ctx, assetID)
	if err != nil {
		return Faults{}, err
	}
	var f Faults
	return f, json.Unmarshal([]byte(d.Faults), &f)
}

// SetFaults replaces a device's injected faults. tx, when not nil, is the transaction to write
// in (so the change and its audit event commit together).
func (s *Simulator) SetFaults(ctx context.Context, tx *gorm.DB, assetID string, f Faults) error {
	if tx == nil {
		tx = s.db
	}
	b, _ := json.Marshal(f)
	res := tx.WithContext(ctx).Model(&Device{}).Where("asset_id = ?", assetID).
		Updates(map[string]any{"faults": string(b), "updated_at": s.now().UTC()})
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("asset %s: %w", assetID, ErrUnknownDevice)
	}
	return res.Error
}

// Operations lists the changes applied to a device, oldest first.
func (s *Simulator) Operations(ctx context.Context, assetID string) ([]Operation, error) {
	var ops []Operation
	return ops, s.db.WithContext(ctx).Where("asset_id = ?", assetID).Order("at").Find(&ops).Error
}

type snapshot struct {
	AssetID string `json:"asset_id"`
	Version string `json:"version"`
	Config  string `json:"config"`
}

func (s *Simulator) wait(ctx context.Context) error {
	if s.step <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(s.step)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backup returns the device's version and configuration as JSON, with its checksum.
func (s *Simulator) Backup(ctx context.Context, assetID string) (io.ReadCloser, string, error) {
	d, err := s.Device(ctx, assetID)
	if err != nil {
		return nil, "", err
	}
	if err := s.wait(ctx); err != nil {
		return nil, "", err
	}
	b, _ := json.Marshal(snapshot{AssetID: d.AssetID, Version: d.Version, Config: d.Config})
	sum := sha256.Sum256(b)
	f, err := s.Faults(ctx, assetID)
	if err != nil {
		return nil, "", err
	}
	if f.BackupCorrupt {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0x20
	}
	return io.NopCloser(bytes.NewReader(b)), hex.EncodeToString(sum[:]), nil
}

// Deploy installs req.ToVersion once per idempotency key.
func (s *Simulator) Deploy(ctx context.Context, assetID string, req adapters.DeployRequest) error {
	if req.IdempotencyKey == "" {
		return errors.New("deploy needs an idempotency key")
	}
	f, err := s.Faults(ctx, assetID)
	if err != nil {
		return err
	}
	if done, err := s.applied(ctx, req.IdempotencyKey); err != nil || done {
		return err
	}
	if f.Hang {
		// The device stops answering: no progress, so the activity's heartbeats stop and
		// Temporal times the attempt out after the heartbeat timeout.
		adapters.Stalled(ctx)
		<-ctx.Done()
		return fmt.Errorf("deploy to %s hung: %w", assetID, ctx.Err())
	}
	if err := s.wait(ctx); err != nil {
		return err
	}
	if f.DeployFail {
		return fmt.Errorf("installer on %s exited with status 3 (injected fault deploy_fail)", assetID)
	}
	health := "ok"
	if f.VerifyFail {
		health = "faulted: controller watchdog tripped after restart (injected fault verify_fail)"
	}
	// What a device's installer prints, so that the deployment log of a simulated device reads
	// as a real one's does.
	adapters.Output(ctx, "stdout", fmt.Sprintf("simulated installer: %s installs %s, version %s; restarting the device\n", assetID, req.PatchID, req.ToVersion))
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		op := Operation{IdempotencyKey: req.IdempotencyKey, AssetID: assetID, Op: "deploy", Detail: req.PatchID + " → " + req.ToVersion, At: s.now().UTC()}
		if err := tx.Create(&op).Error; err != nil {
			return err
		}
		return tx.Model(&Device{}).Where("asset_id = ?", assetID).
			Updates(map[string]any{"version": req.ToVersion, "health": health, "updated_at": s.now().UTC()}).Error
	})
}

func (s *Simulator) applied(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Operation{}).Where("idempotency_key = ?", key).Count(&n).Error
	return n > 0, err
}

// Verify reports the device's version and health.
func (s *Simulator) Verify(ctx context.Context, assetID string, _ adapters.VerifyRequest) (adapters.VerifyResult, error) {
	if err := s.wait(ctx); err != nil {
		return adapters.VerifyResult{}, err
	}
	d, err := s.Device(ctx, assetID)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	return adapters.VerifyResult{Version: d.Version, Healthy: d.Health == "ok", Detail: d.Health}, nil
}

// Restore puts a backup back once per idempotency key and clears the device's health fault.
func (s *Simulator) Restore(ctx context.Context, assetID string, req adapters.RestoreRequest) error {
	key, backup := req.IdempotencyKey, req.Backup
	if key == "" {
		return errors.New("restore needs an idempotency key")
	}
	if done, err := s.applied(ctx, key); err != nil || done {
		return err
	}
	f, err := s.Faults(ctx, assetID)
	if err != nil {
		return err
	}
	if f.RestoreFail {
		return fmt.Errorf("restore on %s failed: the device refused the configuration image (injected fault restore_fail)", assetID)
	}
	var snap snapshot
	if err := json.NewDecoder(io.LimitReader(backup, 1<<20)).Decode(&snap); err != nil {
		return fmt.Errorf("backup of %s is not a simulator snapshot: %w", assetID, err)
	}
	if snap.AssetID != assetID && (req.Source == "" || snap.AssetID != req.Source) {
		return fmt.Errorf("backup belongs to asset %s, not %s", snap.AssetID, assetID)
	}
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		op := Operation{IdempotencyKey: key, AssetID: assetID, Op: "restore", Detail: "restored " + snap.Version, At: s.now().UTC()}
		if err := tx.Create(&op).Error; err != nil {
			return err
		}
		return tx.Model(&Device{}).Where("asset_id = ?", assetID).
			Updates(map[string]any{"version": snap.Version, "config": snap.Config, "health": "ok", "updated_at": s.now().UTC()}).Error
	})
}

// ExpectedDuration is backup, deploy and verify at the simulator's step.
func (s *Simulator) ExpectedDuration(string) time.Duration { return 3*s.step + time.Second }
