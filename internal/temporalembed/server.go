// Package temporalembed runs a Temporal server inside the otpatch process,
// persisted to a single SQLite file, for `otpatch dev`.
//
// All four services (frontend, history, matching, worker) run in-process; they
// find each other through static host lists, so no membership ports are
// opened, and metrics and pprof are off. History, matching and the worker
// service listen on loopback only. The frontend listens on loopback too unless
// it is given mutual TLS (Config.TLS): then it may listen on any address, such
// as 0.0.0.0, for workers on other machines. The SQLite
// file is created with the Temporal schema on first start and reopened on
// later starts, so workflows that were running when the process stopped (or
// was killed) continue after the next Start. A lock file next to the database
// keeps a second server, in this process or another, off the same file.
package temporalembed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/temporal"
)

const (
	// DefaultNamespace is used when Config.Namespace is empty.
	DefaultNamespace = "default"
	// DefaultFrontendAddr is used when Config.FrontendAddr is empty: Temporal's own default
	// port, where the Temporal CLI and UI look first.
	DefaultFrontendAddr = "127.0.0.1:7233"

	// defaultReadyTimeout bounds Start when its context has no deadline.
	defaultReadyTimeout = 2 * time.Minute

	clusterName = "active"
)

// errLocked is returned by lockFile when another holder has the lock.
var errLocked = errors.New("locked")

// ErrFrontendInUse is returned by Start when the frontend address is taken.
var ErrFrontendInUse = errors.New("the Temporal frontend address is in use")

// Config describes an embedded server.
type Config struct {
	// DBPath is the SQLite file holding all server state. It is created, with
	// the Temporal schema, when missing and reopened when present. Its
	// directory is created if needed. Required.
	DBPath string
	// Namespace is registered at start if missing, with a 7-day retention.
	// Empty means DefaultNamespace.
	Namespace string
	// FrontendAddr is the IP:port the frontend listens on. Empty means
	// DefaultFrontendAddr; port 0 picks a free port. Without TLS it must be a
	// loopback address; with TLS any IP address, 0.0.0.0 (or ::) meaning all
	// of the machine's. The internal services always get free loopback ports.
	FrontendAddr string
	// TLS, when set, makes the frontend require mutual TLS from every client.
	TLS *ServerTLS
	// Logger receives the server's warnings and errors; its debug and info
	// output is dropped. Nil discards all server logs.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string
	ports     []int
	unlock    func() error
	logger    *serverLogger

	stopOnce sync.Once
	stopErr  error
}

// HostPort returns the frontend address to give to client.Options.HostPort: the
// listening address, or 127.0.0.1 with its port when the frontend listens on
// all addresses.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace returns the namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop shuts the server down and releases its ports and database lock.
// Workflows keep their state in the database and resume on the next Start.
// Calling Stop again returns the first result.
//
// The Temporal SQLite plugin keeps its connection to the file open until the
// process exits (a later Start on the same DBPath in this process reuses it),
// and a few of the server's internal pollers outlive Stop; both are harmless
// when Stop is followed by process exit, which is how otpatch uses it.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.logger.silence()
		s.stopErr = stopServer(s.srv)
		releasePorts(s.ports)
		if err := s.unlock(); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("release database lock: %w", err)
		}
	})
	return s.stopErr
}

// Start starts a Temporal server on cfg.DBPath and returns once the frontend
// accepts connections and the namespace can be described. ctx bounds the
// start only; the server runs until Stop. If ctx has no deadline, Start gives
// up after two minutes.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.DBPath == "" {
		return nil, errors.New("temporalembed: Config.DBPath is empty; set it to the SQLite file in the data folder")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.FrontendAddr == "" {
		cfg.FrontendAddr = DefaultFrontendAddr
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultReadyTimeout)
		defer cancel()
	}

	fe, err := ParseFrontend(cfg.FrontendAddr, cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("temporalembed: %w", err)
	}
	dbPath, err := filepath.Abs(cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("temporalembed: resolve DBPath %q: %w", cfg.DBPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return nil, fmt.Errorf("temporalembed: create directory for DBPath: %w", err)
	}

	unlock, err := lockFile(dbPath + ".lock")
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("temporalembed: %s is in use by another Temporal server (this process or another otpatch); stop it or use a different data folder", dbPath)
	}
	if err != nil {
		return nil, fmt.Errorf("temporalembed: %w", err)
	}
	defer func() {
		if err != nil {
			_ = unlock()
		}
	}()

	ports, err := reservePorts(fe.IP, fe.InternalIP, fe.Port)
	if err != nil {
		return nil, fmt.Errorf("temporalembed: %w", err)
	}
	defer func() {
		if err != nil {
			releasePorts(ports)
		}
	}()

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	sqlCfg := sqlConfig(dbPath)
	created, err := prepareDatabase(ctx, dbPath, sqlCfg, clusterName, cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("temporalembed: %w", err)
	}
	if created {
		logger.Info("created Temporal database", slog.String("path", dbPath))
	}
	hostPort := fe.HostPort(ports[0])
	srvLogger := newServerLogger(logger, slog.LevelWarn)
	srv, err := newServer(fe, ports, sqlCfg, srvLogger)
	if err != nil {
		return nil, fmt.Errorf("temporalembed: %w", err)
	}
	if err := startServer(srv); err != nil {
		srvLogger.silence()
		_ = stopServer(srv)
		return nil, fmt.Errorf("temporalembed: start Temporal server on %s: %w", hostPort, err)
	}
	if err := waitReady(ctx, hostPort, cfg.Namespace, fe.ClientTLS, logger); err != nil {
		srvLogger.silence()
		_ = stopServer(srv)
		return nil, fmt.Errorf("temporalembed: %w", err)
	}

	return &Server{
		srv:       srv,
		hostPort:  hostPort,
		namespace: cfg.Namespace,
		ports:     ports,
		unlock:    unlock,
		logger:    srvLogger,
	}, nil
}

