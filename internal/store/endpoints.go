package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
)

// AssetEndpoint returns how the asset is reached; it is an adapters.EndpointLookup.
func (s *Store) AssetEndpoint(ctx context.Context, assetID string) (adapters.Endpoint, error) {
	a, err := s.Asset(ctx, assetID)
	if err != nil {
		return adapters.Endpoint{}, err
	}
	if a.Endpoint == nil {
		return adapters.Endpoint{}, fmt.Errorf("asset %s (%s) has no endpoint: set one with PUT /api/v1/assets/%s/endpoint", a.Name, a.ID, a.ID)
	}
	return *a.Endpoint, nil
}

// SetAssetEndpoint changes how an asset is reached.
func (s *Store) SetAssetEndpoint(ctx context.Context, assetID string, e adapters.Endpoint, ev Event) error {
	ev.SubjectType, ev.SubjectID, ev.AssetID = "asset", assetID, assetID
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		return affected(tx.Model(&Asset{}).Where("id = ?", assetID).Updates(map[string]any{"endpoint": string(b), "updated_at": s.Now()}), "asset "+assetID)
	})
}

// DeploymentLogLine is a piece of what a device printed during one operation of a campaign.
type DeploymentLogLine struct {
	ID         string    `json:"-"`
	Seq        int64     `json:"seq"`
	CampaignID string    `json:"campaign_id"`
	AssetID    string    `json:"asset_id"`
	Stream     string    `json:"stream"`
	Text       string    `json:"text"`
	At         time.Time `json:"at"`
}

// MaxDeploymentLogText bounds one piece of a deployment log.
const MaxDeploymentLogText = 64 << 10

var logSeq atomic.Int64

// AppendDeploymentLog records device output. It is not part of the audit chain: the chain
// records each operation and its outcome; the log keeps the device's own words beside them.
func (s *Store) AppendDeploymentLog(ctx context.Context, campaignID, assetID, stream, text string) error {
	l := NewDeploymentLogLine(campaignID, assetID, stream, text, s.Now())
	return s.db.WithContext(ctx).Create(&l).Error
}

// NewDeploymentLogLine is one piece of device output as the log keeps it: text that
// PostgreSQL takes, at most MaxDeploymentLogText bytes, numbered after every piece before it.
func NewDeploymentLogLine(campaignID, assetID, stream, text string, at time.Time) DeploymentLogLine {
	// PostgreSQL's TEXT takes neither NUL nor invalid UTF-8, which an installer may print.
	text = strings.ToValidUTF8(strings.ReplaceAll(text, "\x00", ""), "\uFFFD")
	if len(text) > MaxDeploymentLogText {
		cut := MaxDeploymentLogText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "\n[… truncated]"
	}
	seq := time.Now().UnixNano()
	for {
		last := logSeq.Load()
		if seq <= last {
			seq = last + 1
		}
		if logSeq.CompareAndSwap(last, seq) {
			break
		}
	}
	return DeploymentLogLine{ID: NewID("log"), Seq: seq, CampaignID: campaignID, AssetID: assetID, Stream: stream, Text: text, At: at}
}

// LogCursor is where a page of a deployment log starts: after the piece with this seq and id.
// The zero cursor starts at the first piece.
type LogCursor struct {
	Seq int64
	ID  string
}

// DeploymentLog returns an asset's log within a campaign, oldest first: at most n pieces after
// the cursor.
func (s *Store) DeploymentLog(ctx context.Context, campaignID, assetID string, after LogCursor, n int) ([]DeploymentLogLine, error) {
	out := []DeploymentLogLine{}
	q := s.db.WithContext(ctx).Where("campaign_id = ? AND asset_id = ?", campaignID, assetID)
	if after != (LogCursor{}) {
		q = q.Where("(seq > ? OR (seq = ? AND id > ?))", after.Seq, after.Seq, after.ID)
	}
	return out, q.Order("seq, id").Limit(n).Find(&out).Error
}

// CampaignIncludes reports whether the asset is one of the campaign's.
func (s *Store) CampaignIncludes(ctx context.Context, campaignID, assetID string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&CampaignAsset{}).Where("campaign_id = ? AND asset_id = ?", campaignID, assetID).Count(&n).Error
	return n > 0, err
}

// TableName maps DeploymentLogLine to its table.
func (DeploymentLogLine) TableName() string { return "deployment_logs" }

// AssetNames returns the names of a campaign's assets by id, in one query.
func (s *Store) AssetNames(ctx context.Context, cas []CampaignAsset) (map[string]string, error) {
	out := make(map[string]string, len(cas))
	if len(cas) == 0 {
		return out, nil
	}
	var rows []struct{ ID, Name string }
	err := s.db.WithContext(ctx).Table("assets").Select("assets.id, assets.name").
		Joins("JOIN campaign_assets ca ON ca.asset_id = assets.id AND ca.campaign_id = ?", cas[0].CampaignID).Scan(&rows).Error
	for _, r := range rows {
		out[r.ID] = r.Name
	}
	return out, err
}

// ActiveCampaignOf returns a campaign not yet ended that includes the asset, or "" for none.
func (s *Store) ActiveCampaignOf(ctx context.Context, assetID string) (string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Table("campaign_assets").Select("campaign_assets.campaign_id").
		Joins("JOIN campaigns ON campaigns.id = campaign_assets.campaign_id").
		Where("campaign_assets.asset_id = ? AND campaigns.status NOT IN ?", assetID, domain.TerminalStatuses()).
		Order("campaign_assets.campaign_id").Limit(1).Pluck("campaign_assets.campaign_id", &ids).Error
	if err != nil || len(ids) == 0 {
		return "", err
	}
	return ids[0], nil
}
