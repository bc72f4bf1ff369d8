package testidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Hydra signs ID tokens with the first private key of the key set hydra.openid.id-token
// and JWT access tokens with that of hydra.jwt.access-token. When a set is missing it
// makes a 4096-bit RSA key pair inside whatever request first needs it, which takes more
// than 10 s on a loaded machine; Hydra v2.3.0's servers give a request 10 s (ory/graceful's
// WriteTimeout, which no setting changes) and then close the connection without an answer,
// though the request takes effect. So Start makes both keys itself and stores them
// through the admin API before any request needs them.
var signingKeySets = []string{"hydra.openid.id-token", "hydra.jwt.access-token"}

// signingKeyBits is the size of the RSA keys Start makes: enough for tests, and made in
// a fraction of the time of Hydra's 4096 bits.
const signingKeyBits = 2048

// privateJWK is an RSA private key as a JSON Web Key (RFC 7517; RFC 7518, section 6.3).
type privateJWK struct {
	KeyType   string `json:"kty"`
	Use       string `json:"use"`
	Algorithm string `json:"alg"`
	KeyID     string `json:"kid"`
	N         string `json:"n"`
	E         string `json:"e"`
	D         string `json:"d"`
	P         string `json:"p"`
	Q         string `json:"q"`
	DP        string `json:"dp"`
	DQ        string `json:"dq"`
	QI        string `json:"qi"`
}

// newSigningKey makes an RS256 signing key with a random key ID.
func newSigningKey() (privateJWK, error) {
	k, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return privateJWK{}, fmt.Errorf("make a signing key: %w", err)
	}
	k.Precompute()
	b64 := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.Bytes()) }
	return privateJWK{
		KeyType: "RSA", Use: "sig", Algorithm: "RS256", KeyID: newUUID(),
		N: b64(k.N), E: b64(big.NewInt(int64(k.E))), D: b64(k.D),
		P: b64(k.Primes[0]), Q: b64(k.Primes[1]),
		DP: b64(k.Precomputed.Dp), DQ: b64(k.Precomputed.Dq), QI: b64(k.Precomputed.Qinv),
	}, nil
}

// prepare readies a Hydra that reports itself ready for sign-ins: it stores the signing
// keys (made by the caller), reads the discovery document for the issuer and endpoints
// and checks that Hydra publishes exactly those keys, i.e. made none of its own. Each
// request is repeatable and is sent again when it gets no answer, until ctx ends.
func (p *IdP) prepare(ctx context.Context, proc *process, keys []privateJWK) error {
	var kids []string
	for i, set := range signingKeySets {
		body := map[string]any{"keys": []privateJWK{keys[i]}}
		target := p.adminURL + "/admin/keys/" + set
		if err := untilAnswered(ctx, proc, func() error { return p.call(ctx, http.MethodPut, target, body, nil) }); err != nil {
			return fmt.Errorf("store the signing key of %s: %w", set, err)
		}
		kids = append(kids, keys[i].KeyID)
	}

	var disc struct {
		Issuer   string `json:"issuer"`
		AuthURL  string `json:"authorization_endpoint"`
		TokenURL string `json:"token_endpoint"`
		JWKSURL  string `json:"jwks_uri"`
	}
	if err := untilAnswered(ctx, proc, func() error {
		return p.call(ctx, http.MethodGet, p.publicURL+"/.well-known/openid-configuration", nil, &disc)
	}); err != nil {
		return fmt.Errorf("read the discovery document: %w", err)
	}
	if disc.Issuer == "" || disc.AuthURL == "" || disc.TokenURL == "" || disc.JWKSURL == "" {
		return fmt.Errorf("the discovery document lacks a value: issuer %q, authorization_endpoint %q, token_endpoint %q, jwks_uri %q",
			disc.Issuer, disc.AuthURL, disc.TokenURL, disc.JWKSURL)
	}
	p.issuer, p.authURL, p.tokenURL = disc.Issuer, disc.AuthURL, disc.TokenURL

	var jwks struct {
		Keys []struct {
			KeyID string `json:"kid"`
		} `json:"keys"`
	}
	if err := untilAnswered(ctx, proc, func() error { return p.call(ctx, http.MethodGet, disc.JWKSURL, nil, &jwks) }); err != nil {
		return fmt.Errorf("read the published keys: %w", err)
	}
	var published []string
	for _, k := range jwks.Keys {
		published = append(published, k.KeyID)
	}
	slices.Sort(published)
	slices.Sort(kids)
	if !slices.Equal(published, kids) {
		return fmt.Errorf("hydra publishes the keys %q at %s, not the %q stored", published, disc.JWKSURL, kids)
	}
	return nil
}

// untilAnswered calls f, which sends one request that may safely be repeated, until it
// gets an answer: when the request failed before one arrived (the connection was refused,
// reset or closed) it is sent again, until ctx ends or Hydra exits.
func untilAnswered(ctx context.Context, proc *process, f func() error) error {
	for {
		err := f()
		var unanswered *url.Error
		if !errors.As(err, &unanswered) {
			return err // nil, or Hydra's answer was an error
		}
		select {
		case <-proc.done:
			return errExitedEarly
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
