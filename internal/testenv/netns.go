package testenv

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Netns is a network namespace a test made, joined to the test's own namespace by one veth
// pair: the namespace holds NSIP, the test's side HostIP, both in a /24 of their own. The
// namespace has no default route, so from inside it only HostIP (and the namespace itself) can
// be reached: a host in another Netns cannot.
type Netns struct {
	Name   string
	HostIP string
	NSIP   string
	// ports hands out the ports of servers a test starts inside the namespace.
	ports atomic.Int32
}

// Port is a port no other server this test started in the namespace listens on.
func (n *Netns) Port() int { return 2200 + int(n.ports.Add(1)) }

// NewNetns creates a network namespace for this test and removes it when the test ends. It
// needs root and iproute2's ip; without them the test is skipped, or fails when
// OTPATCH_REQUIRE_SERVICES=1.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "testenv: ip (iproute2) not found; the network namespace tests need `apt-get install -y iproute2`")
		return nil
	}
	if os.Geteuid() != 0 {
		unavailable(t, "testenv: network namespaces need root")
		return nil
	}
	for try := 0; ; try++ {
		n, err := newNetns(t)
		if err == nil {
			return n
		}
		if try == 5 {
			t.Fatalf("testenv: create a network namespace: %v", err)
		}
	}
}

func newNetns(t testing.TB) (*Netns, error) {
	id := randomHex(t, 3)
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	subnet := fmt.Sprintf("10.231.%d", b[0])
	if subnetInUse(subnet) {
		return nil, fmt.Errorf("subnet %s.0/24 in use", subnet)
	}
	n := &Netns{Name: "otp" + id, HostIP: subnet + ".1", NSIP: subnet + ".2"}
	hostIf, nsIf := "vh"+id, "vn"+id
	if err := ip("netns", "add", n.Name); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		_ = ip("link", "del", hostIf)
		_ = ip("netns", "del", n.Name)
	})
	steps := [][]string{
		{"link", "add", hostIf, "type", "veth", "peer", "name", nsIf},
		{"link", "set", nsIf, "netns", n.Name},
		{"addr", "add", n.HostIP + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", n.Name, "addr", "add", n.NSIP + "/24", "dev", nsIf},
		{"-n", n.Name, "link", "set", nsIf, "up"},
		{"-n", n.Name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return nil, err
		}
	}
	// The test's side answers on HostIP as soon as the link is up; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for !hasAddr(n.HostIP) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s not up after 10s", n.HostIP)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n, nil
}

// Command is name with args run inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// CanDial reports whether a TCP connection to addr can be made from inside the namespace within
// timeout.
func (n *Netns) CanDial(addr string, timeout time.Duration) bool {
	host, port, _ := net.SplitHostPort(addr)
	script := fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)
	cmd := n.Command("timeout", fmt.Sprintf("%.0f", max(timeout.Seconds(), 1)), "bash", "-c", script)
	return cmd.Run() == nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func subnetInUse(prefix string) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), prefix+".") {
			return true
		}
	}
	return false
}

func hasAddr(ip string) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), ip+"/") {
			return true
		}
	}
	return false
}
