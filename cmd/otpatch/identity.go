package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/domain"
)

// identityConfig is how people sign in: browser sessions, the local accounts' password and
// lockout policy, and single sign-on with OpenID Connect.
type identityConfig struct {
	sessionHours, sessionIdleMinutes int
	minLength, minClasses            int
	maxAgeDays, history              int
	lockoutFailures, lockoutMinutes  int

	oidcIssuer, oidcClientID, oidcSecret, oidcSecretFile string
	oidcRedirect, oidcScopes, oidcUsernameClaim          string
	oidcRolesClaim, oidcRoleMap, oidcAudience, oidcCA    string
	oidcName                                             string
}

func envInt(name string, def int) int {
	v, err := strconv.Atoi(env(name, strconv.Itoa(def)))
	if err != nil {
		return def - 1<<30 // not a number: far out of range, so the check names the setting
	}
	return v
}

func (c *identityConfig) flags(fs *flag.FlagSet) {
	p := domain.DefaultPasswordPolicy()
	fs.IntVar(&c.sessionHours, "session-max-hours", envInt("SESSION_MAX_HOURS", int(api.DefaultSessionLifetime/time.Hour)), "hours a browser session lasts at most after sign-in (OTPATCH_SESSION_MAX_HOURS)")
	fs.IntVar(&c.sessionIdleMinutes, "session-idle-minutes", envInt("SESSION_IDLE_MINUTES", int(api.DefaultSessionIdle/time.Minute)), "minutes without a request after which a browser session ends (OTPATCH_SESSION_IDLE_MINUTES)")
	fs.IntVar(&c.minLength, "password-min-length", envInt("PASSWORD_MIN_LENGTH", p.MinLength), "fewest characters of a local account's password (OTPATCH_PASSWORD_MIN_LENGTH)")
	fs.IntVar(&c.minClasses, "password-min-classes", envInt("PASSWORD_MIN_CLASSES", p.MinClasses), "how many of lower case, upper case, digits and other characters a password uses, 1-4 (OTPATCH_PASSWORD_MIN_CLASSES)")
	fs.IntVar(&c.maxAgeDays, "password-max-age-days", envInt("PASSWORD_MAX_AGE_DAYS", int(p.MaxAge/day)), "days a password serves before it must be changed; 0: no limit (OTPATCH_PASSWORD_MAX_AGE_DAYS)")
	fs.IntVar(&c.history, "password-history", envInt("PASSWORD_HISTORY", p.History), "how many earlier passwords a new one may not repeat; 0: only the current one (OTPATCH_PASSWORD_HISTORY)")
	fs.IntVar(&c.lockoutFailures, "lockout-failures", envInt("LOCKOUT_FAILURES", p.LockoutFailures), "failed sign-ins in a row that lock a local account (OTPATCH_LOCKOUT_FAILURES)")
	fs.IntVar(&c.lockoutMinutes, "lockout-minutes", envInt("LOCKOUT_MINUTES", int(p.LockoutFor/time.Minute)), "minutes a locked account stays locked (OTPATCH_LOCKOUT_MINUTES)")
	fs.StringVar(&c.oidcIssuer, "oidc-issuer", env("OIDC_ISSUER", ""), "OpenID Connect provider's issuer URL; set to turn single sign-on on (OTPATCH_OIDC_ISSUER)")
	fs.StringVar(&c.oidcClientID, "oidc-client-id", env("OIDC_CLIENT_ID", ""), "otpatch's client id at the provider (OTPATCH_OIDC_CLIENT_ID)")
	fs.StringVar(&c.oidcSecret, "oidc-client-secret", env("OIDC_CLIENT_SECRET", ""), "the client's secret (OTPATCH_OIDC_CLIENT_SECRET; prefer the _FILE form)")
	fs.StringVar(&c.oidcSecretFile, "oidc-client-secret-file", env("OIDC_CLIENT_SECRET_FILE", ""), "file holding the client's secret (OTPATCH_OIDC_CLIENT_SECRET_FILE)")
	fs.StringVar(&c.oidcRedirect, "oidc-redirect-url", env("OIDC_REDIRECT_URL", ""), "the server's public URL followed by /api/v1/session/oidc/callback, as registered at the provider (OTPATCH_OIDC_REDIRECT_URL)")
	fs.StringVar(&c.oidcScopes, "oidc-scopes", env("OIDC_SCOPES", "openid profile email"), "scopes asked for at sign-in, space-separated (OTPATCH_OIDC_SCOPES)")
	fs.StringVar(&c.oidcUsernameClaim, "oidc-username-claim", env("OIDC_USERNAME_CLAIM", "preferred_username"), "claim that gives the username at a person's first sign-in (OTPATCH_OIDC_USERNAME_CLAIM)")
	fs.StringVar(&c.oidcRolesClaim, "oidc-roles-claim", env("OIDC_ROLES_CLAIM", "groups"), "claim that lists the person's groups (OTPATCH_OIDC_ROLES_CLAIM)")
	fs.StringVar(&c.oidcRoleMap, "oidc-role-map", env("OIDC_ROLE_MAP", ""), "groups to roles: group=role,group=role (OTPATCH_OIDC_ROLE_MAP)")
	fs.StringVar(&c.oidcAudience, "oidc-audience", env("OIDC_AUDIENCE", ""), "what the aud of a bearer access token must contain; default the client id (OTPATCH_OIDC_AUDIENCE)")
	fs.StringVar(&c.oidcCA, "oidc-ca-file", env("OIDC_CA_FILE", ""), "PEM CA certificates the provider's certificate is checked against, besides the system's (OTPATCH_OIDC_CA_FILE)")
	fs.StringVar(&c.oidcName, "oidc-name", env("OIDC_NAME", ""), "the provider's name on the sign-in page (OTPATCH_OIDC_NAME)")
}

