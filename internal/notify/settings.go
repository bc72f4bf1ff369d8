package notify

import (
	"net/http"
	"time"
)

// Settings are how the worker delivers notifications.
type Settings struct {
	// SMTP is the mail server (unset: e-mail subscriptions are recorded as failed deliveries).
	SMTP SMTP
	// BaseURL is the server's public URL; links in notifications start with it.
	BaseURL string
	// RetryInitial, RetryMax and Attempts shape the retries of a delivery: the first retry
	// after RetryInitial, each next one twice as late up to RetryMax, at most Attempts in all
	// (zero: 30 seconds, 1 hour, 12).
	RetryInitial, RetryMax time.Duration
	Attempts               int
	// HTTP sends webhooks (nil: a client with a 30-second timeout that follows no redirect).
	HTTP *http.Client
}

// Retry is the retry of deliveries with defaults filled in.
func (s Settings) Retry() (initial, maximum time.Duration, attempts int) {
	initial, maximum, attempts = s.RetryInitial, s.RetryMax, s.Attempts
	if initial <= 0 {
		initial = 30 * time.Second
	}
	if maximum <= 0 {
		maximum = time.Hour
	}
	if maximum < initial {
		maximum = initial
	}
	if attempts <= 0 {
		attempts = 12
	}
	return initial, maximum, attempts
}

// Client is the HTTP client webhooks are sent with.
func (s Settings) Client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
