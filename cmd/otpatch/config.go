package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// runConfigCheck is `otpatch config check`.
func runConfigCheck(ctx context.Context, args []string) error {
	return configCheck(ctx, os.Stdout, args)
}

// configProblem is one finding of config check.
type configProblem struct {
	setting, problem string
}

// configCheck validates the production configuration from flags and OTPATCH_* variables,
// prints every finding and returns a verificationFailed naming how many settings are wrong or
// missing. With --connect it also reaches the database, the object store and Temporal.
func configCheck(ctx context.Context, out io.Writer, args []string) error {
	var c config
	fs := newFlags("config check")
	c.flags(fs.FlagSet, roleDev) // every setting; the role's own are checked
	role := fs.String("role", roleServer, "the process to check the configuration for: server, worker or site-worker (otpatch worker --site)")
	site := fs.String("site", env("SITE", ""), "with --role site-worker: the site whose device work the worker does (OTPATCH_SITE)")
	connect := fs.Bool("connect", false, "also connect to the database, the object store and Temporal (5 s each)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *role != roleServer && *role != roleWorker && *role != roleSiteWorker {
		return fs.usageError("--role %q: give server, worker or site-worker", *role)
	}
	// A flag of the other role on the command line is a mistake: that process would not read it.
	var own config
	ownFlags := flag.NewFlagSet(*role, flag.ContinueOnError)
	if *role == roleSiteWorker {
		own.flags(ownFlags, roleWorker)
		ownFlags.String("site", "", "")
	} else {
		own.flags(ownFlags, *role)
	}
	var foreign []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "role" && f.Name != "connect" && ownFlags.Lookup(f.Name) == nil {
			foreign = append(foreign, "--"+f.Name)
		}
	})
	if len(foreign) > 0 {
		return fs.usageError("%s: not a setting of otpatch %s", strings.Join(foreign, ", "), *role)
	}
	problems := c.validate(*role)
	if *role == roleSiteWorker {
		problems = append(problems, c.siteWorkerProblems(*site, true)...)
	}
	if len(problems) == 0 && *connect {
		problems = append(problems, c.reach(ctx)...)
	}
	fmt.Fprintf(out, "otpatch %s configuration:\n", *role)
	for _, s := range c.summary(*role) {
		fmt.Fprintf(out, "  %-28s %s\n", s[0], s[1])
	}
	if len(problems) == 0 {
		if *connect {
			fmt.Fprintln(out, "configuration ok; database, object store and Temporal answered")
		} else {
			fmt.Fprintln(out, "configuration ok (add --connect to reach the database, the object store and Temporal)")
		}
		return nil
	}
	fmt.Fprintln(out, "problems:")
	for _, p := range problems {
		fmt.Fprintf(out, "  %s: %s\n", p.setting, p.problem)
	}
	return &verificationFailed{fmt.Sprintf("%d configuration problem(s); see above", len(problems))}
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// validate checks the settings without reaching anything.
func (c *config) validate(role string) []configProblem {
	var ps []configProblem
	add := func(setting, format string, a ...any) {
		ps = append(ps, configProblem{setting, fmt.Sprintf(format, a...)})
	}
	switch {
	case role == roleSiteWorker:
		// siteWorkerProblems: a site worker has no database.
	case c.database == "":
		add("OTPATCH_DATABASE_URL", "missing: set it to postgres://USER:PASSWORD@HOST:5432/otpatch?sslmode=verify-full (production) or a SQLite file (one machine)")
	case strings.HasPrefix(c.database, "postgres://") || strings.HasPrefix(c.database, "postgresql://"):
		u, err := url.Parse(c.database)
		if err != nil {
			add("OTPATCH_DATABASE_URL", "not a valid URL: %v", err)
			break
		}
		if u.Hostname() == "" || strings.Trim(u.Path, "/") == "" {
			add("OTPATCH_DATABASE_URL", "%s needs a host and a database name", u.Redacted())
		}
	case strings.Contains(c.database, "://"):
		add("OTPATCH_DATABASE_URL", "unsupported scheme in %q: use postgres:// or a SQLite file path", strings.SplitN(c.database, "://", 2)[0]+"://…")
	}
	if _, _, err := net.SplitHostPort(c.temporal); err != nil {
		add("OTPATCH_TEMPORAL_ADDRESS", "%q is not host:port (example temporal-frontend:7233)", c.temporal)
	}
	if c.namespace == "" {
		add("OTPATCH_TEMPORAL_NAMESPACE", "empty; the default is \"default\"")
	}
	c.temporalClientTLS.problems(add)
	if c.auditOrigin != "" {
		if err := audit.ValidOrigin(c.auditOrigin); err != nil {
			add("OTPATCH_AUDIT_ORIGIN", "%v", err)
		}
	}
	if c.auditCheckpointEvery < time.Second || c.auditCheckpointEvery > time.Hour {
		add("OTPATCH_AUDIT_CHECKPOINT_INTERVAL", "%s is out of range: give a duration from 1s to 1h, such as 1m (the default)", c.auditCheckpointEvery)
	}
	if c.auditVerifyEvery < time.Minute {
		add("OTPATCH_AUDIT_VERIFY_INTERVAL", "%s is too short: give a duration of at least 1m, such as 1h (the default)", c.auditVerifyEvery)
	}
	switch {
	case c.s3Endpoint == "":
		add("OTPATCH_S3_ENDPOINT", "missing: set it to the S3 endpoint's host:port, without http:// (example minio:9000)")
	case strings.Contains(c.s3Endpoint, "://"):
		add("OTPATCH_S3_ENDPOINT", "%q has a scheme; give host:port and set OTPATCH_S3_SECURE=true for HTTPS", c.s3Endpoint)
	}
	if c.s3Access == "" {
		add("OTPATCH_S3_ACCESS_KEY", "missing")
	}
	if c.s3Secret == "" {
		add("OTPATCH_S3_SECRET_KEY", "missing")
	}
	if !bucketName.MatchString(c.s3Bucket) {
		add("OTPATCH_S3_BUCKET", "%q is not a valid bucket name (3–63 lowercase letters, digits, dots, hyphens)", c.s3Bucket)
	}
	if c.simStep < 0 {
		add("OTPATCH_SIM_STEP", "negative (%s)", c.simStep)
	}
	if role == roleServer && c.maxArtifact <= 0 {
		add("OTPATCH_MAX_ARTIFACT_BYTES", "must be positive")
	}
	if role == roleServer && (c.maxCampaignAssets < 1 || c.maxCampaignAssets > domain.LargestCampaignAssets) {
		add("OTPATCH_MAX_CAMPAIGN_ASSETS", "must be a number of assets from 1 to %d (default %d), got %d", domain.LargestCampaignAssets, domain.DefaultMaxCampaignAssets, c.maxCampaignAssets)
	}
	if role == roleServer && c.authFailures <= 0 {
		add("OTPATCH_AUTH_FAILURES_PER_MINUTE", "must be a positive number of failed authentications a minute per source address (default %d)", api.DefaultAuthFailures)
	}
	if role == roleServer && c.writesPerMinute <= 0 {
		add("OTPATCH_WRITES_PER_MINUTE", "must be a positive number of changes a minute per identity (default %d)", api.DefaultWrites)
	}
	if c.metricsListen != "" {
		if _, _, err := net.SplitHostPort(c.metricsListen); err != nil {
			add("OTPATCH_METRICS_LISTEN", "%q is not host:port (example :9090)", c.metricsListen)
		}
	}
	if role == roleWorker || role == roleSiteWorker {
		c.devices.problems(add)
	}
	if role == roleServer {
		switch {
		case c.tokenMaxDays <= 0:
			add("OTPATCH_TOKEN_MAX_EXPIRY_DAYS", "must be a positive number of days (default %d)", api.DefaultTokenMaxLifetime/day)
		case c.tokenDays <= 0 || c.tokenDays > c.tokenMaxDays:
			add("OTPATCH_TOKEN_EXPIRY_DAYS", "must be a number of days from 1 to OTPATCH_TOKEN_MAX_EXPIRY_DAYS (%d); the default is %d", c.tokenMaxDays, api.DefaultTokenLifetime/day)
		}
		if _, _, err := net.SplitHostPort(c.listen); err != nil {
			add("OTPATCH_LISTEN", "%q is not host:port (example :8080)", c.listen)
		}
		if _, err := parseTrustedProxies(c.trustedProxies); err != nil {
			add("OTPATCH_TRUSTED_PROXIES", "%v", err)
		}
		if _, err := strconv.ParseBool(c.secureCookiesSetting); err != nil && !c.secureCookies {
			add("OTPATCH_SECURE_COOKIES", "%q is not true or false", c.secureCookiesSetting)
		}
		c.identity.problems(add)
		c.transfers.problems(add)
		switch {
		case (c.tlsCert == "") != (c.tlsKey == ""):
			add("OTPATCH_TLS_CERT/OTPATCH_TLS_KEY", "set both or neither")
		case c.tlsCert != "":
			if _, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey); err != nil {
				add("OTPATCH_TLS_CERT/OTPATCH_TLS_KEY", "cannot load the pair: %v", err)
			}
		}
	}
	return ps
}

