// Package s3embed serves an S3-compatible endpoint over a local folder, in
// the same process, for otpatch's embedded default. Clients reach it with
// an S3 SDK (minio-go) exactly as they reach a production object store.
//
// It implements the subset of S3 that minio-go uses for buckets, objects,
// multipart uploads and presigned URLs, verifies AWS Signature Version 4
// (header and query-string forms, including aws-chunked streaming payloads)
// against one access key, and stores every object as one file written to a
// temporary name and renamed into place. Multipart parts are staged on disk,
// never in memory. One Server must own a folder at a time.
//
// Not implemented, and answered with a NotImplemented error: server-side
// copy, object versioning, tagging, ACLs and policies, browser POST uploads
// and signature version 2. Only path-style addressing is served.
package s3embed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits applied to requests.
const (
	// MaxObjectSize is the largest object a single PUT accepts.
	MaxObjectSize = 5 << 30
	// MaxPartSize is the largest multipart part.
	MaxPartSize = 5 << 30
	// MinPartSize is the smallest part allowed, except for the last one.
	MinPartSize = 5 << 20
	// MaxParts is the highest part number of a multipart upload.
	MaxParts = 10000
	// MaxMultipartObjectSize is the largest object a multipart upload builds.
	MaxMultipartObjectSize = 5 << 40

	defaultRegion = "us-east-1"
	s3Namespace   = "http://s3.amazonaws.com/doc/2006-03-01/"
	maxXMLBody    = 8 << 20
)

// Config configures a Server.
type Config struct {
	// Dir is the folder holding buckets, objects and multipart staging.
	// It is created if missing.
	Dir string
	// AccessKey and SecretKey are the only credentials accepted.
	AccessKey, SecretKey string
	// Region is reported by GetBucketLocation; default "us-east-1".
	Region string
	// Logger receives request and storage logs; nil discards them.
	Logger *slog.Logger
	// ReadOnly opens a folder another process may be serving: nothing left by its writes is
	// removed or recovered, and every request that would change something is refused.
	ReadOnly bool
}

// Server is an S3-compatible endpoint over a folder. It implements
// http.Handler; Listen serves it on a TCP address.
type Server struct {
	cfg Config
	dir string
	log *slog.Logger
	now func() time.Time

	mu      sync.RWMutex // guards buckets and object renames
	buckets map[string]*bucketIndex
	mpMu    sync.Mutex // guards multipart upload folders

	reqSeq   atomic.Uint64
	reqStamp string

	lnMu    sync.Mutex
	servers []*http.Server
	closed  bool
}

// New opens (creating if needed) the folder cfg.Dir, removes leftovers of
// interrupted writes and indexes the stored objects.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("s3embed: Config.Dir is empty")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3embed: Config.AccessKey and Config.SecretKey must both be set")
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("s3embed: resolve %s: %w", cfg.Dir, err)
	}
	for _, sub := range []string{"buckets", "multipart", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), dirPerm); err != nil {
			return nil, fmt.Errorf("s3embed: create %s: %w", filepath.Join(dir, sub), err)
		}
	}
	s := &Server{
		cfg:      cfg,
		dir:      dir,
		log:      log,
		now:      time.Now,
		buckets:  map[string]*bucketIndex{},
		reqStamp: randomHex(4),
	}
	if !cfg.ReadOnly {
		if err := s.clearTmp(); err != nil {
			return nil, err
		}
		if err := s.recoverUploads(); err != nil {
			return nil, fmt.Errorf("s3embed: %w", err)
		}
	}
	if err := s.loadBuckets(); err != nil {
		return nil, fmt.Errorf("s3embed: %w", err)
	}
	log.Info("s3embed: storage opened", "dir", dir, "buckets", len(s.buckets))
	return s, nil
}

// clearTmp removes files left in tmp/ by writes that never finished.
func (s *Server) clearTmp() error {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("s3embed: read %s: %w", tmp, err)
	}
	for _, e := range entries {
		p := filepath.Join(tmp, e.Name())
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("s3embed: remove leftover %s: %w", p, err)
		}
	}
	if len(entries) > 0 {
		s.log.Info("s3embed: removed leftovers of interrupted writes", "count", len(entries))
	}
	return nil
}

// Listen serves the endpoint on addr ("127.0.0.1:0" picks a free port)
// until ctx is done or Close is called, and returns the host:port served.
func (s *Server) Listen(ctx context.Context, addr string) (string, error) {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	if s.closed {
		return "", errors.New("s3embed: Listen on a closed Server")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("s3embed: listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.servers = append(s.servers, srv)
	endpoint := ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("s3embed: serving stopped", "endpoint", endpoint, "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			srv.Close()
		}
	}()
	s.log.Info("s3embed: listening", "endpoint", endpoint)
	return endpoint, nil
}

// Close stops every listener started by Listen, dropping open connections.
func (s *Server) Close() error {
	s.lnMu.Lock()
	defer s.lnMu.Unlock()
	s.closed = true
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	return errors.Join(errs...)
}

// statusWriter records the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP handles one S3 request (path-style addressing).
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := fmt.Sprintf("%s%012X", s.reqStamp, s.reqSeq.Add(1))
	w := &statusWriter{ResponseWriter: rw}
	w.Header().Set("x-amz-request-id", reqID)
	w.Header().Set("Server", "otpatch-s3embed")
	var aerr *apiError
	if s.cfg.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		aerr = errAccessDenied("this endpoint serves its folder read-only")
	} else {
		aerr = s.route(w, r)
	}
	if aerr != nil {
		s.writeError(w, r, aerr, reqID)
	}
	level := slog.LevelDebug
	switch {
	case aerr == nil:
	case aerr.Status >= 500:
		level = slog.LevelError
	case aerr.Status == http.StatusForbidden:
		// Refused credentials usually mean a misconfigured client.
		level = slog.LevelWarn
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", w.status, "duration", time.Since(start), "request_id", reqID}
	if aerr != nil {
		attrs = append(attrs, "code", aerr.Code, "error", aerr.Message)
	}
	s.log.Log(r.Context(), level, "s3embed: request", attrs...)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, aerr *apiError, reqID string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method == http.MethodHead {
		w.WriteHeader(aerr.Status)
		return
	}
	writeXML(w, aerr.Status, errorResponse{
		Code: aerr.Code, Message: aerr.Message, Resource: r.URL.Path,
		Bucket: bucket, Key: key, RequestID: reqID,
	})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(out)
}

