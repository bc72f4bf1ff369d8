package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runVendor(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: otpatch vendor keygen|sign|submit …")
	}
	switch args[0] {
	case "keygen":
		return vendorKeygen(args[1:])
	case "sign":
		return vendorSign(args[1:])
	case "submit":
		return vendorSubmit(ctx, args[1:])
	}
	return fmt.Errorf("unknown vendor command %q: keygen, sign or submit", args[0])
}

func vendorKeygen(args []string) error {
	fs := flag.NewFlagSet("vendor keygen", flag.ContinueOnError)
	out := fs.String("out", "vendor", "writes OUT.key (private, PEM) and OUT.pub (base64, for the asset owner)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pub, priv, err := signing.GenerateKey()
	if err != nil {
		return err
	}
	pemKey, err := signing.MarshalPrivate(priv)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out + ".key"); err == nil {
		return fmt.Errorf("%s.key exists; refusing to overwrite a signing key", *out)
	}
	if err := os.WriteFile(*out+".key", pemKey, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", []byte(signing.EncodePublic(pub)+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s.key (keep it secret) and %s.pub\nfingerprint %s\n", *out, *out, signing.Fingerprint(pub))
	return nil
}

// vendorSign completes the manifest's artifact entries (size, SHA-256) from the given files,
// validates it, writes it back and writes MANIFEST.sig with the signature of its exact bytes.
func vendorSign(args []string) error {
	fs := flag.NewFlagSet("vendor sign", flag.ContinueOnError)
	keyPath := fs.String("key", "", "vendor private key (PEM)")
	manifestPath := fs.String("manifest", "", "manifest JSON file")
	var arts stringList
	fs.Var(&arts, "artifact", "artifact file whose size and SHA-256 are written into the manifest (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyPath == "" || *manifestPath == "" {
		return errors.New("usage: otpatch vendor sign --key KEY --manifest FILE [--artifact FILE]...")
	}
	keyPEM, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := signing.ParsePrivate(keyPEM)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*manifestPath)
	if err != nil {
		return err
	}
	if len(arts) > 0 {
		var m domain.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", *manifestPath, err)
		}
		for _, path := range arts {
			size, sum, err := fileDigest(path)
			if err != nil {
				return err
			}
			name := filepath.Base(path)
			found := false
			for i := range m.Artifacts {
				if m.Artifacts[i].Name == name {
					m.Artifacts[i].Size, m.Artifacts[i].SHA256, found = size, sum, true
				}
			}
			if !found {
				m.Artifacts = append(m.Artifacts, domain.ArtifactRef{Name: name, Size: size, SHA256: sum, MediaType: "application/octet-stream"})
			}
		}
		raw, _ = json.MarshalIndent(m, "", "  ")
		raw = append(raw, '\n')
	}
	if _, err := domain.ParseManifest(raw); err != nil {
		return fmt.Errorf("%s: %w", *manifestPath, err)
	}
	if err := os.WriteFile(*manifestPath, raw, 0o644); err != nil {
		return err
	}
	sig := signing.Sign(priv, raw)
	if err := os.WriteFile(*manifestPath+".sig", []byte(sig+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("signed %s with key %s; signature in %s.sig\n", *manifestPath, signing.Fingerprint(priv.Public().(ed25519.PublicKey)), *manifestPath)
	return nil
}

func fileDigest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// progress reports upload progress on stderr.
type progress struct {
	r     io.Reader
	total int64
	done  int64
	last  time.Time
	name  string
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 200*time.Millisecond || err == io.EOF {
		p.last = time.Now()
		pct := 100.0
		if p.total > 0 {
			pct = float64(p.done) * 100 / float64(p.total)
		}
		bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
		fmt.Fprintf(os.Stderr, "\r%-24s [%s] %5.1f%% %d/%d bytes", p.name, bar, pct, p.done, p.total)
		if err == io.EOF {
			fmt.Fprintln(os.Stderr)
		}
	}
	return n, err
}

func vendorSubmit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vendor submit", flag.ContinueOnError)
	url := fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL (OTPATCH_URL)")
	token := fs.String("token", env("TOKEN", ""), "vendor token (OTPATCH_TOKEN)")
	manifestPath := fs.String("manifest", "", "signed manifest JSON (its signature is read from FILE.sig)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *manifestPath == "" || *token == "" || fs.NArg() == 0 {
		return errors.New("usage: otpatch vendor submit --url URL --token TOKEN --manifest FILE ARTIFACT...")
	}
	raw, err := os.ReadFile(*manifestPath)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(*manifestPath + ".sig")
	if err != nil {
		return fmt.Errorf("signature: %w (sign the manifest with otpatch vendor sign)", err)
	}
	var total int64
	for _, path := range fs.Args() {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		total += st.Size()
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			fw, err := mw.CreateFormField("manifest")
			if err != nil {
				return err
			}
			if _, err := fw.Write(raw); err != nil {
				return err
			}
			if err := mw.WriteField("signature", strings.TrimSpace(string(sig))); err != nil {
				return err
			}
			for _, path := range fs.Args() {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				st, _ := f.Stat()
				fw, err := mw.CreateFormFile("artifact", filepath.Base(path))
				if err != nil {
					f.Close()
					return err
				}
				_, err = io.Copy(fw, &progress{r: f, total: st.Size(), name: filepath.Base(path)})
				f.Close()
				if err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*url, "/")+"/api/v1/patches", pr)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusCreated {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		return fmt.Errorf("submission refused (%s): %s", res.Status, p.Detail)
	}
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Key    string `json:"key_fingerprint"`
	}
	_ = json.Unmarshal(body, &out)
	fmt.Fprintf(os.Stderr, "submitted: patch %s, %d bytes of artifacts, signed by %s, status %s (qualification follows)\n", out.ID, total, out.Key, out.Status)
	fmt.Println(out.ID)
	return nil
}
