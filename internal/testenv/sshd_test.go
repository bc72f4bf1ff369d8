package testenv_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/user"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/otpatch/otpatch/internal/testenv"
)

func TestSSHD(t *testing.T) {
	srv := testenv.SSHD(t)
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || !strings.HasPrefix(srv.User, "otp-") {
		t.Fatalf("SSHD() = %+v, want a loopback address and an otp- account", srv)
	}
	hostKeys, err := knownhosts.New(srv.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(signer gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", srv.Addr, &gossh.ClientConfig{
			User: srv.User, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: hostKeys, Timeout: 10 * time.Second,
		})
	}
	client, err := dial(srv.Signer)
	if err != nil {
		t.Fatalf("log in with the client key: %v", err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("id -un; pwd")
	if err != nil {
		t.Fatalf("run a command: %v", err)
	}
	if got := strings.Fields(string(out)); len(got) != 2 || got[0] != srv.User || got[1] != srv.Home {
		t.Fatalf("id -un; pwd = %q, want %s and %s", out, srv.User, srv.Home)
	}

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := gossh.NewSignerFromKey(other)
	if c, err := dial(otherSigner); err == nil {
		c.Close()
		t.Fatal("a key that is not authorized logged in")
	}
}

func TestSSHDRemovesAccount(t *testing.T) {
	var name, home string
	t.Run("server", func(t *testing.T) {
		srv := testenv.SSHD(t)
		name, home = srv.User, srv.Home
	})
	if name == "" {
		t.Skip("no server started")
	}
	if _, err := user.Lookup(name); err == nil {
		t.Fatalf("account %s still exists after the test", name)
	}
	if _, err := os.Stat(home); err == nil {
		t.Fatalf("home %s still exists after the test", home)
	}
}
