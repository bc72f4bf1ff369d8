package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// Notifications: the dispatcher (workflows.NotificationDispatch) reads the audit log from a
// stored cursor, turns each event that is told into a notification and starts one delivery
// workflow per recipient (workflows.NotificationDelivery), whose activity sends it and writes
// each attempt to the delivery log.

// Channels a notification is delivered on.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// dispatchBatch is how many audit events one PendingNotifications reads.
const dispatchBatch = 100

// DeliveryInput is one notification to deliver to one recipient.
type DeliveryInput struct {
	Notification notify.Notification `json:"notification"`
	// Channel is email or webhook; Target the address or the webhook id.
	Channel string `json:"channel"`
	Target  string `json:"target"`
	// Retry shapes the delivery's retries (from the worker's settings when dispatched).
	RetryInitialMs int64 `json:"retry_initial_ms"`
	RetryMaxMs     int64 `json:"retry_max_ms"`
	Attempts       int   `json:"attempts"`
}

// DeliveryKey identifies a delivery; its workflow id is made from it.
func (d DeliveryInput) DeliveryKey() string {
	return d.Notification.Key + "-" + d.Channel + "-" + strings.NewReplacer("@", "_at_", "/", "_").Replace(d.Target)
}

// DeliveryResult is how a delivery ended.
type DeliveryResult struct {
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

// PendingInput asks for the notifications after the dispatcher's cursor.
type PendingInput struct{}

// PendingNotifications are the deliveries due for the audit events after the cursor, and the
// sequence the cursor moves to once they are started.
type PendingNotifications struct {
	Deliveries []DeliveryInput `json:"deliveries"`
	// Through is the last audit event read; More says more events follow it.
	Through int64 `json:"through"`
	More    bool  `json:"more"`
}

// PendingNotifications reads the audit events after the cursor and makes the deliveries of
// those that are told, one per subscribed address and per webhook of the kind.
func (a *Activities) PendingNotifications(ctx context.Context, _ PendingInput) (PendingNotifications, error) {
	cursor, err := a.Store.NotificationCursor(ctx)
	if err != nil {
		return PendingNotifications{}, err
	}
	evs, err := a.Store.AuditEvents(ctx, store.AuditFilter{AfterSeq: cursor, Limit: dispatchBatch})
	if err != nil {
		return PendingNotifications{}, err
	}
	out := PendingNotifications{Through: cursor, More: len(evs) == dispatchBatch}
	hooks, err := a.Store.Webhooks(ctx)
	if err != nil {
		return out, err
	}
	for _, ev := range evs {
		out.Through = ev.Seq
		n, ok := notify.FromEvent(ev, a.Notify.BaseURL)
		if !ok {
			continue
		}
		ds, err := a.recipients(ctx, n, hooks)
		if err != nil {
			return out, err
		}
		out.Deliveries = append(out.Deliveries, ds...)
	}
	return out, nil
}

// recipients are the deliveries of n: each address subscribed to its kind once, and each
// webhook that takes its kind.
func (a *Activities) recipients(ctx context.Context, n notify.Notification, hooks []store.Webhook) ([]DeliveryInput, error) {
	initial, maximum, attempts := a.Notify.Retry()
	mk := func(channel, target string) DeliveryInput {
		return DeliveryInput{Notification: n, Channel: channel, Target: target,
			RetryInitialMs: initial.Milliseconds(), RetryMaxMs: maximum.Milliseconds(), Attempts: attempts}
	}
	var out []DeliveryInput
	if n.Kind == notify.Test { // to the webhook it was asked for only
		for _, h := range hooks {
			if h.ID == n.Data["webhook_id"] {
				out = append(out, mk(ChannelWebhook, h.ID))
			}
		}
		return out, nil
	}
	subs, err := a.Store.SubscriptionsTo(ctx, string(n.Kind))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, s := range subs {
		if h, ok := n.Data["hours_before"].(float64); ok && n.Kind == notify.WindowOpening && int(h) != s.HoursBefore {
			continue // another lead time's notification
		}
		addr := strings.ToLower(s.Email)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		out = append(out, mk(ChannelEmail, s.Email))
	}
	for _, h := range hooks {
		if WebhookTakes(h, n.Kind) {
			out = append(out, mk(ChannelWebhook, h.ID))
		}
	}
	return out, nil
}

// WebhookTakes reports whether webhook h is sent notifications of kind k.
func WebhookTakes(h store.Webhook, k notify.Kind) bool {
	if h.Kinds == "" {
		return true
	}
	for v := range strings.SplitSeq(h.Kinds, ",") {
		if v == string(k) {
			return true
		}
	}
	return false
}

// AdvanceNotifications moves the dispatcher's cursor to seq.
func (a *Activities) AdvanceNotifications(ctx context.Context, seq int64) error {
	return a.Store.SetNotificationCursor(ctx, seq)
}

// DeliverNotification makes one attempt to deliver a notification and writes it to the
// delivery log; a failed attempt is an error, retried by the workflow's policy. A webhook
// deleted since is not sent to.
func (a *Activities) DeliverNotification(ctx context.Context, in DeliveryInput) (DeliveryResult, error) {
	attempt := 1
	if activity.IsActivity(ctx) {
		attempt = int(activity.GetInfo(ctx).Attempt)
	}
	d := store.Delivery{NotificationKey: in.Notification.Key, Kind: string(in.Notification.Kind), Channel: in.Channel, Target: in.Target, Attempt: attempt}
	var err error
	switch in.Channel {
	case ChannelEmail:
		err = a.Notify.SMTP.Send(ctx, in.Target, in.Notification)
	case ChannelWebhook:
		var h store.Webhook
		h, err = a.Store.Webhook(ctx, in.Target)
		if errors.Is(err, store.ErrNotFound) {
			return DeliveryResult{Status: "dropped", Attempts: attempt}, nil
		}
		if err != nil {
			return DeliveryResult{}, err
		}
		var body []byte
		if body, err = notify.Encode(in.Notification, a.Notify.BaseURL); err == nil {
			d.HTTPStatus, err = notify.PostWebhook(ctx, a.Notify.Client(), h.URL, h.Secret, body, a.now())
		}
	default:
		err = fmt.Errorf("no channel %q", in.Channel)
	}
	d.Status = "sent"
	if err != nil {
		d.Status, d.Error = "failed", err.Error()
	}
	if rerr := a.Store.RecordDelivery(ctx, &d); rerr != nil {
		return DeliveryResult{}, errors.Join(err, rerr)
	}
	if err != nil {
		a.logger().Warn("notification not delivered", "kind", in.Notification.Kind, "channel", in.Channel, "target", in.Target, "attempt", attempt, "err", err)
		return DeliveryResult{}, err
	}
	return DeliveryResult{Status: "sent", Attempts: attempt}, nil
}
