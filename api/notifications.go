package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// Notifications (internal/notify): staff subscribe an e-mail address to kinds of event, an
// admin also for a whole role (a distribution list); admins register webhooks that receive
// signed CloudEvents, read their delivery log and send them a test. Vendors are told nothing:
// every kind speaks of the plant.

// Bounds of notification requests.
const (
	maxNotifyEmail   = 254
	maxWebhookURL    = 2000
	maxHoursBefore   = 24 * 14
	deliveriesShown  = 100
	webhookSecretLen = 32
)

// subscriptionRequest subscribes an address to a kind of notification.
type subscriptionRequest struct {
	Kind        string `json:"kind" doc:"What to be told of: approval_requested, plan_changed, window_opening, campaign_completed, campaign_halted, campaign_rolled_back, alarm_raised, nerc_due, nerc_overdue or drill_overdue"`
	Email       string `json:"email" doc:"The address the e-mail goes to (at most 254 characters)"`
	HoursBefore int    `json:"hours_before,omitempty" doc:"For window_opening: how many hours before an approved campaign's window opens (1 to 336); default 24"`
	Role        string `json:"role,omitempty" doc:"Admins only: subscribe the address for everyone acting in this role (engineer, approver, safety, auditor or admin), as a distribution list; left out, the subscription is the caller's own"`
}

// subscriptionView is a subscription as the API shows it.
type subscriptionView struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Description string    `json:"description" doc:"What the kind tells, in words"`
	Email       string    `json:"email"`
	HoursBefore int       `json:"hours_before,omitempty" doc:"For window_opening: how many hours before the window opens"`
	Role        string    `json:"role,omitempty" doc:"Set for a role-wide subscription: the role it is for"`
	Own         bool      `json:"own" doc:"Whether it is the caller's own (else role-wide)"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

func subscriptionOf(s store.Subscription) subscriptionView {
	return subscriptionView{ID: s.ID, Kind: s.Kind, Description: notify.Describe(notify.Kind(s.Kind)), Email: s.Email, HoursBefore: s.HoursBefore,
		Role: s.Role, Own: s.UserID != "", CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt}
}

// subscriptionList is the caller's subscriptions and the kinds there are.
type subscriptionList struct {
	Items []subscriptionView `json:"items" doc:"The caller's own subscriptions and those of the role the caller acts in"`
	Kinds []kindView         `json:"kinds" doc:"Every kind one may subscribe to"`
}

type kindView struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

func kindViews() []kindView {
	out := make([]kindView, 0, len(notify.Kinds))
	for _, k := range notify.Kinds {
		out = append(out, kindView{Kind: string(k), Description: notify.Describe(k)})
	}
	return out
}

func (s *server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	subs, err := s.Store.SubscriptionsOf(r.Context(), a.UserID, []string{string(a.Role)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := subscriptionList{Items: make([]subscriptionView, 0, len(subs)), Kinds: kindViews()}
	for _, sub := range subs {
		out.Items = append(out.Items, subscriptionOf(sub))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) createSubscription(w http.ResponseWriter, r *http.Request) {
	var in subscriptionRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	a := actorOf(r)
	v := &domain.ValidationError{What: "subscription"}
	kind := notify.Kind(in.Kind)
	if !notify.Valid(kind) {
		v.Add("kind", "is not a kind of notification; the kinds are %s", kindList())
	}
	checkEmail(v, "email", in.Email)
	hours := 0
	if kind == notify.WindowOpening {
		hours = in.HoursBefore
		if hours == 0 {
			hours = 24
		}
		if hours < 1 || hours > maxHoursBefore {
			v.Add("hours_before", "must be 1 to %d hours, got %d", maxHoursBefore, in.HoursBefore)
		}
	} else if in.HoursBefore != 0 {
		v.Add("hours_before", "is only for window_opening")
	}
	role := domain.Role(in.Role)
	if in.Role != "" && (role == domain.RoleVendor || !slices.Contains(staff, role)) {
		v.Add("role", "must be engineer, approver, safety, auditor or admin")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.Role == "" && a.UserID == "" {
		s.refuse(w, r, http.StatusForbidden, "subscription.refused", "this credential belongs to no person; sign in as yourself to subscribe")
		return
	}
	if in.Role != "" && a.Role != domain.RoleAdmin {
		s.refuse(w, r, http.StatusForbidden, "subscription.refused", "only an admin subscribes a whole role")
		return
	}
	sub := store.Subscription{Kind: in.Kind, Email: strings.TrimSpace(in.Email), HoursBefore: hours, Role: in.Role, CreatedBy: a.Name}
	if in.Role == "" {
		sub.UserID = a.UserID
	}
	ev := event(r, "subscription.created")
	ev.Details = map[string]any{"kind": sub.Kind, "email": sub.Email, "role": sub.Role, "user_id": sub.UserID, "hours_before": hours}
	if err := s.Store.CreateSubscription(r.Context(), &sub, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "subscriptions", sub.ID)
	writeJSON(w, http.StatusCreated, subscriptionOf(sub))
}

func kindList() string {
	names := make([]string, len(notify.Kinds))
	for i, k := range notify.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func checkEmail(v *domain.ValidationError, field, s string) {
	switch a, err := mail.ParseAddress(s); {
	case s == "":
		v.Add(field, "is required")
	case len(s) > maxNotifyEmail:
		v.Add(field, "is longer than %d characters", maxNotifyEmail)
	case err != nil || a.Address != strings.TrimSpace(s):
		v.Add(field, "is not an e-mail address (name@example.org)")
	}
}

// deleteSubscription removes the caller's own subscription, or (an admin) a role-wide one;
// another person's is not found.
func (s *server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "subscriptionID")
	a := actorOf(r)
	sub, err := s.Store.Subscription(r.Context(), id)
	if err == nil && !(sub.UserID != "" && sub.UserID == a.UserID) && !(sub.Role != "" && a.Role == domain.RoleAdmin) {
		err = fmt.Errorf("subscription %s: %w", id, store.ErrNotFound)
	}
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "subscription "+id)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "subscription.deleted")
	ev.Details = map[string]any{"kind": sub.Kind, "email": sub.Email, "role": sub.Role, "user_id": sub.UserID}
	if err := s.Store.DeleteSubscription(r.Context(), id, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webhookRequest registers a webhook.
type webhookRequest struct {
	URL   string   `json:"url" doc:"Where the CloudEvents are POSTed (http or https, at most 2000 characters)"`
	Kinds []string `json:"kinds,omitempty" doc:"The kinds it is sent; left out or empty, every kind"`
}

// webhookView is a webhook as the API shows it.
type webhookView struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Kinds     []string  `json:"kinds" doc:"The kinds it is sent; empty: every kind"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Secret is only in the answer of its creation.
	Secret string `json:"secret,omitempty" doc:"The secret the Otpatch-Signature header is made with: shown once, in the answer that creates the webhook, never again"`
}

