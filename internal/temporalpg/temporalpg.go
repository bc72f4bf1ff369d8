// Package temporalpg runs a Temporal server persisting to PostgreSQL inside the calling
// process: the production shape of Temporal's persistence (the postgres12 SQL plugin),
// assembled from the server's public packages the way internal/temporalembed assembles the
// SQLite one. The schema is created and upgraded with the server's own SQL schema tooling
// (go.temporal.io/server/tools/sql and the versioned schemas embedded in
// go.temporal.io/server/schema), exactly what temporal-sql-tool setup-schema / update-schema
// do.
//
// It exists so tests can run otpatch's production processes against a real Temporal on the
// machine's PostgreSQL without a Docker engine; production runs a Temporal cluster (see
// docker-compose.yml and deploy/).
package temporalpg

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otpatch/otpatch/internal/temporalembed"
)

const (
	// SchemaTemporal and SchemaVisibility name the versioned PostgreSQL schemas embedded in
	// the server module (go.temporal.io/server/schema).
	SchemaTemporal   = "postgresql/v12/temporal"
	SchemaVisibility = "postgresql/v12/visibility"

	clusterName = "active"
)

// Config describes a server.
type Config struct {
	// DSN is the PostgreSQL database (postgres://user:pass@host:port/db?sslmode=…) holding
	// Temporal's state. It must exist; its schema is created or upgraded by Start.
	DSN string
	// VisibilityDSN is the database for visibility records (a separate database, as the
	// schema tool keeps one schema version per database). Required.
	VisibilityDSN string
	// Namespace is registered at start if missing. Empty means "default".
	Namespace string
	// FrontendAddr is the IP:port the frontend listens on, such as 127.0.0.1:0 (the
	// default), or with TLS also 0.0.0.0:7233 (all addresses) or 10.231.1.1:0 (one
	// interface); port 0 picks a free one. History, matching and the worker service always
	// listen on loopback.
	FrontendAddr string
	// TLS, when set, makes the frontend require mutual TLS from every client; the server's
	// internal clients of the frontend are provided for.
	TLS *ServerTLS
	// Logger receives the server's warnings and errors. Nil discards them.
	Logger *slog.Logger
}

// ServerTLS makes the frontend require mutual TLS: the frontend's certificate and key and
// the CAs of the accepted client certificates (see temporalembed.ServerTLS).
type ServerTLS = temporalembed.ServerTLS

// Server is a running Temporal server.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string
	once      sync.Once
	err       error
}

// HostPort is the frontend address for client.Options.HostPort: the listening address, or
// 127.0.0.1 with its port when the frontend listens on all addresses.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace is the namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the server; its state stays in PostgreSQL.
func (s *Server) Stop() error {
	s.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				s.err = fmt.Errorf("temporalpg: stop: %v", r)
			}
		}()
		s.err = s.srv.Stop()
	})
	return s.err
}

// SQLConfig turns a PostgreSQL DSN (URL form) into the server's persistence settings for
// the postgres12 plugin.
func SQLConfig(dsn string) (*config.SQL, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("temporalpg: %q is not a postgres:// URL (example postgres://temporal:secret@127.0.0.1:5432/temporal?sslmode=disable)", redact(dsn))
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	db := u.Path
	if len(db) > 0 && db[0] == '/' {
		db = db[1:]
	}
	if db == "" {
		return nil, fmt.Errorf("temporalpg: %s names no database", redact(dsn))
	}
	pass, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		attrs[k] = v[0]
	}
	if attrs["sslmode"] == "" {
		attrs["sslmode"] = "disable"
	}
	return &config.SQL{
		PluginName:        pgplugin.PluginName,
		DatabaseName:      db,
		ConnectAddr:       net.JoinHostPort(host, port),
		ConnectProtocol:   "tcp",
		User:              u.User.Username(),
		Password:          pass,
		ConnectAttributes: attrs,
		MaxConns:          20,
		MaxIdleConns:      20,
		MaxConnLifetime:   time.Hour,
	}, nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "the DSN"
}

// SetupSchema creates Temporal's schema in the database behind dsn (schema is SchemaTemporal
// or SchemaVisibility) or upgrades it to the version the server module carries: the
// equivalent of `temporal-sql-tool setup-schema -v 0.0` followed by `update-schema`.
func SetupSchema(dsn, schema string) error {
	cfg, err := SQLConfig(dsn)
	if err != nil {
		return err
	}
	logger := log.NewNoopLogger()
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("temporalpg: connect to %s: %w", redact(dsn), err)
	}
	defer conn.Close()
	if _, err := conn.ReadSchemaVersion(); err != nil {
		// No schema_version table yet: a fresh database.
		if err := schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
			return fmt.Errorf("temporalpg: set up schema version tables in %s: %w", redact(dsn), err)
		}
	}
	if err := schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schema}, logger).Run(); err != nil {
		return fmt.Errorf("temporalpg: update schema %s in %s: %w", schema, redact(dsn), err)
	}
	return nil
}

