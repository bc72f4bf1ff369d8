package s3embed

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	sigV4Algorithm           = "AWS4-HMAC-SHA256"
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	iso8601Basic             = "20060102T150405Z"
	maxClockSkew             = 15 * time.Minute
	maxPresignExpiry         = 7 * 24 * time.Hour
)

// authInfo is what a verified request's signature tells about its payload.
type authInfo struct {
	payloadHash string // x-amz-content-sha256, or UNSIGNED-PAYLOAD for presigned URLs
	signingKey  []byte
	amzDate     string
	scope       string
	signature   string // seed signature for aws-chunked bodies
	presigned   bool
}

type credential struct {
	accessKey, date, region, service string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/aws4_request"
}

func parseCredential(v string) (credential, *apiError) {
	parts := strings.Split(v, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return credential{}, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"credential %q is not <access key>/<date>/<region>/<service>/aws4_request", v)
	}
	if parts[3] != "s3" {
		return credential{}, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"credential scope names service %q, expected s3", parts[3])
	}
	return credential{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}, nil
}

// authenticate verifies the AWS Signature Version 4 of r, given either in
// the Authorization header or in the query string of a presigned URL.
func (s *Server) authenticate(r *http.Request) (*authInfo, *apiError) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		return s.authHeader(r, authz)
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("X-Amz-Algorithm") {
		return s.authPresigned(r, q)
	}
	if q.Has("AWSAccessKeyId") || q.Has("Signature") {
		return nil, errAccessDenied("signature version 2 is not supported; sign requests with AWS Signature Version 4")
	}
	return nil, errAccessDenied("anonymous access is not allowed; sign requests with AWS Signature Version 4")
}

func (s *Server) authHeader(r *http.Request, authz string) (*authInfo, *apiError) {
	rest, ok := strings.CutPrefix(authz, sigV4Algorithm+" ")
	if !ok {
		if strings.HasPrefix(authz, "AWS ") {
			return nil, errAccessDenied("signature version 2 is not supported; sign requests with AWS Signature Version 4")
		}
		return nil, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "authorization header does not start with %s", sigV4Algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "authorization header field %q has no '='", part)
		}
		fields[k] = v
	}
	credStr, signedHeaders, signature := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if credStr == "" || signedHeaders == "" || signature == "" {
		return nil, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "authorization header lacks Credential, SignedHeaders or Signature")
	}
	cred, aerr := parseCredential(credStr)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkAccessKey(cred.accessKey); aerr != nil {
		return nil, aerr
	}

	amzDate := r.Header.Get("X-Amz-Date")
	var t time.Time
	var err error
	if amzDate != "" {
		t, err = time.Parse(iso8601Basic, amzDate)
		if err != nil {
			return nil, errAccessDenied("X-Amz-Date %q is not in the form 20060102T150405Z", amzDate)
		}
	} else {
		d := r.Header.Get("Date")
		if d == "" {
			return nil, errAccessDenied("request carries neither X-Amz-Date nor Date")
		}
		t, err = http.ParseTime(d)
		if err != nil {
			return nil, errAccessDenied("Date header %q is not an HTTP date", d)
		}
		amzDate = t.UTC().Format(iso8601Basic)
	}
	now := s.now()
	if skew := now.Sub(t); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, newAPIError(http.StatusForbidden, "RequestTimeTooSkewed",
			"request time %s differs from server time %s by more than %s", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxClockSkew)
	}
	if cred.date != t.UTC().Format("20060102") {
		return nil, newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"credential date %s does not match request date %s", cred.date, amzDate)
	}

	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		return nil, newAPIError(http.StatusBadRequest, "InvalidRequest", "missing x-amz-content-sha256 header")
	}
	switch payloadHash {
	case unsignedPayload, streamingPayload, streamingPayloadTrailer, streamingUnsignedTrailer:
	default:
		if len(payloadHash) != 64 || !isLowerHex(payloadHash) {
			return nil, newAPIError(http.StatusBadRequest, "InvalidArgument", "x-amz-content-sha256 %q is neither a SHA-256 hex digest nor a known payload mode", payloadHash)
		}
	}

	key := signingKey(s.cfg.SecretKey, cred)
	ok, aerr = signatureMatches(r, key, amzDate, cred.scope(), signature, r.URL.Query(), signedHeaders, payloadHash, "")
	if aerr != nil {
		return nil, aerr
	}
	if !ok {
		return nil, errSignatureMismatch("the request signature does not match the signature computed with the configured secret key")
	}
	return &authInfo{payloadHash: payloadHash, signingKey: key, amzDate: amzDate, scope: cred.scope(), signature: signature}, nil
}

