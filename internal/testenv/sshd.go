package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// EnvSSHDBin names the environment variable that points at the OpenSSH server binary. It takes
// precedence over /usr/sbin/sshd and PATH.
const EnvSSHDBin = "OTPATCH_SSHD_BIN"

const (
	sshdStartTimeout = 30 * time.Second
	sshdStopTimeout  = 10 * time.Second
	sshdStartTries   = 3
)

// SSHServer is a running OpenSSH server that belongs to one test, with a throwaway account that
// logs in with one client key.
type SSHServer struct {
	// Addr is the server's "127.0.0.1:port".
	Addr string
	// User is the throwaway account (otp-xxxxxx), Home its home directory; both are removed when
	// the test ends.
	User string
	Home string
	// UID and GID are the account's, for files a test puts in Home.
	UID, GID int
	// KeyFile is the client's private key (OpenSSH PEM format, no passphrase) and Signer the same
	// key parsed; its public key is the account's only authorized key.
	KeyFile string
	Signer  gossh.Signer
	// HostKey is the server's host public key, KnownHostsLine its known_hosts line and
	// KnownHostsFile a file holding just that line.
	HostKey        gossh.PublicKey
	KnownHostsLine string
	KnownHostsFile string
}

// SSHD starts an OpenSSH server (sshd from Debian's openssh-server) for this test, as its own
// process on a free loopback port, with its own host key and configuration: key authentication
// only, no PAM, no forwarding, no tty, one allowed account. The account is created with
// `useradd -m` and removed with `userdel -r` when the test ends, after its processes are
// killed. The server's log is printed when the test fails.
//
// It needs root (for useradd and for sshd to log in as another account). When sshd, ssh-keygen
// or useradd is missing, or the test does not run as root, the test is skipped, or fails when
// OTPATCH_REQUIRE_SERVICES=1. Install the server with `apt-get install -y openssh-server`.
func SSHD(t testing.TB) *SSHServer {
	t.Helper()
	return sshd(t, nil)
}

// SSHDIn is SSHD inside the network namespace ns, listening on ns.NSIP: only the test's own
// namespace (through ns.HostIP's side) and processes inside ns reach it.
func SSHDIn(t testing.TB, ns *Netns) *SSHServer {
	t.Helper()
	return sshd(t, ns)
}

func sshd(t testing.TB, ns *Netns) *SSHServer {
	t.Helper()
	bin, err := sshdBinary()
	if err != nil {
		unavailable(t, "testenv: "+err.Error()+"; install it with `apt-get install -y openssh-server` or set "+EnvSSHDBin)
		return nil
	}
	for _, tool := range []string{"ssh-keygen", "useradd", "userdel", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "testenv: "+tool+" not found; the sshd tests need openssh-client and passwd")
			return nil
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "testenv: the sshd tests must run as root (to create a throwaway account and let sshd log in as it)")
		return nil
	}

	dir := t.TempDir()
	srv := &SSHServer{}

	// Host and client keys, made by the same tool an engineer would use.
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	srv.KeyFile = filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, srv.KeyFile} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "otpatch-test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("testenv: ssh-keygen %s: %v\n%s", k, err, out)
		}
	}
	pem, err := os.ReadFile(srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Signer, err = gossh.ParsePrivateKey(pem); err != nil {
		t.Fatalf("testenv: parse client key: %v", err)
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if srv.HostKey, _, _, _, err = gossh.ParseAuthorizedKey(hostPub); err != nil {
		t.Fatalf("testenv: parse host key: %v", err)
	}

	createAccount(t, srv)

	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("testenv: create /run/sshd: %v", err)
	}
	for try := 1; ; try++ {
		err := startSSHD(t, bin, dir, hostKey, try, srv, ns)
		if err == nil {
			break
		}
		if !errors.Is(err, errSSHDExited) || try == sshdStartTries {
			t.Fatalf("testenv: start sshd (%s): %v", bin, err)
		}
	}
	srv.KnownHostsLine = knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, srv.HostKey)
	srv.KnownHostsFile = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(srv.KnownHostsFile, []byte(srv.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv
}

func sshdBinary() (string, error) {
	if p := os.Getenv(EnvSSHDBin); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", EnvSSHDBin, p)
	}
	if isExecutable("/usr/sbin/sshd") {
		return "/usr/sbin/sshd", nil
	}
	if p, err := exec.LookPath("sshd"); err == nil {
		return filepath.Abs(p) // sshd must be started with an absolute path
	}
	return "", errors.New("OpenSSH server (sshd) not found (looked at $" + EnvSSHDBin + ", /usr/sbin/sshd, PATH)")
}