// SchemaVersion reads the schema version recorded in the database behind dsn.
func SchemaVersion(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, `SELECT curr_version FROM schema_version`).Scan(&v)
	return v, err
}

// Start sets up (or upgrades) both schemas, registers the namespace, starts frontend,
// history, matching and worker services and returns once the namespace can be described
// through the frontend. ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DSN == "" || cfg.VisibilityDSN == "" {
		return nil, errors.New("temporalpg: Config.DSN and Config.VisibilityDSN are both required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.FrontendAddr == "" {
		cfg.FrontendAddr = "127.0.0.1:0"
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	fe, err := temporalembed.ParseFrontend(cfg.FrontendAddr, cfg.TLS)
	if err != nil {
		return nil, fmt.Errorf("temporalpg: %w", err)
	}
	if err := SetupSchema(cfg.DSN, SchemaTemporal); err != nil {
		return nil, err
	}
	if err := SetupSchema(cfg.VisibilityDSN, SchemaVisibility); err != nil {
		return nil, err
	}
	store, err := SQLConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	vis, err := SQLConfig(cfg.VisibilityDSN)
	if err != nil {
		return nil, err
	}
	// The namespace is written straight into the database before the services start, as
	// temporaltest does, so it is in the namespace cache from the first moment. The helper
	// lives in the SQLite schema package but works on any SQL plugin's database.
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("temporalpg: namespace %q: %w", cfg.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(7 * 24 * time.Hour)
	if err := sqliteschema.CreateNamespaces(store, ns); err != nil {
		return nil, fmt.Errorf("temporalpg: register namespace %q in %s: %w", cfg.Namespace, redact(cfg.DSN), err)
	}

	ports, err := freePorts(fe)
	if err != nil {
		return nil, err
	}
	hostPort := fe.HostPort(ports[0])
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv, err := newServer(fe, ports, store, vis, newLogger(logger))
	if err != nil {
		return nil, err
	}
	if err := start(srv); err != nil {
		_ = srv.Stop()
		return nil, fmt.Errorf("temporalpg: start Temporal on %s: %w", hostPort, err)
	}
	s := &Server{srv: srv, hostPort: hostPort, namespace: cfg.Namespace}
	if err := waitReady(ctx, hostPort, cfg.Namespace, fe.ClientTLS); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func start(srv temporal.Server) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return srv.Start()
}

// freePorts returns the frontend port (fe.Port, or a free one on fe.IP when 0) and three free
// ports on fe.InternalIP for history, matching and the worker service.
func freePorts(fe temporalembed.Frontend) ([]int, error) {
	var out []int
	if fe.Port != 0 {
		out = append(out, fe.Port)
	}
	var probes []net.Listener
	defer func() {
		for _, l := range probes {
			_ = l.Close()
		}
	}()
	for len(out) < 4 {
		host := fe.InternalIP
		if len(out) == 0 {
			host = fe.IP
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("temporalpg: find a free port on %s: %w", host, err)
		}
		probes = append(probes, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// newServer assembles the server: the services on ports as fe places them, persisted to
// store and vis.
func newServer(fe temporalembed.Frontend, ports []int, store, vis *config.SQL, logger log.Logger) (temporal.Server, error) {
	names, services, hosts := fe.Services(ports)
	hostPort := fe.HostPort(ports[0])
	cfg := &config.Config{
		Global: config.Global{Membership: config.Membership{BroadcastAddress: fe.InternalIP}, TLS: fe.TLS},
		Persistence: config.Persistence{
			DefaultStore:     "postgres",
			VisibilityStore:  "postgres-visibility",
			NumHistoryShards: 4,
			DataStores: map[string]config.DataStore{
				"postgres":            {SQL: store},
				"postgres-visibility": {SQL: vis},
			},
		},
		ClusterMetadata: &cluster.Config{
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
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: hostPort},
	}
	srv, err := temporal.NewServer(
		temporal.ForServices(names),
		temporal.WithConfig(cfg),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{}),
	)
	if err != nil {
		return nil, fmt.Errorf("temporalpg: assemble server: %w", err)
	}
	return srv, nil
}

func waitReady(ctx context.Context, hostPort, namespace string, clientTLS *tls.Config) error {
	var last error
	for {
		last = describe(ctx, hostPort, namespace, clientTLS)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporalpg: frontend on %s not ready (last error: %v): %w", hostPort, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func describe(ctx context.Context, hostPort, namespace string, clientTLS *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: client.ConnectionOptions{TLS: clientTLS}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	return err
}