func (s *Server) authPresigned(r *http.Request, q url.Values) (*authInfo, *apiError) {
	if alg := q.Get("X-Amz-Algorithm"); alg != sigV4Algorithm {
		return nil, errAccessDenied("X-Amz-Algorithm %q is not %s", alg, sigV4Algorithm)
	}
	cred, aerr := parseCredential(q.Get("X-Amz-Credential"))
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkAccessKey(cred.accessKey); aerr != nil {
		return nil, aerr
	}
	amzDate := q.Get("X-Amz-Date")
	t, err := time.Parse(iso8601Basic, amzDate)
	if err != nil {
		return nil, errAccessDenied("X-Amz-Date %q is not in the form 20060102T150405Z", amzDate)
	}
	if cred.date != t.Format("20060102") {
		return nil, errAccessDenied("credential date %s does not match X-Amz-Date %s", cred.date, amzDate)
	}
	expStr := q.Get("X-Amz-Expires")
	expSec, err := strconv.ParseInt(expStr, 10, 64)
	if err != nil || expSec < 1 {
		return nil, errAccessDenied("X-Amz-Expires %q is not a positive number of seconds", expStr)
	}
	if time.Duration(expSec)*time.Second > maxPresignExpiry {
		return nil, errAccessDenied("X-Amz-Expires %d exceeds the maximum of %d seconds", expSec, int64(maxPresignExpiry/time.Second))
	}
	now := s.now()
	if t.Sub(now) > maxClockSkew {
		return nil, errAccessDenied("presigned URL is dated %s, in the future", t.Format(time.RFC3339))
	}
	if expiry := t.Add(time.Duration(expSec) * time.Second); now.After(expiry) {
		return nil, errAccessDenied("request has expired: presigned URL was valid until %s", expiry.UTC().Format(time.RFC3339))
	}
	signedHeaders := q.Get("X-Amz-SignedHeaders")
	signature := q.Get("X-Amz-Signature")
	if signedHeaders == "" || signature == "" {
		return nil, errAccessDenied("presigned URL lacks X-Amz-SignedHeaders or X-Amz-Signature")
	}
	payloadHash := unsignedPayload
	if v := q.Get("X-Amz-Content-Sha256"); v != "" {
		payloadHash = v
	}
	key := signingKey(s.cfg.SecretKey, cred)
	ok, aerr := signatureMatches(r, key, amzDate, cred.scope(), signature, q, signedHeaders, payloadHash, "X-Amz-Signature")
	if aerr != nil {
		return nil, aerr
	}
	if !ok {
		return nil, errSignatureMismatch("the presigned URL signature does not match the signature computed with the configured secret key")
	}
	if payloadHash != unsignedPayload && (len(payloadHash) != 64 || !isLowerHex(payloadHash)) {
		return nil, errInvalidArgument("X-Amz-Content-Sha256 %q of a presigned URL must be UNSIGNED-PAYLOAD or a SHA-256 hex digest", payloadHash)
	}
	return &authInfo{payloadHash: payloadHash, signingKey: key, amzDate: amzDate, scope: cred.scope(), signature: signature, presigned: true}, nil
}

func (s *Server) checkAccessKey(ak string) *apiError {
	if ak == "" {
		return errAccessDenied("request is signed with an empty access key; anonymous access is not allowed")
	}
	if subtle.ConstantTimeCompare([]byte(ak), []byte(s.cfg.AccessKey)) != 1 {
		return newAPIError(http.StatusForbidden, "InvalidAccessKeyId", "access key %q is not known to this endpoint", ak)
	}
	return nil
}

// signatureMatches computes the expected signature. The canonical URI is
// derived from the decoded path; if the client encoded its path differently
// (a raw path the server kept), that form is tried as well.
func signatureMatches(r *http.Request, key []byte, amzDate, scope, signature string,
	q url.Values, signedHeaders, payloadHash, skipParam string,
) (bool, *apiError) {
	try := func(uri string) (bool, *apiError) {
		c, aerr := canonicalRequestWithURI(r, uri, q, signedHeaders, payloadHash, skipParam)
		if aerr != nil {
			return false, aerr
		}
		sum := sha256.Sum256([]byte(c))
		sts := sigV4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
		want := hex.EncodeToString(hmacSHA256(key, []byte(sts)))
		return hmac.Equal([]byte(want), []byte(signature)), nil
	}
	uri := s3EncodePath(r.URL.Path)
	ok, aerr := try(uri)
	if ok || aerr != nil {
		return ok, aerr
	}
	if r.URL.RawPath != "" && r.URL.RawPath != uri {
		return try(r.URL.RawPath)
	}
	return false, nil
}

func canonicalRequestWithURI(r *http.Request, uri string, q url.Values, signedHeaders, payloadHash, skipParam string) (string, *apiError) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	if uri == "" {
		uri = "/"
	}
	b.WriteString(uri)
	b.WriteByte('\n')

	keys := make([]string, 0, len(q))
	for k := range q {
		if k != skipParam {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	first := true
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(awsURIEncode(k, true))
			b.WriteByte('=')
			b.WriteString(awsURIEncode(v, true))
		}
	}
	b.WriteByte('\n')

	hasHost := false
	for _, name := range strings.Split(signedHeaders, ";") {
		if name == "" || name != strings.ToLower(name) {
			return "", newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "signed header name %q is empty or not lower case", name)
		}
		var val string
		switch name {
		case "host":
			hasHost = true
			val = r.Host
		case "content-length":
			val = r.Header.Get("Content-Length")
			if val == "" && r.ContentLength >= 0 {
				val = strconv.FormatInt(r.ContentLength, 10)
			}
		case "transfer-encoding":
			val = strings.Join(r.TransferEncoding, ",")
			if val == "" {
				val = strings.Join(r.Header.Values(name), ",")
			}
		default:
			vals := r.Header.Values(name)
			trimmed := make([]string, len(vals))
			for i, v := range vals {
				trimmed[i] = strings.Join(strings.Fields(v), " ")
			}
			val = strings.Join(trimmed, ",")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(val)
		b.WriteByte('\n')
	}
	if !hasHost {
		return "", newAPIError(http.StatusBadRequest, "AuthorizationHeaderMalformed", "signed headers %q do not include host", signedHeaders)
	}
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

func signingKey(secret string, c credential) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(c.date))
	k = hmacSHA256(k, []byte(c.region))
	k = hmacSHA256(k, []byte(c.service))
	return hmacSHA256(k, []byte("aws4_request"))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// awsURIEncode percent-encodes s as SigV4 requires: every byte except
// A-Z a-z 0-9 - _ . ~ (and '/' unless encodeSlash) becomes %XX.
func awsURIEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func s3EncodePath(p string) string { return awsURIEncode(p, false) }
