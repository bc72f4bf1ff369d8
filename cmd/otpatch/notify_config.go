package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/notify"
)

// notifyConfig is how notifications are sent: the SMTP server (the worker sends), the public
// URL links start with, and how often the server's schedule dispatches them.
type notifyConfig struct {
	smtpAddr, smtpFrom, smtpUser, smtpPassword, smtpCA string
	smtpPlain                                          bool
	publicURL                                          string
	every                                              time.Duration
}

func (c *notifyConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.smtpAddr, "smtp-addr", env("SMTP_ADDR", ""), "SMTP server host:port notifications are mailed through, STARTTLS required (OTPATCH_SMTP_ADDR)")
	fs.StringVar(&c.smtpFrom, "smtp-from", env("SMTP_FROM", ""), "sender address of notification mails, such as otpatch <otpatch@plant.example> (OTPATCH_SMTP_FROM)")
	fs.StringVar(&c.smtpUser, "smtp-username", env("SMTP_USERNAME", ""), "SMTP AUTH user name; empty: no AUTH (OTPATCH_SMTP_USERNAME)")
	fs.StringVar(&c.smtpPassword, "smtp-password", env("SMTP_PASSWORD", ""), "SMTP AUTH password (OTPATCH_SMTP_PASSWORD)")
	fs.StringVar(&c.smtpCA, "smtp-ca", env("SMTP_CA", ""), "PEM certificates to trust for the SMTP server besides the system's (OTPATCH_SMTP_CA)")
	plain, _ := strconv.ParseBool(env("SMTP_PLAIN", "false"))
	fs.BoolVar(&c.smtpPlain, "smtp-plain", plain, "allow an SMTP server without STARTTLS (a relay on the same host) (OTPATCH_SMTP_PLAIN)")
	fs.StringVar(&c.publicURL, "public-url", env("PUBLIC_URL", ""), "the server's URL as people reach it, such as https://otpatch.plant.example; notification links start with it (OTPATCH_PUBLIC_URL)")
	every, _ := time.ParseDuration(env("NOTIFY_INTERVAL", engine.DefaultNotifyEvery.String()))
	fs.DurationVar(&c.every, "notify-interval", every, "how often the audit log is read for notifications to send (OTPATCH_NOTIFY_INTERVAL)")
}

// settings are the worker's delivery settings.
func (c *notifyConfig) settings() (notify.Settings, error) {
	s := notify.Settings{BaseURL: c.publicURL, SMTP: notify.SMTP{Addr: c.smtpAddr, From: c.smtpFrom, Username: c.smtpUser, Password: c.smtpPassword, Plain: c.smtpPlain}}
	if c.smtpCA != "" {
		b, err := os.ReadFile(c.smtpCA)
		if err != nil {
			return s, fmt.Errorf("--smtp-ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(b) {
			return s, fmt.Errorf("--smtp-ca %s holds no PEM certificate", c.smtpCA)
		}
		s.SMTP.RootCAs = pool
	}
	return s, nil
}

// scheduleNotifications makes the dispatcher's Temporal Schedule, and the one that asks the
// site workers for their neighbour tables (the server and dev do, at start).
func (d *deps) scheduleNotifications(ctx context.Context, every time.Duration) {
	if every < time.Second {
		every = engine.DefaultNotifyEvery
	}
	g := &engine.Gateway{Temporal: d.tc}
	if err := g.ScheduleNotifications(ctx, every); err != nil && ctx.Err() == nil {
		d.log.Warn("the notification schedule could not be made; notifications wait for the next start", "err", err)
	}
	if err := g.ScheduleSiteDiscovery(ctx, engine.SiteDiscoveryEvery); err != nil && ctx.Err() == nil {
		d.log.Warn("the site discovery schedule could not be made; site workers are asked what they see after the next start", "err", err)
	}
}
