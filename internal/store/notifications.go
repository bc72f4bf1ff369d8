package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Notifications (internal/notify): subscriptions by e-mail, webhooks, the delivery log, the
// dispatcher's cursor over the audit log and the keys of clock-driven notifications sent.

// Subscription is a person's or a role's wish to be told of one kind of event by e-mail.
type Subscription struct {
	ID string `json:"id"`
	// UserID is the person subscribed; Role, for a role-wide subscription, the role (one of
	// the two is set).
	UserID string `json:"user_id,omitempty"`
	Role   string `json:"role,omitempty"`
	Kind   string `json:"kind"`
	Email  string `json:"email"`
	// HoursBefore is how long before a window opens a window_opening notification is sent.
	HoursBefore int       `json:"hours_before,omitempty"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// Webhook is a receiver of notifications as signed CloudEvents.
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Secret signs each delivery; it is shown once, when the webhook is created.
	Secret    string    `json:"-"`
	Kinds     string    `json:"-"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery is one attempt to deliver a notification.
type Delivery struct {
	ID              string    `json:"id"`
	NotificationKey string    `json:"notification_key"`
	Kind            string    `json:"kind"`
	Channel         string    `json:"channel"`
	Target          string    `json:"target"`
	Attempt         int       `json:"attempt"`
	Status          string    `json:"status"`
	HTTPStatus      int       `json:"http_status,omitempty"`
	Error           string    `json:"error,omitempty"`
	At              time.Time `json:"at"`
}

// TableName is the delivery log's table.
func (Delivery) TableName() string { return "notification_deliveries" }

type notificationCursor struct {
	ID  int
	Seq int64
}

func (notificationCursor) TableName() string { return "notification_cursor" }

type notificationKey struct {
	Key    string
	SentAt time.Time
}

func (notificationKey) TableName() string { return "notification_keys" }

// CreateSubscription stores a subscription.
func (s *Store) CreateSubscription(ctx context.Context, sub *Subscription, ev Event) error {
	if sub.ID == "" {
		sub.ID = NewID("sub")
	}
	sub.CreatedAt = s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "subscription.created", "subscription", sub.ID
	return s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(sub).Error })
}

// Subscription loads one subscription.
func (s *Store) Subscription(ctx context.Context, id string) (Subscription, error) {
	var sub Subscription
	return sub, notFound(s.db.WithContext(ctx).Take(&sub, "id = ?", id).Error, "subscription "+id)
}

// SubscriptionsOf lists the subscriptions of a user and of the roles given, oldest first.
func (s *Store) SubscriptionsOf(ctx context.Context, userID string, roles []string) ([]Subscription, error) {
	out := []Subscription{}
	q := s.db.WithContext(ctx).Where("user_id = ? AND user_id <> ''", userID)
	if len(roles) > 0 {
		q = q.Or("role IN ?", roles)
	}
	return out, q.Order("created_at, id").Find(&out).Error
}

// SubscriptionsTo lists every subscription to a kind of notification.
func (s *Store) SubscriptionsTo(ctx context.Context, kind string) ([]Subscription, error) {
	out := []Subscription{}
	return out, s.db.WithContext(ctx).Where("kind = ?", kind).Order("created_at, id").Find(&out).Error
}

// DeleteSubscription removes a subscription.
func (s *Store) DeleteSubscription(ctx context.Context, id string, ev Event) error {
	ev.Action, ev.SubjectType, ev.SubjectID = "subscription.deleted", "subscription", id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		return affected(tx.Where("id = ?", id).Delete(&Subscription{}), "subscription "+id)
	})
}

// CreateWebhook stores a webhook.
func (s *Store) CreateWebhook(ctx context.Context, h *Webhook, ev Event) error {
	if h.ID == "" {
		h.ID = NewID("whk")
	}
	h.CreatedAt = s.Now()
	ev.Action, ev.SubjectType, ev.SubjectID = "webhook.created", "webhook", h.ID
	return s.Write(ctx, ev, func(tx *gorm.DB) error { return tx.Create(h).Error })
}

// Webhook loads one webhook.
func (s *Store) Webhook(ctx context.Context, id string) (Webhook, error) {
	var h Webhook
	return h, notFound(s.db.WithContext(ctx).Take(&h, "id = ?", id).Error, "webhook "+id)
}

// Webhooks lists every webhook, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]Webhook, error) {
	out := []Webhook{}
	return out, s.db.WithContext(ctx).Order("created_at, id").Find(&out).Error
}

// DeleteWebhook removes a webhook; its delivery log stays.
func (s *Store) DeleteWebhook(ctx context.Context, id string, ev Event) error {
	ev.Action, ev.SubjectType, ev.SubjectID = "webhook.deleted", "webhook", id
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		return affected(tx.Where("id = ?", id).Delete(&Webhook{}), "webhook "+id)
	})
}

// RecordDelivery writes one attempt to the delivery log.
func (s *Store) RecordDelivery(ctx context.Context, d *Delivery) error {
	if d.ID == "" {
		d.ID = NewID("dlv")
	}
	if d.At.IsZero() {
		d.At = s.Now()
	}
	return s.db.WithContext(ctx).Create(d).Error
}

// Deliveries lists the attempts to deliver to a target (a webhook id or an address), newest
// first, at most limit.
func (s *Store) Deliveries(ctx context.Context, target string, limit int) ([]Delivery, error) {
	out := []Delivery{}
	return out, s.db.WithContext(ctx).Where("target = ?", target).Order("at DESC, attempt DESC").Limit(limit).Find(&out).Error
}

// NotificationCursor is the sequence of the last audit event the dispatcher handled.
func (s *Store) NotificationCursor(ctx context.Context) (int64, error) {
	var c notificationCursor
	err := s.db.WithContext(ctx).Take(&c, "id = 1").Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, nil
	}
	return c.Seq, err
}

// SetNotificationCursor moves the dispatcher's cursor to seq (never back).
func (s *Store) SetNotificationCursor(ctx context.Context, seq int64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c notificationCursor
		err := tx.Take(&c, "id = 1").Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return tx.Create(&notificationCursor{ID: 1, Seq: seq}).Error
		}
		if err != nil || c.Seq >= seq {
			return err
		}
		return tx.Model(&notificationCursor{}).Where("id = 1").Update("seq", seq).Error
	})
}

// ClaimNotificationKey records that the clock-driven notification key is sent; it reports
// false when it was already.
func (s *Store) ClaimNotificationKey(ctx context.Context, key string) (bool, error) {
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&notificationKey{Key: key, SentAt: s.Now()})
	return res.RowsAffected == 1, res.Error
}

// AppendOnce appends ev unless an event of the same key was appended before; it reports
// whether it did. The key and the event are written in one transaction.
func (s *Store) AppendOnce(ctx context.Context, key string, ev Event) (bool, error) {
	first := false
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		first = false
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&notificationKey{Key: key, SentAt: s.Now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrUnchanged
		}
		first = true
		return nil
	})
	return first, err
}

// CampaignsAwaitingWindow lists the approved and scheduled campaigns whose next window opens
// before until.
func (s *Store) CampaignsAwaitingWindow(ctx context.Context, until time.Time) ([]Campaign, error) {
	out := []Campaign{}
	return out, s.db.WithContext(ctx).Omit("plan").Where("status IN ? AND next_window_start IS NOT NULL AND next_window_start < ?",
		[]string{"approved", "scheduled"}, until.UTC()).Order("next_window_start, id").Find(&out).Error
}
