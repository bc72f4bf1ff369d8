package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a device whose host key otpatch refuses: not pinned in the known_hosts file
// (Pinned is empty), changed since it was pinned, or revoked. Retrying does not help; an
// engineer has to check the key out of band first.
type HostKeyError struct {
	// Address is the device's host:port, KnownHosts the known_hosts file consulted.
	Address    string
	KnownHosts string
	// Offered is the key the device offered.
	Offered gossh.PublicKey
	// Pinned are the keys known_hosts holds for the address (file and line), if any.
	Pinned  []knownhosts.KnownKey
	Revoked bool
}

func (e *HostKeyError) Error() string {
	offered := e.Offered.Type() + " " + gossh.FingerprintSHA256(e.Offered)
	line := knownhosts.Line([]string{knownhosts.Normalize(e.Address)}, e.Offered)
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s is revoked in %s: the device offered %s; otpatch refuses to connect",
			e.Address, e.KnownHosts, offered)
	case len(e.Pinned) == 0:
		return fmt.Sprintf("host key of %s is unknown: the device offered %s, and %s pins no key for it; otpatch refuses "+
			"unknown host keys. Check that fingerprint on the device itself (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub at "+
			"its console) or with its vendor, then add this line to %s: %s",
			e.Address, offered, e.KnownHosts, e.KnownHosts, line)
	}
	var pinned []string
	for _, k := range e.Pinned {
		pinned = append(pinned, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), gossh.FingerprintSHA256(k.Key), k.Filename, k.Line))
	}
	return fmt.Sprintf("host key of %s has CHANGED: the device offered %s, but %s pins %s. This is either someone between "+
		"otpatch and the device or a device that was reinstalled or replaced; otpatch refuses to connect. Check the new "+
		"fingerprint on the device itself, then replace the pinned line with: %s",
		e.Address, offered, e.KnownHosts, strings.Join(pinned, ", "), line)
}

// hostKeys reads the known_hosts file (on every connection, so a key an engineer adds is used
// at once) and returns the callback that checks address's key and the host key algorithms to
// ask for: those of the pinned keys, so a device with several host keys offers a pinned one.
func hostKeys(file, address string) (gossh.HostKeyCallback, []string, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, nil, fmt.Errorf("known_hosts file: %w", err)
	}
	check, err := knownhosts.New(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	callback := func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		err := check(address, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke):
			return &HostKeyError{Address: address, KnownHosts: file, Offered: key, Pinned: ke.Want}
		case errors.As(err, &re):
			return &HostKeyError{Address: address, KnownHosts: file, Offered: key, Revoked: true}
		}
		return fmt.Errorf("check host key of %s against %s: %w", address, file, err)
	}
	return callback, pinnedAlgorithms(check, address), nil
}

// pinnedAlgorithms asks the known_hosts callback which keys it pins for address, by offering it
// a key it cannot know.
func pinnedAlgorithms(check gossh.HostKeyCallback, address string) []string {
	probe := probeKey{}
	err := check(address, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			algos = append(algos, a)
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			add(gossh.KeyAlgoRSASHA512)
			add(gossh.KeyAlgoRSASHA256)
			add(gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// probeKey is a public key no known_hosts file holds.
type probeKey struct{}

func (probeKey) Type() string                          { return "otpatch-probe" }
func (probeKey) Marshal() []byte                       { return []byte("\x00\x00\x00\x0dotpatch-probe") }
func (probeKey) Verify([]byte, *gossh.Signature) error { return errors.New("probe key") }

// Permanent reports that retrying cannot fix a host key mismatch: a person must check the key.
func (e *HostKeyError) Permanent() bool { return true }
