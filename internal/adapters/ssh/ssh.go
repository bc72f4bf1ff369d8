// Package ssh is the adapter for Linux gateways and engineering workstations reached over SSH.
//
// The device side (backup, deploy, verify, restore) is internal/hostops; this package gives it
// a Runner over SSH sessions. What it guarantees:
//
//   - Host keys are pinned: the device's key must be in the configured known_hosts file. An
//     unknown or changed key is refused with a HostKeyError naming the host, the offered
//     fingerprint and what to do. The file is read again for every connection.
//   - Key authentication only, with the worker's key.
//   - Every command is an argv whose elements are each single-quoted for a POSIX shell, so the
//     account's login shell (which OpenSSH always runs the command through) passes it on as is;
//     the account's login shell must therefore be POSIX (sh, dash, bash, ash), not csh or fish.
//   - One connection per operation, so a device that restarted between operations is simply
//     dialled again.
//   - While a command streams output or data, or the device answers keepalives, the operation
//     reports progress (adapters.Progressed); a connection silent for Config.StallAfter is
//     reported stalled (adapters.Stalled), which stops the activity's heartbeats. A command that
//     is merely quiet on a live device is not a stall; it is bounded by Config.CommandTimeout.
//   - A cancelled or timed-out command is sent SIGTERM, then SIGKILL (OpenSSH signals the
//     command's whole process group), then its session and connection are closed.
package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/hostops"
)

var _ adapters.Target = (*Adapter)(nil)

// Config is how the worker reaches devices over SSH.
type Config struct {
	// KeyFile is the worker's private key (OpenSSH or PEM format, no passphrase). Ignored when
	// Signer is set.
	KeyFile string
	// Signer is the worker's private key, for callers that hold it already.
	Signer gossh.Signer
	// KnownHostsFile pins the devices' host keys (OpenSSH known_hosts format). Required.
	KnownHostsFile string
	// DialTimeout bounds connecting, including the SSH handshake (default 15s).
	DialTimeout time.Duration
	// CommandTimeout bounds every command on the device (default hostops.DefaultTimeout).
	CommandTimeout time.Duration
	// KeepAlive is how often an idle connection is asked whether it is alive (default 10s).
	KeepAlive time.Duration
	// StallAfter is how long a connection may be silent (no data, no keepalive answer) before
	// the operation is reported stalled (default 45s).
	StallAfter time.Duration
	// ExpectedDuration is how long backup, deploy and verify of one device take, used to fit
	// an asset in what is left of a maintenance window (default 15m).
	ExpectedDuration time.Duration
}

// Adapter is the ssh adapter.
type Adapter struct {
	cfg    Config
	signer gossh.Signer
	lookup adapters.EndpointLookup
}

// New returns an adapter that finds each asset's endpoint with lookup.
func New(cfg Config, lookup adapters.EndpointLookup) (*Adapter, error) {
	if lookup == nil {
		return nil, errors.New("ssh adapter: no endpoint lookup")
	}
	signer := cfg.Signer
	if signer == nil {
		if cfg.KeyFile == "" {
			return nil, errors.New("ssh adapter: no client key; set the path of the worker's private key")
		}
		pem, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ssh adapter: read client key: %w", err)
		}
		signer, err = gossh.ParsePrivateKey(pem)
		var missing *gossh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("ssh adapter: client key %s is protected by a passphrase; the worker needs a key "+
				"without one, readable only by the worker's account (chmod 600)", cfg.KeyFile)
		}
		if err != nil {
			return nil, fmt.Errorf("ssh adapter: parse client key %s: %w", cfg.KeyFile, err)
		}
	}
	if cfg.KnownHostsFile == "" {
		return nil, errors.New("ssh adapter: no known_hosts file; otpatch only connects to devices whose host key is pinned")
	}
	if _, _, err := hostKeys(cfg.KnownHostsFile, "127.0.0.1:22"); err != nil {
		return nil, fmt.Errorf("ssh adapter: %w", err)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 15 * time.Second
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = hostops.DefaultTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 10 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 45 * time.Second
	}
	if cfg.ExpectedDuration <= 0 {
		cfg.ExpectedDuration = 15 * time.Minute
	}
	return &Adapter{cfg: cfg, signer: signer, lookup: lookup}, nil
}

// AuthorizedKey returns the worker's public key as an authorized_keys line, for the devices'
// ~/.ssh/authorized_keys.
func (a *Adapter) AuthorizedKey() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(a.signer.PublicKey()))) + " otpatch-worker"
}

// ExpectedDuration implements adapters.Target.
func (a *Adapter) ExpectedDuration(string) time.Duration { return a.cfg.ExpectedDuration }

// Backup implements adapters.Target: tar of the endpoint's backup paths, with the SHA-256 the
// device computed. The connection stays open until the stream is closed.
func (a *Adapter) Backup(ctx context.Context, assetID string) (io.ReadCloser, string, error) {
	c, host, err := a.connect(ctx, assetID)
	if err != nil {
		return nil, "", err
	}
	rc, sum, err := host.Backup(ctx)
	if err != nil {
		c.close()
		return nil, "", c.wrap(err)
	}
	return &streamCloser{ReadCloser: rc, c: c}, sum, nil
}