// subresources that select an S3 API this endpoint does not implement.
func unsupportedSubresource(q url.Values) string {
	for _, name := range []string{
		"acl", "tagging", "policy", "policyStatus", "lifecycle", "cors", "encryption", "replication",
		"notification", "object-lock", "retention", "legal-hold", "website", "logging", "attributes",
		"select", "restore", "torrent", "accelerate", "requestPayment", "analytics", "inventory",
		"metrics", "intelligent-tiering", "ownershipControls", "publicAccessBlock", "versions", "append",
	} {
		if q.Has(name) {
			return name
		}
	}
	return ""
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) *apiError {
	if !strings.HasPrefix(r.URL.Path, "/") {
		return errInvalidArgument("request path %q does not start with '/'", r.URL.Path)
	}
	a, aerr := s.authenticate(r)
	if aerr != nil {
		return aerr
	}
	bucket, key, _ := strings.Cut(r.URL.Path[1:], "/")
	q := r.URL.Query()
	if bucket == "" {
		if r.Method == http.MethodGet {
			return s.handleListBuckets(w)
		}
		return newAPIError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on the service root", r.Method)
	}
	if !validBucketName(bucket) {
		return newAPIError(http.StatusBadRequest, "InvalidBucketName", "bucket name %q is not a valid DNS-style bucket name", bucket)
	}
	if sub := unsupportedSubresource(q); sub != "" {
		return errNotImplemented("the ?" + sub + " subresource")
	}
	if v := q.Get("versionId"); q.Has("versionId") && v != "null" {
		return errNotImplemented("object versioning")
	}
	if key == "" {
		switch r.Method {
		case http.MethodPut:
			if q.Has("versioning") {
				return errNotImplemented("bucket versioning")
			}
			return s.handleCreateBucket(w, r, a, bucket)
		case http.MethodHead:
			if !s.bucketExists(bucket) {
				return errNoSuchBucket(bucket)
			}
			w.Header().Set("x-amz-bucket-region", s.cfg.Region)
			w.WriteHeader(http.StatusOK)
			return nil
		case http.MethodGet:
			switch {
			case q.Has("location"):
				return s.handleLocation(w, bucket)
			case q.Has("versioning"):
				if !s.bucketExists(bucket) {
					return errNoSuchBucket(bucket)
				}
				writeXML(w, http.StatusOK, versioningConfiguration{XMLNS: s3Namespace})
				return nil
			case q.Has("uploads"):
				return s.handleListUploads(w, r, bucket)
			case q.Get("list-type") == "2":
				return s.handleListObjects(w, r, bucket, true)
			default:
				return s.handleListObjects(w, r, bucket, false)
			}
		case http.MethodDelete:
			if err := s.deleteBucket(bucket); err != nil {
				return err
			}
			s.abortBucketUploads(bucket)
			w.WriteHeader(http.StatusNoContent)
			return nil
		case http.MethodPost:
			if q.Has("delete") {
				return s.handleDeleteObjects(w, r, a, bucket)
			}
			return errNotImplemented("POST on a bucket (browser form upload)")
		}
		return newAPIError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on a bucket", r.Method)
	}
	if aerr := checkKey(key); aerr != nil {
		return aerr
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return errNotImplemented("server-side copy (x-amz-copy-source)")
		}
		if q.Has("uploadId") || q.Has("partNumber") {
			return s.handleUploadPart(w, r, a, bucket, key)
		}
		return s.handlePutObject(w, r, a, bucket, key)
	case http.MethodGet, http.MethodHead:
		if q.Has("uploadId") && r.Method == http.MethodGet {
			return s.handleListParts(w, r, bucket, key)
		}
		if q.Has("partNumber") {
			return errNotImplemented("reading a single part (partNumber)")
		}
		return s.handleGetObject(w, r, bucket, key)
	case http.MethodDelete:
		if q.Has("uploadId") {
			return s.handleAbortUpload(w, q.Get("uploadId"), bucket, key)
		}
		if aerr := s.deleteObject(bucket, key); aerr != nil {
			return aerr
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return s.handleCreateUpload(w, r, bucket, key)
		case q.Has("uploadId"):
			return s.handleCompleteUpload(w, r, a, bucket, key)
		}
		return errNotImplemented("POST on an object without ?uploads or ?uploadId")
	}
	return newAPIError(http.StatusMethodNotAllowed, "MethodNotAllowed", "%s is not allowed on an object", r.Method)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("s3embed: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
