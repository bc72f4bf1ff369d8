// Package sshdevice is a demo SSH device: a small in-process SSH server on 127.0.0.1 that plays
// one Linux gateway, so that `otpatch dev --demo` shows the ssh adapter at work on a laptop
// without an OpenSSH server.
//
// It does what an OpenSSH server does with the ssh adapter's commands, and nothing else: its own
// host key (kept in the device folder, so known_hosts stays valid across restarts), one
// authorized client key, any user name, exec requests only (no shell, no pty, no forwarding,
// no subsystems), each exec run as `/bin/sh -c <command>` with the device folder as working
// directory and HOME, signals delivered to the command's process group, exit status or signal
// reported back.
//
// It is a demo device, not a hardened server: commands run as the otpatch process's own
// account with its privileges, and there is no resource limit. Never expose it beyond loopback.
package sshdevice

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// stateDir is the device's own folder inside its root: host key and last port.
const stateDir = ".sshdevice"

// Device is a running demo SSH device.
type Device struct {
	root    string
	l       net.Listener
	hostKey gossh.Signer
	config  *gossh.ServerConfig

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Start starts a device whose root folder is dir (created if missing), accepting the client key
// authorized. It listens on the 127.0.0.1 port it used last time when that port is free, so an
// asset's stored address stays valid across restarts, and on a new port otherwise. It stops
// when ctx is done or Close is called.
func Start(ctx context.Context, dir string, authorized gossh.PublicKey) (*Device, error) {
	if authorized == nil {
		return nil, errors.New("sshdevice: no authorized client key")
	}
	if err := supported(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, stateDir), 0o700); err != nil {
		return nil, fmt.Errorf("sshdevice: create %s: %w", root, err)
	}
	hostKey, err := loadHostKey(filepath.Join(root, stateDir, "ssh_host_ed25519_key"))
	if err != nil {
		return nil, err
	}
	want := authorized.Marshal()
	config := &gossh.ServerConfig{
		ServerVersion: "SSH-2.0-otpatch-demo-device",
		MaxAuthTries:  3,
		PublicKeyCallback: func(meta gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if bytes.Equal(key.Marshal(), want) {
				return &gossh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s is not authorized for %s", gossh.FingerprintSHA256(key), meta.User())
		},
	}
	config.AddHostKey(hostKey)

	portFile := filepath.Join(root, stateDir, "port")
	var l net.Listener
	if b, err := os.ReadFile(portFile); err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && port > 0 {
			l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
	}
	if l == nil {
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("sshdevice: listen: %w", err)
		}
	}
	_ = os.WriteFile(portFile, []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port)+"\n"), 0o600)

	d := &Device{root: root, l: l, hostKey: hostKey, config: config, conns: map[net.Conn]struct{}{}}
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.wg.Add(1)
	go d.serve()
	context.AfterFunc(d.ctx, func() { _ = d.l.Close() })
	return d, nil
}

// loadHostKey reads the device's host key, or makes and saves one.
func loadHostKey(file string) (gossh.Signer, error) {
	if b, err := os.ReadFile(file); err == nil {
		s, err := gossh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("sshdevice: host key %s: %w", file, err)
		}
		return s, nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "otpatch demo device")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("sshdevice: save host key: %w", err)
	}
	return gossh.NewSignerFromKey(priv)
}

// Addr returns the device's "127.0.0.1:port".
func (d *Device) Addr() string { return d.l.Addr().String() }

// Root returns the device's root folder (its working directory and HOME).
func (d *Device) Root() string { return d.root }

// HostKey returns the device's host public key.
func (d *Device) HostKey() gossh.PublicKey { return d.hostKey.PublicKey() }

// HostKeyLine returns the device's known_hosts line.
func (d *Device) HostKeyLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(d.Addr())}, d.hostKey.PublicKey())
}

// Close stops the device: no new connections, open connections closed, running commands
// killed.
func (d *Device) Close() error {
	d.cancel()
	_ = d.l.Close()
	d.mu.Lock()
	for c := range d.conns {
		_ = c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

func (d *Device) serve() {
	defer d.wg.Done()
	for {
		c, err := d.l.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.ctx.Err() != nil {
			d.mu.Unlock()
			_ = c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer func() {
				d.mu.Lock()
				delete(d.conns, c)
				d.mu.Unlock()
				_ = c.Close()
			}()
			d.handle(c)
		}()
	}
}

func (d *Device) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := gossh.NewServerConn(c, d.config)
	if err != nil {
		return
	}
	defer sc.Close()
	_ = c.SetDeadline(time.Time{})
	// Global requests (keepalives, port forwarding) are answered "no", as OpenSSH answers
	// requests it does not serve: still an answer, so a client sees the device alive.
	go gossh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(gossh.Prohibited, "this device accepts session channels only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.session(ch, creqs, sc.User())
		}()
	}
}

// session serves one session channel: one exec, then its exit status.
func (d *Device) session(ch gossh.Channel, reqs <-chan *gossh.Request, user string) {
	defer ch.Close()
	var cmd *exec.Cmd
	running := false
	exited := make(chan struct{})
	for {
		var req *gossh.Request
		select {
		case req = <-reqs:
		case <-exited:
			// Keep answering requests until the client closes the channel.
			running, exited = false, nil
			continue
		case <-d.ctx.Done():
			if running {
				killGroup(cmd, "KILL")
			}
			return
		}
		if req == nil {
			if running {
				// The client went away; OpenSSH would let the command run on, the demo tidies up.
				killGroup(cmd, "HUP")
			}
			return
		}
		switch req.Type {
		case "exec":
			var payload struct{ Command string }
			if cmd != nil || gossh.Unmarshal(req.Payload, &payload) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			c := d.command(payload.Command, user)
			if err := d.start(c, ch); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			cmd, running = c, true
			_ = req.Reply(true, nil)
			go func(done chan struct{}) {
				d.wait(c, ch)
				close(done)
			}(exited)
		case "signal":
			var payload struct{ Signal string }
			if running && gossh.Unmarshal(req.Payload, &payload) == nil {
				killGroup(cmd, payload.Signal)
			}
			if req.WantReply {
				_ = req.Reply(running, nil)
			}
		default: // shell, pty-req, env, subsystem, x11-req, auth-agent-req@openssh.com, …
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// command is what OpenSSH runs for an exec request: the login shell with -c, in the home.
func (d *Device) command(line, user string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Dir = d.root
	cmd.Env = []string{
		"HOME=" + d.root,
		"USER=" + user,
		"LOGNAME=" + user,
		"SHELL=/bin/sh",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
	}
	setProcessGroup(cmd)
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

func (d *Device) start(cmd *exec.Cmd, ch gossh.Channel) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	if err := cmd.Start(); err != nil {
		return err
	}
	// Copy stdin ourselves, so that a command that exits without reading it is not held up by a
	// client that keeps its side open.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	return nil
}

// wait waits for the command and reports its exit status or signal to the client.
func (d *Device) wait(cmd *exec.Cmd, ch gossh.Channel) {
	err := cmd.Wait()
	_ = ch.CloseWrite()
	if sig, ok := signaled(cmd); ok {
		_, _ = ch.SendRequest("exit-signal", false, gossh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Message    string
			Lang       string
		}{Signal: sig}))
	} else {
		status := 0
		if cmd.ProcessState != nil {
			status = cmd.ProcessState.ExitCode()
		} else if err != nil {
			status = 255
		}
		_, _ = ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(status)}))
	}
	_ = ch.Close()
}
