package passwords

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// cheap keeps the tests fast; Verify reads the parameters from each hash.
var cheap = Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	for _, p := range []Params{cheap, Default} {
		h, err := Hash("correct horse 7", p)
		if err != nil {
			t.Fatal(err)
		}
		if want := phcPrefix(p); !strings.HasPrefix(h, want) {
			t.Errorf("Hash = %s, want a PHC string starting %s", h, want)
		}
		if ok, err := Verify("correct horse 7", h); !ok || err != nil {
			t.Errorf("Verify(the password, %s) = %v, %v; want true", h, ok, err)
		}
		for _, wrong := range []string{"correct horse 8", "Correct horse 7", "correct horse 7 ", ""} {
			if ok, err := Verify(wrong, h); ok || err != nil {
				t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
	}
	a, _ := Hash("same", cheap)
	b, _ := Hash("same", cheap)
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not fresh")
	}
}

// phcPrefix is how a hash made with p begins.
func phcPrefix(p Params) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Time, p.Threads)
}

func TestVerifyMalformed(t *testing.T) {
	good, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=…, salt, hash
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"not PHC", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"a part missing", strings.Join(parts[:5], "$")},
		{"a part too many", good + "$x"},
		{"another version", with(2, "v=16")},
		{"no version", with(2, "19")},
		{"no parameters", with(3, "")},
		{"no passes", with(3, "m=1024,t=0,p=1")},
		{"no lanes", with(3, "m=1024,t=1,p=0")},
		{"absurd memory (4 TiB)", with(3, "m=4294967295,t=1,p=1")},
		{"salt not base64", with(4, "!!!")},
		{"hash not base64", with(5, "!!!")},
		{"empty hash", with(5, "")},
		{"hash too long", with(5, strings.Repeat("A", 175))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify("pw", tt.phc)
			if ok || !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", tt.phc, ok, err)
			}
		})
	}
}

// TestWasteDecoy: the decoy Waste checks against is a hash Verify reads, so checking an unknown
// user's password costs what checking a known one's does.
func TestWasteDecoy(t *testing.T) {
	if ok, err := Verify("otpatch decoy password", decoy); !ok || err != nil {
		t.Fatalf("Verify(decoy) = %v, %v; want the decoy to be a readable hash", ok, err)
	}
	if !strings.HasPrefix(decoy, phcPrefix(Default)) {
		t.Errorf("decoy = %s, want the default parameters, so Waste costs what Verify of a stored hash does", decoy)
	}
	Waste("anything")
}

func TestGenerate(t *testing.T) {
	policy := domain.PasswordPolicy{MinLength: 12, MinClasses: 3}
	all := domain.PasswordPolicy{MinLength: 20, MinClasses: 4}
	seen := map[string]bool{}
	for range 200 {
		pw := Generate()
		if err := policy.CheckComposition("", pw); err != nil {
			t.Fatalf("Generate() = %q: %v", pw, err)
		}
		if err := all.CheckComposition("", pw); err != nil || len(pw) != 20 {
			t.Fatalf("Generate() = %q (%d characters): %v; want 20 characters of all four classes", pw, len(pw), err)
		}
		if strings.ContainsAny(pw, `'"\$ `+"`") {
			t.Fatalf("Generate() = %q holds a character a shell or an env file would read", pw)
		}
		if seen[pw] {
			t.Fatalf("Generate() gave %q twice", pw)
		}
		seen[pw] = true
	}
}
