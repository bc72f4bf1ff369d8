package ssh_test

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/ssh"
)

// freezer is a TCP proxy that can stop forwarding, like a link or a device that stops
// answering without closing the connection.
type freezer struct {
	l      net.Listener
	frozen atomic.Bool
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, up)
			go f.pipe(up, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for f.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

type progress struct {
	mu     sync.Mutex
	events []string
}

func (p *progress) report(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stalled {
		p.events = append(p.events, "stalled")
	} else {
		p.events = append(p.events, "progressed")
	}
}

func (p *progress) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.events...)
}

// A quiet command on a live device is not a stall; a connection that stops answering is, and
// one that answers again is progressing again.
func TestStall(t *testing.T) {
	d := newDevice(t)
	f := newFreezer(t, d.srv.Addr)
	d.endpoint.Address = f.l.Addr().String()
	known := filepath.Join(t.TempDir(), "known_hosts")
	write(t, known, knownhosts.Line([]string{knownhosts.Normalize(d.endpoint.Address)}, d.srv.HostKey)+"\n")
	a := d.adapter(t, func(c *ssh.Config) {
		c.KnownHostsFile = known
		c.StallAfter = time.Second
		c.KeepAlive = 200 * time.Millisecond
	})
	p := &progress{}
	ctx := adapters.WithProgress(context.Background(), p.report)

	done := make(chan error, 1)
	var res adapters.VerifyResult
	go func() {
		var err error
		res, err = a.Verify(ctx, asset, adapters.VerifyRequest{Step: mustJSON(t, []string{"/bin/sh", "-c", "sleep 5; echo 2.0"})})
		done <- err
	}()

	time.Sleep(2500 * time.Millisecond) // quiet, but the device answers keepalives
	if ev := p.get(); len(ev) != 0 {
		t.Fatalf("a quiet step on a live device reported %v", ev)
	}
	f.frozen.Store(true)
	waitFor(t, p, []string{"stalled"}, 5*time.Second)
	f.frozen.Store(false)
	waitFor(t, p, []string{"stalled", "progressed"}, 5*time.Second)
	select {
	case err := <-done:
		if err != nil || res.Version != "2.0" {
			t.Fatalf("Verify after the link came back = %+v, %v", res, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Verify did not finish after the link came back")
	}
}

func waitFor(t *testing.T, p *progress, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := p.get()
		if len(got) == len(want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("progress reports %v, want %v", got, want)
				}
			}
			return
		}
		if len(got) > len(want) || time.Now().After(deadline) {
			t.Fatalf("progress reports %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