// parseRoleMap reads group=role,group=role.
func parseRoleMap(s string) (map[string]domain.Role, error) {
	out := map[string]domain.Role{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		if !ok || group == "" || !domain.Role(role).Valid() {
			return nil, fmt.Errorf("%q is not group=role with role one of vendor, engineer, approver, safety, auditor, admin", pair)
		}
		if domain.Role(role) == domain.RoleVendor {
			return nil, fmt.Errorf("%q: vendors have local accounts bound to their vendor; single sign-on grants plant roles only", pair)
		}
		out[group] = domain.Role(role)
	}
	return out, nil
}

// problems lists what is wrong with the settings.
func (c *identityConfig) problems(add func(setting, format string, args ...any)) {
	if c.sessionHours < 1 || c.sessionHours > 24*7 {
		add("OTPATCH_SESSION_MAX_HOURS", "must be 1 to 168 hours (default %d)", api.DefaultSessionLifetime/time.Hour)
	}
	if c.sessionIdleMinutes < 1 || c.sessionIdleMinutes > c.sessionHours*60 {
		add("OTPATCH_SESSION_IDLE_MINUTES", "must be 1 minute to OTPATCH_SESSION_MAX_HOURS (default %d)", api.DefaultSessionIdle/time.Minute)
	}
	if c.minLength < 8 || c.minLength > domain.MaxPasswordLength {
		add("OTPATCH_PASSWORD_MIN_LENGTH", "must be 8 to %d characters (default 12)", domain.MaxPasswordLength)
	}
	if c.minClasses < 1 || c.minClasses > 4 {
		add("OTPATCH_PASSWORD_MIN_CLASSES", "must be 1 to 4 (default 3)")
	}
	if c.maxAgeDays < 0 || c.maxAgeDays > 3650 {
		add("OTPATCH_PASSWORD_MAX_AGE_DAYS", "must be 0 (no limit) to 3650 days (default 365)")
	}
	if c.history < 0 || c.history > 24 {
		add("OTPATCH_PASSWORD_HISTORY", "must be 0 to 24 (default 5)")
	}
	if c.lockoutFailures < 1 || c.lockoutFailures > 100 {
		add("OTPATCH_LOCKOUT_FAILURES", "must be 1 to 100 (default 5)")
	}
	if c.lockoutMinutes < 1 || c.lockoutMinutes > 24*60 {
		add("OTPATCH_LOCKOUT_MINUTES", "must be 1 to 1440 (default 15)")
	}
	if c.oidcIssuer == "" {
		for setting, v := range map[string]string{"OTPATCH_OIDC_CLIENT_ID": c.oidcClientID, "OTPATCH_OIDC_ROLE_MAP": c.oidcRoleMap, "OTPATCH_OIDC_REDIRECT_URL": c.oidcRedirect} {
			if v != "" {
				add(setting, "is set but OTPATCH_OIDC_ISSUER is not: single sign-on is off")
			}
		}
		return
	}
	if u, err := url.Parse(c.oidcIssuer); err != nil || u.Host == "" || (u.Scheme != "https" && !loopback(u.Hostname())) {
		add("OTPATCH_OIDC_ISSUER", "%q is not an https:// URL (plain http only on loopback)", c.oidcIssuer)
	}
	if c.oidcClientID == "" {
		add("OTPATCH_OIDC_CLIENT_ID", "missing: single sign-on needs otpatch's client id at the provider")
	}
	if c.oidcSecret == "" && c.oidcSecretFile == "" {
		add("OTPATCH_OIDC_CLIENT_SECRET_FILE", "missing: single sign-on needs the client's secret")
	} else if c.oidcSecretFile != "" {
		if _, err := os.ReadFile(c.oidcSecretFile); err != nil {
			add("OTPATCH_OIDC_CLIENT_SECRET_FILE", "cannot read it: %v", err)
		}
	}
	if u, err := url.Parse(c.oidcRedirect); err != nil || u.Host == "" || !strings.HasSuffix(u.Path, "/api/v1/session/oidc/callback") {
		add("OTPATCH_OIDC_REDIRECT_URL", "%q is not the server's public URL followed by /api/v1/session/oidc/callback", c.oidcRedirect)
	}
	if m, err := parseRoleMap(c.oidcRoleMap); err != nil {
		add("OTPATCH_OIDC_ROLE_MAP", "%v", err)
	} else if len(m) == 0 {
		add("OTPATCH_OIDC_ROLE_MAP", "missing: map the provider's groups to roles (example ot-engineers=engineer,ot-approvers=approver)")
	}
	if c.oidcCA != "" {
		if _, err := caPool(c.oidcCA); err != nil {
			add("OTPATCH_OIDC_CA_FILE", "%v", err)
		}
	}
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// caPool is the system's trust roots and the certificates of file.
func caPool(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}

// apply sets the API's identity settings, or names what is wrong with them.
func (c *identityConfig) apply(d *api.Deps) error {
	var ps []string
	c.problems(func(setting, format string, args ...any) { ps = append(ps, setting+": "+fmt.Sprintf(format, args...)) })
	if len(ps) > 0 {
		return errors.New(strings.Join(ps, "; "))
	}
	d.SessionLifetime = time.Duration(c.sessionHours) * time.Hour
	d.SessionIdle = time.Duration(c.sessionIdleMinutes) * time.Minute
	maxAge := time.Duration(c.maxAgeDays) * day
	if c.maxAgeDays == 0 {
		maxAge = -1 // no limit
	}
	history := c.history
	if history == 0 {
		history = -1 // only the current password
	}
	d.Passwords = domain.PasswordPolicy{MinLength: c.minLength, MinClasses: c.minClasses, MaxAge: maxAge, History: history,
		LockoutFailures: c.lockoutFailures, LockoutFor: time.Duration(c.lockoutMinutes) * time.Minute}
	if c.oidcIssuer == "" {
		return nil
	}
	secret := c.oidcSecret
	if c.oidcSecretFile != "" {
		b, err := os.ReadFile(c.oidcSecretFile)
		if err != nil {
			return fmt.Errorf("OTPATCH_OIDC_CLIENT_SECRET_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	roles, err := parseRoleMap(c.oidcRoleMap)
	if err != nil {
		return fmt.Errorf("OTPATCH_OIDC_ROLE_MAP: %w", err)
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	if c.oidcCA != "" {
		pool, err := caPool(c.oidcCA)
		if err != nil {
			return fmt.Errorf("OTPATCH_OIDC_CA_FILE: %w", err)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, Proxy: http.ProxyFromEnvironment}
	}
	d.OIDC = &api.OIDC{Issuer: c.oidcIssuer, ClientID: c.oidcClientID, ClientSecret: secret, RedirectURL: c.oidcRedirect,
		Scopes: strings.Fields(c.oidcScopes), UsernameClaim: c.oidcUsernameClaim, RolesClaim: c.oidcRolesClaim, RoleMap: roles,
		Audience: c.oidcAudience, DisplayName: c.oidcName, HTTPClient: hc}
	return nil
}

// summary lists the identity settings, secrets masked.
func (c *identityConfig) summary() [][2]string {
	out := [][2]string{
		{"sessions", fmt.Sprintf("at most %d hours, %d minutes idle", c.sessionHours, c.sessionIdleMinutes)},
		{"password policy", fmt.Sprintf("at least %d characters of %d classes, %d days at most (0: no limit), last %d not repeated; %d failures lock for %d minutes",
			c.minLength, c.minClasses, c.maxAgeDays, c.history, c.lockoutFailures, c.lockoutMinutes)},
	}
	if c.oidcIssuer == "" {
		return append(out, [2]string{"single sign-on", "off (OTPATCH_OIDC_ISSUER not set)"})
	}
	return append(out, [2]string{"single sign-on", fmt.Sprintf("%s client %s, roles from %s: %s", c.oidcIssuer, c.oidcClientID, c.oidcRolesClaim, c.oidcRoleMap)})
}
