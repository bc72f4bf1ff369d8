package s3embed

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	xmlTimeFormat  = "2006-01-02T15:04:05.000Z"
	defaultMaxKeys = 1000
	ownerID        = "otpatch"
)

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	XMLNS   string   `xml:"xmlns,attr"`
	Owner   owner    `xml:"Owner"`
	Buckets []struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
	} `xml:"Buckets>Bucket"`
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	XMLNS   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	XMLNS   string   `xml:"xmlns,attr"`
}

type createBucketConfiguration struct {
	LocationConstraint string `xml:"LocationConstraint"`
}

type listEntry struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	XMLNS                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []listEntry    `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name `xml:"DeleteResult"`
	XMLNS   string   `xml:"xmlns,attr"`
	Deleted []struct {
		Key string `xml:"Key"`
	} `xml:"Deleted"`
	Errors []deleteError `xml:"Error"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func quoteETag(e string) string { return `"` + e + `"` }

func (s *Server) handleListBuckets(w http.ResponseWriter) *apiError {
	names, created := s.listBuckets()
	res := listAllMyBucketsResult{XMLNS: s3Namespace, Owner: owner{ID: ownerID, DisplayName: ownerID}}
	for _, n := range names {
		res.Buckets = append(res.Buckets, struct {
			Name         string `xml:"Name"`
			CreationDate string `xml:"CreationDate"`
		}{n, created[n].UTC().Format(xmlTimeFormat)})
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleCreateBucket(w http.ResponseWriter, r *http.Request, a *authInfo, bucket string) *apiError {
	body, aerr := readSmallBody(r, a, 64<<10)
	if aerr != nil {
		return aerr
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var cfg createBucketConfiguration
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return errMalformedXML("CreateBucketConfiguration does not parse: %v", err)
		}
		if cfg.LocationConstraint != "" && cfg.LocationConstraint != s.cfg.Region {
			return newAPIError(http.StatusBadRequest, "InvalidLocationConstraint",
				"location constraint %q differs from this endpoint's region %q", cfg.LocationConstraint, s.cfg.Region)
		}
	}
	if aerr := s.createBucket(bucket); aerr != nil {
		return aerr
	}
	w.Header().Set("Location", "/"+bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) handleLocation(w http.ResponseWriter, bucket string) *apiError {
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	region := s.cfg.Region
	if region == defaultRegion {
		region = ""
	}
	writeXML(w, http.StatusOK, locationConstraint{XMLNS: s3Namespace, Region: region})
	return nil
}

func parseMaxKeys(v string, def int) (int, *apiError) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalidArgument("max-keys %q is not a non-negative integer", v)
	}
	if n > def {
		n = def
	}
	return n, nil
}