type streamCloser struct {
	io.ReadCloser
	c    *conn
	once sync.Once
}

func (s *streamCloser) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = s.c.wrap(err)
	}
	return n, err
}

func (s *streamCloser) Close() error {
	err := s.ReadCloser.Close()
	s.once.Do(s.c.close)
	return err
}

// Deploy implements adapters.Target. The artifact is opened only when it is copied, so a
// request applied before does not fetch it.
func (a *Adapter) Deploy(ctx context.Context, assetID string, req adapters.DeployRequest) error {
	if req.Artifact == nil {
		return fmt.Errorf("ssh adapter: deploy to %s: the request has no artifact", assetID)
	}
	c, host, err := a.connect(ctx, assetID)
	if err != nil {
		return err
	}
	defer c.close()
	artifact := &lazyReader{open: func() (io.ReadCloser, error) { return req.Artifact(ctx) }}
	defer artifact.Close()
	return c.wrap(host.Deploy(ctx, req, artifact))
}

type lazyReader struct {
	open func() (io.ReadCloser, error)
	rc   io.ReadCloser
	err  error
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.rc == nil && l.err == nil {
		l.rc, l.err = l.open()
		if l.err != nil {
			l.err = fmt.Errorf("open the artifact: %w", l.err)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.rc.Read(p)
}

func (l *lazyReader) Close() error {
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}

// Verify implements adapters.Target.
func (a *Adapter) Verify(ctx context.Context, assetID string, req adapters.VerifyRequest) (adapters.VerifyResult, error) {
	c, host, err := a.connect(ctx, assetID)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	defer c.close()
	res, err := host.Verify(ctx, req)
	return res, c.wrap(err)
}

// Restore implements adapters.Target.
func (a *Adapter) Restore(ctx context.Context, assetID string, req adapters.RestoreRequest) error {
	c, host, err := a.connect(ctx, assetID)
	if err != nil {
		return err
	}
	defer c.close()
	return c.wrap(host.Restore(ctx, req))
}

// AuthError is a device that refused the worker's key. Retrying does not help until the key is
// authorized on the device.
type AuthError struct {
	Address, User, Fingerprint string
	Err                        error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s@%s refused the worker's key %s (%v); add the worker's public key to ~%s/.ssh/authorized_keys on the device",
		e.User, e.Address, e.Fingerprint, e.Err, e.User)
}

func (e *AuthError) Unwrap() error { return e.Err }

// connect looks the asset up, dials it and returns the connection and a hostops.Host on it.
func (a *Adapter) connect(ctx context.Context, assetID string) (*conn, *hostops.Host, error) {
	ep, err := a.lookup(ctx, assetID)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh adapter: endpoint of asset %s: %w", assetID, err)
	}
	if ep.Address == "" || ep.User == "" {
		return nil, nil, fmt.Errorf("ssh adapter: asset %s has no SSH address or user in its endpoint", assetID)
	}
	address := ep.Address
	if _, _, err := net.SplitHostPort(address); err != nil {
		address = net.JoinHostPort(address, "22")
	}
	c, err := a.dial(ctx, assetID, address, ep.User)
	if err != nil {
		return nil, nil, err
	}
	host := &hostops.Host{Run: c, Endpoint: ep, Timeout: a.cfg.CommandTimeout}
	return c, host, nil
}

func (a *Adapter) dial(ctx context.Context, assetID, address, user string) (*conn, error) {
	where := fmt.Sprintf("ssh %s@%s (asset %s)", user, address, assetID)
	callback, algos, err := hostKeys(a.cfg.KnownHostsFile, address)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	cfg := &gossh.ClientConfig{
		User:              user,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(a.signer)},
		HostKeyCallback:   callback,
		HostKeyAlgorithms: algos,
		Timeout:           a.cfg.DialTimeout,
		ClientVersion:     "SSH-2.0-otpatch",
	}
	d := net.Dialer{Timeout: a.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", where, err)
	}
	_ = nc.SetDeadline(time.Now().Add(a.cfg.DialTimeout))
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	cc, chans, reqs, err := gossh.NewClientConn(nc, address, cfg)
	stopped := stop()
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		switch {
		case errors.As(err, &hk):
			return nil, fmt.Errorf("%s: %w", where, hk)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("%s: %w", where, &AuthError{Address: address, User: user,
				Fingerprint: gossh.FingerprintSHA256(a.signer.PublicKey()), Err: err})
		case !stopped:
			return nil, fmt.Errorf("%s: %w", where, context.Cause(ctx))
		}
		return nil, fmt.Errorf("%s: handshake: %w", where, err)
	}
	_ = nc.SetDeadline(time.Time{})
	c := &conn{
		client: gossh.NewClient(cc, chans, reqs),
		where:  where,
		cfg:    a.cfg,
		stop:   make(chan struct{}),
	}
	c.alive()
	go c.watch(ctx)
	return c, nil
}

// Permanent reports that retrying cannot fix a refused login: a person must fix the key.
func (e *AuthError) Permanent() bool { return true }