func webhookOf(h store.Webhook) webhookView {
	return webhookView{ID: h.ID, URL: h.URL, Kinds: splitList(h.Kinds), CreatedBy: h.CreatedBy, CreatedAt: h.CreatedAt}
}

// webhookList is every webhook.
type webhookList struct {
	Items []webhookView `json:"items"`
}

// deliveryList is a webhook's delivery log.
type deliveryList struct {
	Items []store.Delivery `json:"items" doc:"Every attempt (at most 100), newest first: attempt number, sent or failed, the receiver's HTTP status and the error"`
}

// testView answers a test request.
type testView struct {
	NotificationKey string `json:"notification_key" doc:"The key of the test notification; its attempts show in the delivery log under it"`
	Started         int    `json:"started" doc:"How many deliveries the dispatch started (1, or 0 when it was started already)"`
}

func (s *server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var in webhookRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "webhook"}
	if v.Text("url", in.URL, maxWebhookURL); len(v.Fields) == 0 {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			v.Add("url", "must be an http or https URL without user name or password")
		}
	}
	if len(in.Kinds) > len(notify.Kinds) {
		v.Add("kinds", "lists %d kinds; there are %d", len(in.Kinds), len(notify.Kinds))
	} else {
		for i, k := range in.Kinds {
			if !notify.Valid(notify.Kind(k)) {
				v.Add(fmt.Sprintf("kinds[%d]", i), "is not a kind of notification; the kinds are %s", kindList())
			}
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	secret := make([]byte, webhookSecretLen)
	_, _ = rand.Read(secret)
	h := store.Webhook{URL: in.URL, Secret: "whsec_" + hex.EncodeToString(secret), Kinds: strings.Join(in.Kinds, ","), CreatedBy: actorOf(r).Name}
	ev := event(r, "webhook.created")
	ev.Details = map[string]any{"url": h.URL, "kinds": in.Kinds}
	if err := s.Store.CreateWebhook(r.Context(), &h, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	view := webhookOf(h)
	view.Secret = h.Secret
	w.Header().Set("Cache-Control", "no-store")
	locateCreated(w, "webhooks", h.ID)
	writeJSON(w, http.StatusCreated, view)
}

func (s *server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	hs, err := s.Store.Webhooks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := webhookList{Items: make([]webhookView, 0, len(hs))}
	for _, h := range hs {
		out.Items = append(out.Items, webhookOf(h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) loadWebhook(w http.ResponseWriter, r *http.Request) (store.Webhook, bool) {
	id := chi.URLParam(r, "webhookID")
	h, err := s.Store.Webhook(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "webhook "+id)
		return h, false
	}
	if err != nil {
		s.fail(w, r, err)
		return h, false
	}
	return h, true
}

func (s *server) getWebhook(w http.ResponseWriter, r *http.Request) {
	if h, ok := s.loadWebhook(w, r); ok {
		writeJSON(w, http.StatusOK, webhookOf(h))
	}
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	h, ok := s.loadWebhook(w, r)
	if !ok {
		return
	}
	ev := event(r, "webhook.deleted")
	ev.Details = map[string]any{"url": h.URL}
	if err := s.Store.DeleteWebhook(r.Context(), h.ID, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) webhookDeliveries(w http.ResponseWriter, r *http.Request) {
	h, ok := s.loadWebhook(w, r)
	if !ok {
		return
	}
	ds, err := s.Store.Deliveries(r.Context(), h.ID, deliveriesShown)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, deliveryList{Items: ds})
}

// testWebhook records the request for a test (an audit event the dispatcher tells as a test
// notification to this webhook only) and runs the dispatcher now; the attempts then show in
// the delivery log.
func (s *server) testWebhook(w http.ResponseWriter, r *http.Request) {
	h, ok := s.loadWebhook(w, r)
	if !ok {
		return
	}
	ev := event(r, notify.TestAction)
	ev.SubjectType, ev.SubjectID = "webhook", h.ID
	ae, err := s.Store.Append(r.Context(), ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.engine.DispatchNotifications(r.Context())
	if err != nil {
		s.internal(w, r, fmt.Errorf("dispatch of notifications: %w", err))
		return
	}
	writeJSON(w, http.StatusAccepted, testView{NotificationKey: fmt.Sprintf("audit-%d", ae.Seq), Started: res.Started})
}

// notificationOperations are the routes of notifications.go.
func (s *server) notificationOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/api/v1/subscriptions", ID: "listSubscriptions", Tag: "Notifications", Allow: staff,
			Summary:     "List my subscriptions and the kinds of notification",
			Description: "The caller's own subscriptions and those an admin made for the role the caller acts in, oldest first, with every kind one may subscribe to.",
			Answers:     []answer{ok(subscriptionList{})}, Handle: s.listSubscriptions},
		{Method: "POST", Path: "/api/v1/subscriptions", ID: "createSubscription", Tag: "Notifications", Allow: staff,
			Summary: "Subscribe an e-mail address to a kind of notification",
			Description: "The caller's own subscription; with role, an admin subscribes the address (a distribution list) for everyone acting in that role. " +
				"Each notification links to the page where the person acts. Vendors are not told of the plant and may not subscribe.",
			Body: subscriptionRequest{}, Answers: []answer{created(subscriptionView{})}, Handle: s.createSubscription},
		{Method: "DELETE", Path: "/api/v1/subscriptions/{subscriptionID}", ID: "deleteSubscription", Tag: "Notifications", Allow: staff,
			Roles:   "staff (own; admin also role-wide)",
			Summary: "Unsubscribe", Description: "Removes the caller's own subscription, or (an admin) a role-wide one; another person's answers 404.",
			Answers: []answer{noContent}, Handle: s.deleteSubscription},
		{Method: "POST", Path: "/api/v1/webhooks", ID: "createWebhook", Tag: "Notifications", Allow: admins,
			Summary: "Register a webhook",
			Description: "Notifications of the kinds given are POSTed to the URL as CloudEvents 1.0 in structured mode (application/cloudevents+json), " +
				"signed in the header Otpatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of the seconds, a dot and the body, keyed with the secret>. " +
				"The secret is in this answer only, never again. A delivery the receiver does not answer 2xx is retried with back-off.",
			Body: webhookRequest{}, Answers: []answer{created(webhookView{})}, Handle: s.createWebhook},
		{Method: "GET", Path: "/api/v1/webhooks", ID: "listWebhooks", Tag: "Notifications", Allow: admins,
			Summary: "List the webhooks", Description: "Oldest first, without their secrets.",
			Answers: []answer{ok(webhookList{})}, Handle: s.listWebhooks},
		{Method: "GET", Path: "/api/v1/webhooks/{webhookID}", ID: "getWebhook", Tag: "Notifications", Allow: admins,
			Summary: "Show a webhook", Description: "Without its secret.",
			Answers: []answer{ok(webhookView{})}, Handle: s.getWebhook},
		{Method: "DELETE", Path: "/api/v1/webhooks/{webhookID}", ID: "deleteWebhook", Tag: "Notifications", Allow: admins,
			Summary: "Delete a webhook", Description: "Nothing more is sent to it; deliveries still retrying stop; its delivery log stays.",
			Answers: []answer{noContent}, Handle: s.deleteWebhook},
		{Method: "GET", Path: "/api/v1/webhooks/{webhookID}/deliveries", ID: "listWebhookDeliveries", Tag: "Notifications", Allow: admins,
			Summary: "Read a webhook's delivery log", Description: "Every attempt, newest first (at most 100): the notification, the attempt number, sent or failed, the receiver's HTTP status and the error.",
			Answers: []answer{ok(deliveryList{})}, Handle: s.webhookDeliveries},
		{Method: "POST", Path: "/api/v1/webhooks/{webhookID}/test", ID: "testWebhook", Tag: "Notifications", Allow: admins,
			Summary:     "Send a webhook a test notification",
			Description: "A test notification (type org.otpatch.notification.test) is sent to this webhook only, with the same signature and retries as any other; its attempts show in the delivery log.",
			Answers:     []answer{{Status: http.StatusAccepted, Body: testView{}, Desc: "The test is on its way"}}, Handle: s.testWebhook},
	}
}
