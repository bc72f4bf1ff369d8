package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/client"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// vendorKeygen is `otpatch vendor keygen`.
func vendorKeygen(_ context.Context, args []string) error {
	fs := newFlags("vendor keygen")
	out := fs.String("out", "vendor", "writes OUT.key (private, PEM) and OUT.pub (base64, for the asset owner)")
	if err := fs.noArgs(args); err != nil {
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

// vendorSign is `otpatch vendor sign`: it signs the exact bytes of a manifest and writes the
// signature to FILE.sig next to the signed FILE. It never rewrites the vendor's manifest: with
// --artifact it writes a completed copy (--out, by default NAME.signed.json) whose artifact
// entries carry each file's name, size and SHA-256, and signs that copy.
func vendorSign(_ context.Context, args []string) error {
	fs := newFlags("vendor sign")
	keyPath := fs.String("key", "", "vendor private key (PEM), made by otpatch vendor keygen")
	manifestFlag := fs.String("manifest", "", "manifest JSON `FILE` (or give it as the argument)")
	outPath := fs.String("out", "", "with --artifact: where the completed manifest goes (default: MANIFEST's name with .signed.json instead of .json)")
	var arts stringList
	fs.Var(&arts, "artifact", "artifact `FILE` whose name, size and SHA-256 go into the completed manifest (repeatable)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	manifestPath, err := manifestArg(fs, *manifestFlag, pos)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1 || (*manifestFlag != "" && len(pos) > 0):
		return fs.usageError("give one MANIFEST; artifacts go with --artifact FILE")
	case *keyPath == "":
		return fs.usageError("no key: give --key KEY (the private key from otpatch vendor keygen)")
	case *outPath != "" && len(arts) == 0:
		return fs.usageError("--out names the completed manifest, which only --artifact makes; without it the manifest is signed as it is")
	}
	keyPEM, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := signing.ParsePrivate(keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	signed := manifestPath
	if len(arts) > 0 {
		if raw, err = completeManifest(raw, arts); err != nil {
			return fmt.Errorf("%s: %w", manifestPath, err)
		}
		if signed = *outPath; signed == "" {
			signed = strings.TrimSuffix(manifestPath, ".json") + ".signed.json"
		}
		if sameFile(signed, manifestPath) {
			return fs.usageError("--out %s is the manifest itself; the vendor's manifest is never rewritten: name another file", signed)
		}
	}
	if _, err := domain.ParseManifest(raw); err != nil {
		return fmt.Errorf("%s: %w", manifestPath, err)
	}
	if signed != manifestPath {
		if err := os.WriteFile(signed, raw, 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s: %s with the name, size and SHA-256 of %s\n", signed, manifestPath, strings.Join(arts, ", "))
	}
	sig := signing.Sign(priv, raw)
	if err := os.WriteFile(signed+".sig", []byte(sig+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("signed %s with key %s; signature in %s.sig\n", signed, signing.Fingerprint(priv.Public().(ed25519.PublicKey)), signed)
	return nil
}

// manifestArg is the manifest named by --manifest or, without it, the first argument.
func manifestArg(fs *flags, flagValue string, pos []string) (string, error) {
	switch {
	case flagValue != "":
		return flagValue, nil
	case len(pos) > 0:
		return pos[0], nil
	}
	return "", fs.usageError("no manifest: give MANIFEST (or --manifest FILE)")
}

// completeManifest returns the manifest with an entry for each artifact file: its name, size
// and SHA-256, replacing an entry of the same name. A field the manifest format does not know
// is refused rather than dropped. The JSON is indented and keeps <, > and & as they are, so
// the vendor reads what is signed.
func completeManifest(raw []byte, arts []string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m domain.Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a manifest: %w", err)
	}
	for _, path := range arts {
		size, sum, err := fileDigest(path)
		if err != nil {
			return nil, err
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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sameFile reports whether a and b name one file (b exists).
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
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

// vendorSubmit is `otpatch vendor submit`.
func vendorSubmit(ctx context.Context, args []string) error {
	fs := newFlags("vendor submit")
	rawURL := fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL (OTPATCH_URL)")
	token := fs.String("token", env("TOKEN", ""), "vendor token (OTPATCH_TOKEN)")
	manifestFlag := fs.String("manifest", "", "signed manifest JSON `FILE`, its signature in FILE.sig (or give it as the first argument)")
	presigned := fs.Bool("presigned", false, "upload the artifacts straight to the object store through presigned URLs (for large artifacts)")
	wait := fs.Bool("wait", false, "wait for qualification and print its result; exit 1 when the patch is rejected")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	manifestPath, err := manifestArg(fs, *manifestFlag, pos)
	if err != nil {
		return err
	}
	files := pos
	if *manifestFlag == "" {
		files = pos[1:]
	}
	base, err := serverURL(fs, *rawURL)
	if err != nil {
		return err
	}
	switch {
	case *token == "":
		return fs.usageError("no token: give --token or set OTPATCH_TOKEN")
	case len(files) == 0:
		return fs.usageError("no artifact: give each ARTIFACT the manifest lists")
	}
	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(manifestPath + ".sig")
	if err != nil {
		return fmt.Errorf("signature: %w (sign the manifest with otpatch vendor sign, and submit the file it signed)", err)
	}
	var total int64
	for _, path := range files {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		total += st.Size()
	}
	srv, err := newServer(base, *token)
	if err != nil {
		return err
	}
	var id string
	if *presigned {
		id, err = submitPresigned(ctx, srv, raw, strings.TrimSpace(string(sig)), files)
	} else {
		id, err = submitStreamed(ctx, srv, raw, strings.TrimSpace(string(sig)), files, total)
	}
	if err != nil {
		return err
	}
	fmt.Println(id)
	if *wait {
		return waitQualified(ctx, srv, id)
	}
	return nil
}

func submitStreamed(ctx context.Context, srv *server, raw []byte, sig string, files []string, total int64) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	written := make(chan error, 1)
	go func() {
		err := func() error {
			fw, err := mw.CreateFormField("manifest")
			if err != nil {
				return err
			}
			if _, err := fw.Write(raw); err != nil {
				return err
			}
			if err := mw.WriteField("signature", sig); err != nil {
				return err
			}
			for _, path := range files {
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
		written <- err
	}()
	res, err := srv.api.SubmitPatchWithBodyWithResponse(ctx, nil, mw.FormDataContentType(), pr)
	pr.Close() // ends the writer if the server answered before reading everything
	if werr := <-written; werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		return "", werr // reading an artifact failed: that, not the server, stopped the upload
	}
	if err != nil {
		return "", srv.noAnswer(ctx, err)
	}
	if res.JSON201 == nil {
		return "", refused("submission", srv.wrongAnswer(res, http.StatusCreated))
	}
	p, err := srv.vendorPatch(res.JSON201)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "submitted: patch %s, %d bytes of artifacts, signed by %s, status %s (qualification follows)\n", p.Id, total, p.KeyFingerprint, p.Status)
	return p.Id, nil
}

// vendorPatch reads a patch in an answer of the otpatch server. The answer is the vendor's
// view of the patch (VendorPatch) for a vendor token and the asset owner's (Patch) for
// another; both carry what the vendor commands read under the same names: id, status,
// key_fingerprint, reasons and, in the vendor's view, applicable_by_version.
func (s *server) vendorPatch(answer interface {
	AsVendorPatch() (client.VendorPatch, error)
}) (client.VendorPatch, error) {
	p, err := answer.AsVendorPatch()
	if err != nil {
		return p, fmt.Errorf("the answer of %s is not what otpatch sends (%v); is --url the otpatch server?", s.base, err)
	}
	return p, nil
}

// submitPresigned admits the manifest, PUTs each artifact to its presigned URL with progress,
// and completes the upload.
func submitPresigned(ctx context.Context, srv *server, raw []byte, sig string, files []string) (string, error) {
	res, err := srv.api.StartPatchUploadWithResponse(ctx, client.UploadInput{Manifest: string(raw), Signature: sig})
	if err != nil {
		return "", srv.noAnswer(ctx, err)
	}
	up := res.JSON201
	if up == nil {
		return "", refused("upload", srv.wrongAnswer(res, http.StatusCreated))
	}
	byName := map[string]string{}
	for _, f := range files {
		byName[filepath.Base(f)] = f
	}
	for _, a := range up.Artifacts {
		path, ok := byName[a.Name]
		if !ok {
			return "", fmt.Errorf("the manifest lists %s but it was not given on the command line", a.Name)
		}
		// The presigned URL is the object store's, not otpatch's: a plain request, without the
		// otpatch token.
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		st, _ := f.Stat()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, a.Url, &progress{r: f, total: st.Size(), name: a.Name})
		req.ContentLength = st.Size()
		res, err := http.DefaultClient.Do(req)
		f.Close()
		if err != nil {
			store := a.Url
			if u, perr := url.Parse(a.Url); perr == nil {
				store = u.Scheme + "://" + u.Host
			}
			return "", fmt.Errorf("upload %s: %w", a.Name, reachError(ctx, "object store", store, err))
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return "", fmt.Errorf("upload %s: the object store answered %s", a.Name, res.Status)
		}
	}
	done, err := srv.api.CompletePatchUploadWithResponse(ctx, up.UploadId)
	if err != nil {
		return "", srv.noAnswer(ctx, err)
	}
	if done.JSON201 == nil {
		return "", refused("completing the upload", srv.wrongAnswer(done, http.StatusCreated))
	}
	p, err := srv.vendorPatch(done.JSON201)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "submitted: patch %s through presigned upload, signed by %s, status %s (qualification follows)\n", p.Id, p.KeyFingerprint, p.Status)
	return p.Id, nil
}

// waitQualified polls the patch until qualification ends and prints the verdict.
func waitQualified(ctx context.Context, srv *server, id string) error {
	for {
		p, err := getPatch(ctx, srv, id)
		if err != nil {
			return fmt.Errorf("waiting for qualification of patch %s: %w", id, err)
		}
		switch p.Status {
		case client.VendorPatchStatusQualified:
			n, versions := int64(0), []string{}
			for _, v := range p.ApplicableByVersion {
				n += v.Assets
				versions = append(versions, fmt.Sprintf("%d at %s, %s", v.Assets, v.ProductVersion, v.Compatibility))
			}
			fmt.Fprintf(os.Stderr, "qualified: applies to %d assets (%s)\n", n, strings.Join(versions, "; "))
			return nil
		case client.VendorPatchStatusRejected:
			fmt.Fprintf(os.Stderr, "rejected:\n  - %s\n", strings.Join(p.Reasons, "\n  - "))
			return errors.New("the patch was rejected")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// getPatch reads the patch id as its vendor sees it.
func getPatch(ctx context.Context, srv *server, id string) (client.VendorPatch, error) {
	res, err := srv.api.GetPatchWithResponse(ctx, id)
	if err != nil {
		return client.VendorPatch{}, srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return client.VendorPatch{}, srv.wrongAnswer(res, http.StatusOK)
	}
	return srv.vendorPatch(res.JSON200)
}