func (s *Server) handleListObjects(w http.ResponseWriter, r *http.Request, bucket string, v2 bool) *apiError {
	q := r.URL.Query()
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	maxKeys, aerr := parseMaxKeys(q.Get("max-keys"), defaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	encodingType := q.Get("encoding-type")
	if encodingType != "" && encodingType != "url" {
		return errInvalidArgument("encoding-type %q is not supported; use url", encodingType)
	}
	enc := func(s string) string {
		if encodingType == "url" {
			return awsURIEncode(s, false)
		}
		return s
	}
	var marker string
	res := listBucketResult{XMLNS: s3Namespace, Name: bucket, Prefix: enc(prefix), MaxKeys: maxKeys, Delimiter: enc(delimiter), EncodingType: encodingType}
	if v2 {
		startAfter := q.Get("start-after")
		marker = startAfter
		res.StartAfter = enc(startAfter)
		if tok := q.Get("continuation-token"); tok != "" {
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return errInvalidArgument("continuation-token %q was not issued by this endpoint", tok)
			}
			marker = string(raw)
			res.ContinuationToken = tok
		}
	} else {
		marker = q.Get("marker")
		m := enc(marker)
		res.Marker = &m
	}
	lr, aerr := s.listObjects(bucket, prefix, delimiter, marker, maxKeys)
	if aerr != nil {
		return aerr
	}
	fetchOwner := !v2 || q.Get("fetch-owner") == "true"
	for _, o := range lr.objects {
		e := listEntry{
			Key: enc(o.Key), LastModified: o.LastModified.UTC().Format(xmlTimeFormat),
			ETag: quoteETag(o.ETag), Size: o.Size, StorageClass: "STANDARD",
		}
		if fetchOwner {
			e.Owner = &owner{ID: ownerID, DisplayName: ownerID}
		}
		res.Contents = append(res.Contents, e)
	}
	for _, p := range lr.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(p)})
	}
	res.IsTruncated = lr.truncated
	if v2 {
		n := len(res.Contents) + len(res.CommonPrefixes)
		res.KeyCount = &n
		if lr.truncated {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(lr.next))
		}
	} else if lr.truncated {
		res.NextMarker = enc(lr.next)
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleDeleteObjects(w http.ResponseWriter, r *http.Request, a *authInfo, bucket string) *apiError {
	body, aerr := readSmallBody(r, a, 2<<20)
	if aerr != nil {
		return aerr
	}
	var req deleteRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		return errMalformedXML("Delete request does not parse: %v", err)
	}
	if len(req.Objects) == 0 || len(req.Objects) > 1000 {
		return errMalformedXML("Delete request names %d objects; 1 to 1000 are allowed", len(req.Objects))
	}
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	res := deleteResult{XMLNS: s3Namespace}
	for _, o := range req.Objects {
		aerr := checkKey(o.Key)
		if aerr == nil {
			aerr = s.deleteObject(bucket, o.Key)
		}
		if aerr != nil {
			res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: aerr.Code, Message: aerr.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, struct {
				Key string `xml:"Key"`
			}{o.Key})
		}
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

// objectMetadata collects the content type, user metadata and standard
// headers of a PUT or CreateMultipartUpload request.
func objectMetadata(r *http.Request) (contentType string, user, headers map[string]string, aerr *apiError) {
	contentType = r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	size := 0
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-amz-meta-") || len(vals) == 0 {
			continue
		}
		if user == nil {
			user = map[string]string{}
		}
		user[lower] = strings.Join(vals, ",")
		size += len(lower) - len("x-amz-meta-") + len(user[lower])
	}
	if size > maxUserMetaLen {
		return "", nil, nil, newAPIError(http.StatusBadRequest, "MetadataTooLarge", "user metadata is %d bytes, the limit is %d", size, maxUserMetaLen)
	}
	for _, h := range storedHeaders() {
		v := r.Header.Get(h)
		if h == "Content-Encoding" {
			var kept []string
			for _, e := range strings.Split(v, ",") {
				if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
					kept = append(kept, e)
				}
			}
			v = strings.Join(kept, ",")
		}
		if v != "" {
			if headers == nil {
				headers = map[string]string{}
			}
			headers[h] = v
		}
	}
	return contentType, user, headers, nil
}

// writeCondition checks If-Match / If-None-Match of a PUT against the
// object currently stored (nil when there is none).
func writeCondition(r *http.Request) func(cur *objectRecord) *apiError {
	ifMatch, ifNoneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if ifMatch == "" && ifNoneMatch == "" {
		return nil
	}
	return func(cur *objectRecord) *apiError {
		if ifNoneMatch != "" && cur != nil && etagMatches(ifNoneMatch, cur.ETag) {
			return newAPIError(http.StatusPreconditionFailed, "PreconditionFailed", "object exists and If-None-Match is %s", ifNoneMatch)
		}
		if ifMatch != "" {
			if cur == nil {
				return errNoSuchKey(r.URL.Path)
			}
			if !etagMatches(ifMatch, cur.ETag) {
				return newAPIError(http.StatusPreconditionFailed, "PreconditionFailed", "object ETag %q does not match If-Match %s", cur.ETag, ifMatch)
			}
		}
		return nil
	}
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "W/")
		if v == "*" || strings.Trim(v, `"`) == etag {
			return true
		}
	}
	return false
}