// reach connects to each dependency, as /readyz does, with a 5 s bound each.
func (c *config) reach(ctx context.Context) []configProblem {
	var ps []configProblem
	try := func(setting string, fn func(context.Context) error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := fn(ctx); err != nil {
			ps = append(ps, configProblem{setting, "unreachable: " + err.Error()})
		}
	}
	try("OTPATCH_DATABASE_URL", func(ctx context.Context) error {
		if c.database == "" {
			return nil // a site worker's
		}
		st, err := store.Open(c.database, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		return st.Ping(ctx)
	})
	try("OTPATCH_S3_ENDPOINT", func(ctx context.Context) error {
		obj, err := artifacts.New(artifacts.Config{Endpoint: c.s3Endpoint, AccessKey: c.s3Access, SecretKey: c.s3Secret, Bucket: c.s3Bucket, Secure: c.s3Secure})
		if err != nil {
			return err
		}
		return obj.Ping(ctx)
	})
	try("OTPATCH_TEMPORAL_ADDRESS", func(ctx context.Context) error {
		temporalTLS, err := c.temporalTLS()
		if err != nil {
			return err
		}
		tc, err := client.DialContext(ctx, client.Options{HostPort: c.temporal, Namespace: c.namespace, Logger: tlog.NewStructuredLogger(c.quietLogger()),
			ConnectionOptions: client.ConnectionOptions{TLS: temporalTLS}})
		if err != nil && temporalTLS != nil && c.temporalClientTLS.cert == "" {
			// Under TLS 1.3 a frontend that wants a client certificate says so after the
			// handshake, and the client may see only a closed connection.
			return fmt.Errorf("%w (no client certificate is set: a frontend that requires mutual TLS refuses the connection; set OTPATCH_TEMPORAL_TLS_CERT and OTPATCH_TEMPORAL_TLS_KEY)", err)
		}
		if err != nil {
			return err
		}
		defer tc.Close()
		if _, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.namespace}); err != nil {
			return fmt.Errorf("namespace %q: %w", c.namespace, err)
		}
		return nil
	})
	return ps
}