// newServer assembles the server: the services on ports as fe places them, persisted to
// sqlCfg.
func newServer(fe Frontend, ports []int, sqlCfg *config.SQL, logger log.Logger) (srv temporal.Server, err error) {
	names, services, hosts := fe.Services(ports)
	hostPort := fe.HostPort(ports[0])
	cfg := &config.Config{
		// Global.Metrics nil: no metrics listener. Global.PProf.Port 0: no pprof.
		Global: config.Global{
			Membership: config.Membership{BroadcastAddress: fe.InternalIP},
			TLS:        fe.TLS,
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{
				sqliteplugin.PluginName: {SQL: sqlCfg},
			},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: hostPort},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service's own SDK client dials this address.
		PublicClient: config.PublicClient{HostPort: hostPort},
	}

	defer recoverFatal(&err)
	return temporal.NewServer(
		temporal.ForServices(names),
		temporal.WithConfig(cfg),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{}),
	)
}

// startServer starts srv, turning a Fatal from the server's logger into an
// error.
func startServer(srv temporal.Server) (err error) {
	defer recoverFatal(&err)
	return srv.Start()
}

// stopServer stops srv, turning a Fatal from the server's logger into an
// error.
func stopServer(srv temporal.Server) (err error) {
	defer recoverFatal(&err)
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("temporalembed: stop Temporal server: %w", err)
	}
	return nil
}

// recoverFatal stores a *fatalError panic in *err and re-raises any other
// panic.
func recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if fe, ok := r.(*fatalError); ok {
		*err = fe
		return
	}
	panic(r)
}

// waitReady dials the frontend with the SDK client until the namespace can be
// described or ctx ends.
func waitReady(ctx context.Context, hostPort, namespace string, clientTLS *tls.Config, logger *slog.Logger) error {
	var lastErr error
	for {
		lastErr = describeNamespace(ctx, hostPort, namespace, clientTLS, logger)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Temporal frontend on %s did not become ready (last error: %v); check the server log above: %w", hostPort, lastErr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describeNamespace(ctx context.Context, hostPort, namespace string, clientTLS *tls.Config, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:          hostPort,
		Namespace:         namespace,
		Logger:            sdklog.NewStructuredLogger(filteredSlog(logger, slog.LevelWarn)),
		ConnectionOptions: client.ConnectionOptions{TLS: clientTLS},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("namespace %q not found: %w", namespace, err)
	}
	return err
}

var (
	portsMu sync.Mutex
	// portsInUse holds the ports given to servers of this process that have
	// not been stopped, so two servers never get the same port.
	portsInUse = map[int]struct{}{}
)

// reservePorts returns four ports: frontendPort on frontendIP first (a free
// one if 0), then three free ports on ip for history, matching and worker. A
// free port is one the kernel handed out just now; the listeners probing them
// are closed before the server binds, which it does within moments.
func reservePorts(frontendIP, ip string, frontendPort int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()

	var probes []net.Listener
	defer func() {
		for _, l := range probes {
			_ = l.Close()
		}
	}()

	ports := make([]int, 0, 4)
	if frontendPort != 0 {
		addr := net.JoinHostPort(frontendIP, strconv.Itoa(frontendPort))
		_, taken := portsInUse[frontendPort]
		l, err := net.Listen("tcp", addr)
		if taken || err != nil {
			if l != nil {
				_ = l.Close()
			}
			return nil, fmt.Errorf("%w: %s (is another otpatch dev or Temporal server running?)", ErrFrontendInUse, addr)
		}
		probes = append(probes, l)
		ports = append(ports, frontendPort)
	}
	for attempts := 0; len(ports) < 4; attempts++ {
		on := ip
		if len(ports) == 0 {
			on = frontendIP
		}
		if attempts > 100 {
			return nil, fmt.Errorf("no free TCP ports on %s for the Temporal services", on)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(on, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s for the Temporal services: %w", on, err)
		}
		probes = append(probes, l)
		port := l.Addr().(*net.TCPAddr).Port
		if _, taken := portsInUse[port]; taken {
			continue
		}
		ports = append(ports, port)
	}
	for _, p := range ports {
		portsInUse[p] = struct{}{}
	}
	return ports, nil
}

func releasePorts(ports []int) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for _, p := range ports {
		delete(portsInUse, p)
	}
}