// createAccount creates the throwaway account, authorizes the client key and removes both when
// the test ends.
func createAccount(t testing.TB, srv *SSHServer) {
	t.Helper()
	srv.User = "otp-" + randomHex(t, 3)
	if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", "-c", "otpatch test account", srv.User).CombinedOutput(); err != nil {
		t.Fatalf("testenv: useradd %s: %v\n%s", srv.User, err, out)
	}
	t.Cleanup(func() { removeAccount(t, srv.User) })
	// A "!" password marks the account locked, which sshd refuses without PAM; "*" means no
	// password can log in, and keys still can.
	if out, err := exec.Command("usermod", "-p", "*", srv.User).CombinedOutput(); err != nil {
		t.Fatalf("testenv: usermod %s: %v\n%s", srv.User, err, out)
	}
	u, err := user.Lookup(srv.User)
	if err != nil {
		t.Fatalf("testenv: look up %s: %v", srv.User, err)
	}
	srv.Home = u.HomeDir
	srv.UID, _ = strconv.Atoi(u.Uid)
	srv.GID, _ = strconv.Atoi(u.Gid)
	sshDir := filepath.Join(srv.Home, ".ssh")
	auth := filepath.Join(sshDir, "authorized_keys")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(auth, gossh.MarshalAuthorizedKey(srv.Signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{srv.Home, sshDir, auth} {
		if err := os.Chown(p, srv.UID, srv.GID); err != nil {
			t.Fatal(err)
		}
	}
}

// removeAccount kills the processes the account still runs (a step the test left hanging),
// each by its process ID, and deletes the account and its home.
func removeAccount(t testing.TB, name string) {
	u, err := user.Lookup(name)
	if err != nil {
		return
	}
	uid, _ := strconv.Atoi(u.Uid)
	for try := 0; try < 20; try++ {
		pids := processesOf(uid)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
		t.Errorf("testenv: userdel -r %s: %v\n%s", name, err, out)
	}
}

// processesOf returns the IDs of the processes whose real user is uid.
func processesOf(uid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
				if fields := strings.Fields(rest); len(fields) > 0 && fields[0] == strconv.Itoa(uid) {
					pids = append(pids, pid)
				}
				break
			}
		}
		f.Close()
	}
	return pids
}

var errSSHDExited = errors.New("sshd exited before it was ready")

func startSSHD(t testing.TB, bin, dir, hostKey string, try int, srv *SSHServer, ns *Netns) error {
	t.Helper()
	if ns != nil {
		// A namespace of the test's own: the port is free there.
		srv.Addr = net.JoinHostPort(ns.NSIP, strconv.Itoa(ns.Port()))
	} else {
		srv.Addr = FreeAddr(t)
	}
	host, port, _ := net.SplitHostPort(srv.Addr)
	config := filepath.Join(dir, fmt.Sprintf("sshd_config-%d", try))
	conf := strings.Join([]string{
		"ListenAddress " + host,
		"Port " + port,
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(dir, fmt.Sprintf("sshd-%d.pid", try)),
		"AllowUsers " + srv.User,
		"AuthenticationMethods publickey",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"HostbasedAuthentication no",
		"UsePAM no",
		"PermitRootLogin no",
		"PermitEmptyPasswords no",
		"AuthorizedKeysFile .ssh/authorized_keys",
		// The temporary directories above the test's files are not root-owned 0755 all the way.
		"StrictModes no",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"AllowStreamLocalForwarding no",
		"X11Forwarding no",
		"PermitTunnel no",
		"PermitTTY no",
		"PermitUserEnvironment no",
		"PrintMotd no",
		"UseDNS no",
		"MaxStartups 100:30:200",
		"MaxSessions 50",
		"LogLevel VERBOSE",
		"",
	}, "\n")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return err
	}
	out := &SyncBuffer{}
	// -D: stay in the foreground, -e: log to stderr.
	cmd := exec.Command(bin, "-D", "-e", "-f", config)
	if ns != nil {
		cmd = ns.Command(bin, "-D", "-e", "-f", config)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	proc, err := startProcess(cmd, sshdStopTimeout)
	if err != nil {
		return err
	}
	stop := proc.stop

	deadline := time.Now().Add(sshdStartTimeout)
	for {
		if proc.exited() {
			return fmt.Errorf("%w (%v); output:\n%s", errSSHDExited, proc.err, out)
		}
		if banner(srv.Addr) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("sshd not ready on %s after %s; output:\n%s", srv.Addr, sshdStartTimeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testenv: sshd at %s log:\n%s", srv.Addr, out)
		}
	})
	return nil
}

// banner reports whether an SSH server answers on addr.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Authorize lets key log in to the account too (another client's key), besides KeyFile's.
func (s *SSHServer) Authorize(t testing.TB, key gossh.PublicKey) {
	t.Helper()
	auth, err := os.OpenFile(filepath.Join(s.Home, ".ssh", "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	if _, err := auth.Write(gossh.MarshalAuthorizedKey(key)); err != nil {
		t.Fatal(err)
	}
}

// Chown gives everything in the account's home to the account, after a test laid files out
// there as root.
func (s *SSHServer) Chown(t testing.TB) {
	t.Helper()
	err := filepath.WalkDir(s.Home, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.UID, s.GID)
	})
	if err != nil {
		t.Fatal(err)
	}
}
