package testenv_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/otpatch/otpatch/internal/testenv"
)

func TestFreeAddr(t *testing.T) {
	addr := testenv.FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr() = %q, want 127.0.0.1:port (%v)", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr() %s: %v", addr, err)
	}
	l.Close()
}

func TestMinIO(t *testing.T) {
	srv := testenv.MinIO(t)
	if srv.AccessKey == "" || srv.SecretKey == "" || !strings.HasPrefix(srv.Endpoint, "127.0.0.1:") {
		t.Fatalf("MinIO() = %+v, want a loopback endpoint and credentials", srv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	client, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Secure: false,
	})
	if err != nil {
		t.Fatal(err)
	}

	const bucket, key = "testenv", "dir/object.txt"
	body := []byte("otpatch testenv object\n")
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	info, err := client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatalf("put object: %v", err)
	}
	if info.Size != int64(len(body)) {
		t.Fatalf("put object size = %d, want %d", info.Size, len(body))
	}
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get object: %v", err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("object = %q, want %q", got, body)
	}

	// Object lock is what the audit checkpoints rely on in production.
	if err := client.MakeBucket(ctx, "testenv-locked", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("make bucket with object lock: %v", err)
	}
	lock, _, _, _, err := client.GetObjectLockConfig(ctx, "testenv-locked")
	if err != nil {
		t.Fatalf("get object lock config: %v", err)
	}
	if lock != "Enabled" {
		t.Fatalf("object lock = %q, want Enabled", lock)
	}

	// Wrong credentials are refused: the server is not running anonymously.
	bad, err := minio.New(srv.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(srv.AccessKey, "wrong-"+srv.SecretKey, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.ListBuckets(ctx); err == nil {
		t.Fatal("ListBuckets with a wrong secret key succeeded")
	}
}

func TestMinIOServersAreSeparate(t *testing.T) {
	a := testenv.MinIO(t)
	b := testenv.MinIO(t)
	if a.Endpoint == b.Endpoint || a.AccessKey == b.AccessKey || a.SecretKey == b.SecretKey {
		t.Fatalf("two servers share an endpoint or credentials: %+v %+v", a, b)
	}
}

func TestPostgresDSN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var name string
	t.Run("fresh database", func(t *testing.T) {
		dsn := testenv.PostgresDSN(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect to %s: %v", dsn, err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "otpatch_t_") {
			t.Fatalf("current_database() = %q, want a database made by testenv", name)
		}
		var n int
		if err := conn.QueryRow(ctx,
			"SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("fresh database has %d tables", n)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, v text)"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1, 'one')"); err != nil {
			t.Fatal(err)
		}
		var v string
		if err := conn.QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "one" {
			t.Fatalf("read back = %q, %v", v, err)
		}
		// The connection stays open on purpose: the drop must still work.
	})
	if t.Skipped() || name == "" {
		return
	}

	// The subtest's cleanup has run: its database must be gone.
	other := testenv.PostgresDSN(t)
	conn, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
	var current string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&current); err != nil {
		t.Fatal(err)
	}
	if current == name {
		t.Fatalf("two calls returned the same database %s", name)
	}
}
