package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CloudEvents 1.0, structured content mode (JSON event format): the whole event is the HTTP
// body, sent as application/cloudevents+json.

// ContentType is the media type of a webhook's body.
const ContentType = "application/cloudevents+json; charset=utf-8"

// SignatureHeader carries a delivery's signature: "t=<unix seconds>,v1=<hex>", where hex is
// the HMAC-SHA256, keyed with the webhook's secret, of the seconds, a dot and the exact body.
const SignatureHeader = "Otpatch-Signature"

// CloudEvent is the event a webhook receives.
type CloudEvent struct {
	SpecVersion     string       `json:"specversion"`
	ID              string       `json:"id"`
	Source          string       `json:"source"`
	Type            string       `json:"type"`
	Subject         string       `json:"subject,omitempty"`
	Time            time.Time    `json:"time"`
	DataContentType string       `json:"datacontenttype"`
	Data            CloudPayload `json:"data"`
}

// CloudPayload is a CloudEvent's data.
type CloudPayload struct {
	Kind    Kind           `json:"kind"`
	Title   string         `json:"title"`
	Text    string         `json:"text"`
	Link    string         `json:"link"`
	Details map[string]any `json:"details,omitempty"`
}

// EventType is the CloudEvents type of a kind.
func EventType(k Kind) string { return "org.otpatch.notification." + string(k) }

// Encode is the CloudEvent of n as its JSON body; source is the server's URI reference
// ("/otpatch" when no public URL is set).
func Encode(n Notification, source string) ([]byte, error) {
	if source == "" {
		source = "/otpatch"
	}
	return json.Marshal(CloudEvent{SpecVersion: "1.0", ID: n.Key, Source: source, Type: EventType(n.Kind), Subject: n.Source,
		Time: n.Time.UTC(), DataContentType: "application/json",
		Data: CloudPayload{Kind: n.Kind, Title: n.Subject, Text: n.Text, Link: n.Link, Details: n.Data}})
}

// Sign is the signature header value of body sent at t with secret.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body and secret, and that it was made within
// tolerance of now (0: any time). It is what a receiver does.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("the signature header is not t=<unix seconds>,v1=<hex>")
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return fmt.Errorf("the signature was made %s from now, more than %s", d, tolerance)
		}
	}
	if !hmac.Equal([]byte(mac(secret, ts, body)), []byte(sig)) {
		return fmt.Errorf("the signature does not match the body")
	}
	return nil
}
