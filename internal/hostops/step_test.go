package hostops_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/hostops"
)

func TestParseStep(t *testing.T) {
	vars := map[string]string{
		hostops.VarArtifact: "/home/otp/.otpatch/artifacts/gw 2.4.bin",
		hostops.VarVersion:  "2.4.1",
		hostops.VarWorkDir:  "/home/otp/.otpatch",
	}
	tests := []struct {
		name    string
		step    string
		vars    map[string]string
		want    []string
		wantErr string
	}{
		{name: "plain", step: "/usr/bin/gw-install --quiet", want: []string{"/usr/bin/gw-install", "--quiet"}},
		{name: "plain with tabs and trailing newline", step: "  gw-verify\t--json \n", want: []string{"gw-verify", "--json"}},
		{name: "placeholder is one element even with a space in it", step: "/bin/sh {artifact} {version}", vars: vars,
			want: []string{"/bin/sh", "/home/otp/.otpatch/artifacts/gw 2.4.bin", "2.4.1"}},
		{name: "partial placeholder", step: "installer --to={version} --log={workdir}/install.log", vars: vars,
			want: []string{"installer", "--to=2.4.1", "--log=/home/otp/.otpatch/install.log"}},
		{name: "json array", step: `["/bin/sh","{artifact}","--quiet"]`, vars: vars,
			want: []string{"/bin/sh", "/home/otp/.otpatch/artifacts/gw 2.4.bin", "--quiet"}},
		{name: "json keeps metacharacters literal", step: `["/bin/sh","-c","echo a; echo $HOME | cat"]`,
			want: []string{"/bin/sh", "-c", "echo a; echo $HOME | cat"}},
		{name: "substituted value is not substituted again", step: "x {version}",
			vars: map[string]string{hostops.VarVersion: "{workdir}", hostops.VarWorkDir: "/w"}, want: []string{"x", "{workdir}"}},
		{name: "unknown braces stay", step: `["gwctl","{\"a\":1}","{other}"]`, want: []string{"gwctl", `{"a":1}`, "{other}"}},

		{name: "empty", step: " \n", wantErr: "empty"},
		{name: "semicolon", step: "install.sh; reboot", wantErr: `';' at character 11`},
		{name: "pipe", step: "cat x | sh", wantErr: `'|'`},
		{name: "ampersand", step: "daemon &", wantErr: `'&'`},
		{name: "dollar", step: "echo $HOME", wantErr: `'$'`},
		{name: "redirect", step: "echo x > /etc/passwd", wantErr: `'>'`},
		{name: "input redirect", step: "sh < x", wantErr: `'<'`},
		{name: "backtick", step: "echo `id`", wantErr: "'`'"},
		{name: "subshell", step: "(reboot)", wantErr: `'('`},
		{name: "backslash", step: `echo a\ b`, wantErr: `'\\'`},
		{name: "double quote", step: `echo "a b"`, wantErr: `'"'`},
		{name: "single quote", step: `echo 'a b'`, wantErr: `'\''`},
		{name: "line break inside", step: "install\nreboot", wantErr: "line break"},
		{name: "refusal says what to do", step: "a;b", wantErr: "JSON array"},
		{name: "bad json", step: `["a", 1]`, wantErr: "not a JSON array of strings"},
		{name: "empty json", step: `[]`, wantErr: "empty JSON array"},
		{name: "empty program", step: `["", "x"]`, wantErr: "program"},
		{name: "nul", step: `["a","b\u0000c"]`, wantErr: "NUL"},
		{name: "missing placeholder value", step: "/bin/sh {artifact}", vars: map[string]string{hostops.VarVersion: "1"},
			wantErr: "{artifact}, which this step cannot use (available: {version})"},
		{name: "too many args", step: strings.Repeat("a ", hostops.MaxStepArgs+1), wantErr: "arguments"},
		{name: "too long", step: "a " + strings.Repeat("b", hostops.MaxStepBytes), wantErr: "bytes long"},
		{name: "too long once substituted", step: "a {version}",
			vars: map[string]string{hostops.VarVersion: strings.Repeat("v", hostops.MaxStepBytes)}, wantErr: "once its placeholders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hostops.ParseStep(tt.step, tt.vars)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStep(%q) = %q, %v; want error containing %q", tt.step, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStep(%q): %v", tt.step, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParseStep(%q) = %q, want %q", tt.step, got, tt.want)
			}
		})
	}
}

func FuzzParseStep(f *testing.F) {
	for _, s := range []string{"a b c", `["/bin/sh","{artifact}"]`, "x {version} {workdir}", "a;b", "[", `["a",`, "\n"} {
		f.Add(s)
	}
	vars := map[string]string{hostops.VarArtifact: "/a b", hostops.VarVersion: "1.0", hostops.VarWorkDir: "/w"}
	f.Fuzz(func(t *testing.T, step string) {
		argv, err := hostops.ParseStep(step, vars)
		if err != nil {
			return
		}
		if len(argv) == 0 || len(argv) > hostops.MaxStepArgs || argv[0] == "" {
			t.Fatalf("ParseStep(%q) = %q: bad argv count or empty program", step, argv)
		}
		plain := !strings.HasPrefix(strings.TrimSpace(step), "[")
		for _, a := range argv {
			if strings.ContainsRune(a, 0) {
				t.Fatalf("ParseStep(%q) = %q: NUL in an argument", step, argv)
			}
			if plain && strings.ContainsAny(strings.ReplaceAll(a, "/a b", ""), "|;&$<>`()\\\"'\n\r") {
				t.Fatalf("ParseStep(%q) = %q: plain form let a shell metacharacter through", step, argv)
			}
		}
	})
}
