package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/otpatch/otpatch/internal/client"
)

// `otpatch transfer export|import|key`: transfer bundles for air-gapped sites, through the
// API of the instance at --url (which holds the transfer key). docs/transfer-format.md
// specifies the file; README "An air-gapped site" walks through it.

// transferFlags are the flags every transfer command shares.
func transferFlags(name string) (*flags, *string, *string) {
	fs := newFlags(name)
	rawURL := fs.String("url", env("URL", "http://127.0.0.1:8080"), "otpatch URL of this side's instance (OTPATCH_URL)")
	token := fs.String("token", env("TOKEN", ""), "engineer or admin token of that instance (OTPATCH_TOKEN)")
	return fs, rawURL, token
}

func transferServer(fs *flags, rawURL, token string) (*server, error) {
	base, err := serverURL(fs, rawURL)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, fs.usageError("no token: give --token or set OTPATCH_TOKEN")
	}
	return newServer(base, token)
}

// runTransferExport writes a bundle to a file, checked against the SHA-256 the server sent,
// and prints its size and SHA-256 for the operator to compare at the other end.
func runTransferExport(ctx context.Context, args []string) error {
	fs, rawURL, token := transferFlags("transfer export")
	kind := fs.String("kind", "plan", "plan (central instance), results or inventory (a site's own instance)")
	campaign := fs.String("campaign", "", "the campaign (plan and results)")
	out := fs.String("out", "", "the file to write (default: the bundle's own name, SITE-KIND-SEQUENCE.tar, in the current folder)")
	days := fs.Int("expires-in-days", 14, "how many days the bundle is accepted (1 to 90)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := transferServer(fs, *rawURL, *token)
	if err != nil {
		return err
	}
	body := client.ExportTransferJSONRequestBody{Kind: *kind}
	if *campaign != "" {
		body.CampaignId = campaign
	}
	d := int64(*days)
	body.ExpiresInDays = &d
	// The bundle can be large: read without the limit other answers have.
	raw, err := client.NewClient(srv.base, client.WithRequestEditorFn(srv.bearer))
	if err != nil {
		return err
	}
	res, err := raw.ExportTransfer(ctx, body)
	if err != nil {
		return reachError(ctx, "otpatch server", srv.base, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return fmt.Errorf("export refused: %s: %s", res.Status, problemDetail(b))
	}
	name := *out
	if name == "" {
		name = attachmentName(res.Header.Get("Content-Disposition"))
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), res.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("the bundle did not arrive whole: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want := res.Header.Get("X-Bundle-SHA256"); want != sum {
		return fmt.Errorf("the bundle arrived with SHA-256 %s, and the server sent %s: nothing was written; export it again", sum, want)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	again := ""
	if res.Header.Get("X-Bundle-Again") == "true" {
		again = " (the same bundle as before, written again)"
	}
	fmt.Printf("wrote %s: %s bundle %s, %d bytes, expires %s%s\n", name, *kind, res.Header.Get("X-Bundle-Sequence"), n, res.Header.Get("X-Bundle-Expires"), again)
	fmt.Printf("SHA-256 %s  %s\n", sum, filepath.Base(name))
	return nil
}

// attachmentName is the file name of a Content-Disposition attachment, without any folder.
func attachmentName(cd string) string {
	_, params, err := mime.ParseMediaType(cd)
	name := params["filename"]
	if err != nil || name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") {
		return "otpatch-transfer.tar"
	}
	return name
}

// runTransferImport sends bundle files to the instance, which verifies and applies each.
func runTransferImport(ctx context.Context, args []string) error {
	fs, rawURL, token := transferFlags("transfer import")
	asJSON := fs.Bool("json", false, "print what the server answered, as JSON")
	acceptGap := fs.Bool("accept-gap", false, "import a bundle although bundles before it never arrived (refused otherwise); the decision is recorded in the audit trail with the numbers missed")
	files, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fs.usageError("give the bundle FILE to import")
	}
	srv, err := transferServer(fs, *rawURL, *token)
	if err != nil {
		return err
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		h := sha256.New()
		params := &client.ImportTransferParams{}
		if *acceptGap {
			yes := client.ImportTransferParamsAcceptGap("true")
			params.AcceptGap = &yes
		}
		res, err := srv.api.ImportTransferWithBodyWithResponse(ctx, params, "application/x-tar", io.TeeReader(f, h))
		f.Close()
		if err != nil {
			return srv.noAnswer(ctx, err)
		}
		if res.JSON200 == nil {
			var p struct {
				Rule string `json:"rule"`
			}
			if res.StatusCode() == http.StatusUnprocessableEntity && json.Unmarshal(res.Body, &p) == nil && p.Rule != "" {
				return fmt.Errorf("%s refused (%s): %s", filepath.Base(path), p.Rule, problemDetail(res.Body))
			}
			return refused(filepath.Base(path), srv.wrongAnswer(res, http.StatusOK))
		}
		if *asJSON {
			b, _ := json.MarshalIndent(res.JSON200, "", "  ")
			fmt.Println(string(b))
			continue
		}
		fmt.Printf("%s (SHA-256 %s): %s\n", filepath.Base(path), hex.EncodeToString(h.Sum(nil)), res.JSON200.Summary)
	}
	return nil
}

// runTransferKey prints the instance's transfer public key, to pin at the other side.
func runTransferKey(ctx context.Context, args []string) error {
	fs, rawURL, token := transferFlags("transfer key")
	asPEM := fs.Bool("pem", false, "print the key as PEM only")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := transferServer(fs, *rawURL, *token)
	if err != nil {
		return err
	}
	res, err := srv.api.GetTransferKeyWithResponse(ctx)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return srv.wrongAnswer(res, http.StatusOK)
	}
	if *asPEM {
		fmt.Print(res.JSON200.Pem)
		return nil
	}
	b, _ := json.MarshalIndent(res.JSON200, "", "  ")
	fmt.Println(string(b))
	return nil
}