func (s *Server) handlePutObject(w http.ResponseWriter, r *http.Request, a *authInfo, bucket, key string) *apiError {
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	contentType, user, headers, aerr := objectMetadata(r)
	if aerr != nil {
		return aerr
	}
	rcv, aerr := s.receiveBody(r, a, MaxObjectSize)
	if aerr != nil {
		return aerr
	}
	rec := &objectRecord{
		Key: key, Size: rcv.size, ETag: hex.EncodeToString(rcv.md5),
		LastModified: s.now().UTC(), ContentType: contentType,
		UserMeta: user, Headers: headers, Checksums: rcv.checksums,
	}
	tmp, err := finishTemp(rcv.f, rec)
	if err != nil {
		return errInternal(err)
	}
	if aerr := s.commitObject(tmp, bucket, rec, writeCondition(r)); aerr != nil {
		return aerr
	}
	w.Header().Set("ETag", quoteETag(rec.ETag))
	for alg, v := range rcv.checksums {
		w.Header().Set("x-amz-checksum-"+alg, v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// parseRange parses a single-range "bytes=" header against an object of
// size bytes. ok is false when the header is absent or not understood (the
// whole object is then served); a range that lies outside the object
// yields an InvalidRange error.
func parseRange(h string, size int64) (start, length int64, ok bool, aerr *apiError) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, nil
	}
	unsatisfiable := newAPIError(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "range %q is outside the object of %d bytes", h, size)
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, unsatisfiable
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false, nil
	}
	b := size - 1
	if last != "" {
		b, err = strconv.ParseInt(last, 10, 64)
		if err != nil || b < a {
			return 0, 0, false, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, unsatisfiable
	}
	return a, b - a + 1, true, nil
}

// readCondition evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since of a GET or HEAD; it returns the status to answer
// with instead of the object (304 or 412), or 0.
func readCondition(r *http.Request, rec *objectRecord) int {
	mod := rec.LastModified.Truncate(time.Second)
	if v := r.Header.Get("If-Match"); v != "" {
		if !etagMatches(v, rec.ETag) {
			return http.StatusPreconditionFailed
		}
	} else if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if etagMatches(v, rec.ETag) {
			return http.StatusNotModified
		}
	} else if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

func (s *Server) handleGetObject(w http.ResponseWriter, r *http.Request, bucket, key string) *apiError {
	f, rec, aerr := s.openObject(bucket, key)
	if aerr != nil {
		return aerr
	}
	defer f.Close()

	h := w.Header()
	h.Set("ETag", quoteETag(rec.ETag))
	h.Set("Last-Modified", rec.LastModified.UTC().Format(http.TimeFormat))
	if st := readCondition(r, rec); st != 0 {
		if st == http.StatusPreconditionFailed {
			return newAPIError(st, "PreconditionFailed", "a precondition of the request does not hold for object %q", key)
		}
		w.WriteHeader(st)
		return nil
	}
	h.Set("Content-Type", rec.ContentType)
	h.Set("Accept-Ranges", "bytes")
	for k, v := range rec.UserMeta {
		h[k] = []string{v}
	}
	for k, v := range rec.Headers {
		h.Set(k, v)
	}
	if rec.PartCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(rec.PartCount))
	}
	q := r.URL.Query()
	for param, header := range map[string]string{
		"response-content-type": "Content-Type", "response-content-disposition": "Content-Disposition",
		"response-cache-control": "Cache-Control", "response-content-encoding": "Content-Encoding",
		"response-content-language": "Content-Language", "response-expires": "Expires",
	} {
		if v := q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
	start, length, partial, aerr := parseRange(r.Header.Get("Range"), rec.Size)
	if aerr != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(rec.Size, 10))
		return aerr
	}
	if !partial {
		start, length = 0, rec.Size
		if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
			for alg, v := range rec.Checksums {
				h.Set("x-amz-checksum-"+alg, v)
			}
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(rec.Size, 10))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := copyData(w, f, start, length); err != nil && err != io.EOF {
		s.log.Debug("s3embed: sending object aborted", "bucket", bucket, "key", key, "err", err)
	}
	return nil
}