// summary lists the effective settings, secrets masked.
func (c *config) summary(role string) [][2]string {
	mask := func(v string) string {
		if v == "" {
			return "(not set)"
		}
		return "(set)"
	}
	db := c.database
	if u, err := url.Parse(db); err == nil && u.Scheme != "" {
		db = u.Redacted()
	}
	out := [][2]string{
		{"database", orUnset(db)},
		{"temporal", c.temporal + " namespace " + c.namespace},
		{"temporal tls", c.temporalClientTLS.summary()},
		{"s3 endpoint", orUnset(c.s3Endpoint) + fmt.Sprintf(" (https %v)", c.s3Secure)},
		{"s3 bucket", c.s3Bucket},
		{"s3 access key", mask(c.s3Access)},
		{"s3 secret key", mask(c.s3Secret)},
	}
	if role == roleServer {
		scheme := "http"
		if c.tlsCert != "" {
			scheme = "https"
		}
		out = append(out, [2]string{"listen", scheme + " " + c.listen},
			[2]string{"token expiry", fmt.Sprintf("%d days by default, at most %d", c.tokenDays, c.tokenMaxDays)})
	}
	if role == roleSiteWorker {
		out[0] = [2]string{"database", "(none: a site worker reaches only Temporal and the object store)"}
	}
	if role == roleWorker || role == roleSiteWorker {
		out = append(out, [2]string{"ssh client key", orUnset(c.devices.sshKey)}, [2]string{"ssh known_hosts", orUnset(c.devices.sshKnownHosts)})
	}
	if role == roleServer {
		proxies := "none: the source address is the connection's, forwarded headers ignored"
		if c.trustedProxies != "" {
			proxies = c.trustedProxies + " (X-Forwarded-For from them names the client)"
		}
		out = append(out, [2]string{"trusted proxies", proxies},
			[2]string{"secure cookies", fmt.Sprintf("%v (always on HTTPS)", c.secureCookies)})
		out = append(out, [2]string{"rate limits", fmt.Sprintf("%d failed authentications per source address, %d changes per identity, a minute", c.authFailures, c.writesPerMinute)})
		out = append(out, c.identity.summary()...)
	}
	return append(out, [2]string{"metrics listen", orUnset(c.metricsListen)})
}

func orUnset(v string) string {
	if v == "" {
		return "(not set)"
	}
	return v
}

// quietLogger drops the SDK's info-level chatter during a check.
func (c *config) quietLogger() *slog.Logger {
	return slog.New(levelFloor{Handler: c.logger().Handler(), min: slog.LevelError})
}
