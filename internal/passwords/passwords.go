// Package passwords hashes local accounts' passwords with Argon2id (RFC 9106) and keeps them
// as PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the parameters travel with each
// hash and can be raised without breaking stored ones.
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is RFC 9106's second recommended option (64 MiB, 3 passes), with 2 lanes.
var Default = Params{Memory: 64 * 1024, Time: 3, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
)

// slots bounds how many hashes run at once: each takes Params.Memory, so a burst of sign-ins
// queues instead of exhausting the server's memory.
var slots = make(chan struct{}, 4)

func idKey(password string, salt []byte, p Params, n uint32) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, n)
}

// Hash hashes password with fresh salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := idKey(password, salt, p, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformed is a stored hash this package cannot read.
var ErrMalformed = errors.New("the stored password hash is not an argon2id PHC string")

// Verify reports whether password matches the PHC string phc, in constant time.
func Verify(password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<20 {
		return false, ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrMalformed
	}
	got := idKey(password, salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// decoy is a hash of nothing anyone knows: checking a password against it for an unknown user
// takes as long as for a known one, so timing does not tell which usernames exist.
var decoy, _ = Hash("otpatch decoy password", Default)

// Waste spends the time of one Verify.
func Waste(password string) { _, _ = Verify(password, decoy) }

// Generate makes a random one-time password that meets any sensible composition policy:
// 20 characters from lower and upper case letters, digits and symbols, each class present.
func Generate() string {
	const (
		lower  = "abcdefghijkmnopqrstuvwxyz"
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits = "23456789"
		symbol = "-_.!#%+="
	)
	classes := []string{lower, upper, digits, symbol}
	all := strings.Join(classes, "")
	b := make([]byte, 20)
	r := make([]byte, 20)
	_, _ = rand.Read(r)
	for i := range b {
		set := all
		if i < len(classes) {
			set = classes[i]
		}
		b[i] = set[int(r[i])%len(set)]
	}
	// Shuffle so the classes are not always first (Fisher-Yates on fresh random bytes).
	_, _ = rand.Read(r)
	for i := len(b) - 1; i > 0; i-- {
		j := int(r[i]) % (i + 1)
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
