package temporalembed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// namespaceRetention is how long closed workflow histories are kept in
// namespaces registered by Start.
const namespaceRetention = 7 * 24 * time.Hour

// Connection settings for the server's SQLite file. WAL lets readers run
// beside the single writer; synchronous=FULL syncs the WAL on every commit,
// so a committed workflow transition survives a killed process and a power
// cut; busy_timeout makes a connection wait for a lock instead of failing.
var sqlitePragmas = map[string]string{
	"journal_mode": "wal",
	"synchronous":  "full",
	"busy_timeout": "10000",
}

// lastSchemaObject is the trigger created by the last statement of the
// Temporal SQLite schema (v3 visibility). Its presence means the schema setup
// ran to the end.
const lastSchemaObject = "executions_visibility_au"

// sqlConfig returns the persistence settings for the SQLite file at path
// (an absolute path).
func sqlConfig(path string) *config.SQL {
	attrs := map[string]string{"mode": "rwc"}
	for k, v := range sqlitePragmas {
		attrs[k] = v
	}
	return &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      uriPath(path),
		ConnectAttributes: attrs,
	}
}

// uriPath escapes the characters that end or change the path part of an
// SQLite "file:" URI, since the plugin builds "file:<DatabaseName>?<params>".
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// schemaState is what inspectSchema found in the SQLite file.
type schemaState int

const (
	schemaMissing    schemaState = iota // no file, or a file with no tables
	schemaComplete                      // a finished Temporal schema
	schemaIncomplete                    // some tables, but setup did not finish
)

// inspectSchema opens path and reports whether it holds a complete
// Temporal schema. It never creates the file.
func inspectSchema(ctx context.Context, path string) (schemaState, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return schemaMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check SQLite file %s: %w", path, err)
	}
	if st.IsDir() {
		return 0, fmt.Errorf("DBPath %s is a directory; give the path of the SQLite file inside it", path)
	}
	if st.Size() == 0 {
		return schemaMissing, nil
	}

	// The sqlite driver is registered by the Temporal SQLite plugin.
	db, err := sql.Open("sqlite", "file:"+uriPath(path)+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("open SQLite file %s: %w", path, err)
	}
	defer func() { _ = db.Close() }()

	var objects, last int
	err = db.QueryRowContext(ctx,
		`SELECT count(*), coalesce(sum(name = ?), 0) FROM sqlite_master`, lastSchemaObject,
	).Scan(&objects, &last)
	if err != nil {
		return 0, fmt.Errorf("read schema of %s (is it an SQLite database written by otpatch?): %w", path, err)
	}
	switch {
	case objects == 0:
		return schemaMissing, nil
	case last > 0:
		return schemaComplete, nil
	default:
		return schemaIncomplete, nil
	}
}

// prepareDatabase makes sure the file behind cfg holds the Temporal schema and
// the namespace ns, creating both if missing. It reports whether the schema
// was created.
func prepareDatabase(ctx context.Context, path string, cfg *config.SQL, clusterName, ns string) (bool, error) {
	state, err := inspectSchema(ctx, path)
	if err != nil {
		return false, err
	}
	created := false
	switch state {
	case schemaIncomplete:
		return false, fmt.Errorf("SQLite file %s holds an unfinished Temporal schema (the first start was interrupted); "+
			"it holds no workflows yet, so delete it (with its -wal and -shm files) and start again", path)
	case schemaMissing:
		if err := sqliteschema.SetupSchema(cfg); err != nil {
			return false, fmt.Errorf("set up Temporal schema in %s: %w", path, err)
		}
		created = true
	}

	nsCfg, err := sqliteschema.NewNamespaceConfig(clusterName, ns, false, nil)
	if err != nil {
		return created, fmt.Errorf("prepare namespace %q: %w", ns, err)
	}
	nsCfg.Detail.Config.Retention = durationpb.New(namespaceRetention)
	// CreateNamespaces leaves an existing namespace untouched.
	if err := sqliteschema.CreateNamespaces(cfg, nsCfg); err != nil {
		return created, fmt.Errorf("register namespace %q in %s: %w", ns, path, err)
	}
	return created, nil
}
