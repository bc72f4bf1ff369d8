package s3embed

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
)

// apiError is an S3 error: a code from the S3 error catalogue, the HTTP
// status it is sent with and a message saying what was wrong.
type apiError struct {
	Code    string
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newAPIError(status int, code, format string, args ...any) *apiError {
	return &apiError{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

func errAccessDenied(format string, args ...any) *apiError {
	return newAPIError(http.StatusForbidden, "AccessDenied", format, args...)
}

func errSignatureMismatch(format string, args ...any) *apiError {
	return newAPIError(http.StatusForbidden, "SignatureDoesNotMatch", format, args...)
}

func errInvalidArgument(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidArgument", format, args...)
}

func errMalformedXML(format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "MalformedXML", format, args...)
}

func errNoSuchBucket(bucket string) *apiError {
	return newAPIError(http.StatusNotFound, "NoSuchBucket", "bucket %q does not exist", bucket)
}

func errNoSuchKey(key string) *apiError {
	return newAPIError(http.StatusNotFound, "NoSuchKey", "object %q does not exist", key)
}

func errNoSuchUpload(id string) *apiError {
	return newAPIError(http.StatusNotFound, "NoSuchUpload", "multipart upload %q does not exist (aborted, completed or never created)", id)
}

func errEntityTooLarge(size, limit int64) *apiError {
	return newAPIError(http.StatusBadRequest, "EntityTooLarge", "body of %d bytes exceeds the limit of %d bytes", size, limit)
}

func errNotImplemented(what string) *apiError {
	return newAPIError(http.StatusNotImplemented, "NotImplemented", "%s is not implemented by this endpoint", what)
}

func errInternal(err error) *apiError {
	return &apiError{Code: "InternalError", Status: http.StatusInternalServerError, Message: "internal error: " + err.Error()}
}

// toAPIError maps any error to the S3 error sent to the client.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ce *chunkError
	if errors.As(err, &ce) {
		if ce.signature {
			return errSignatureMismatch("%s", ce.msg)
		}
		if ce.tooLarge {
			return newAPIError(http.StatusBadRequest, "EntityTooLarge", "%s", ce.msg)
		}
		return newAPIError(http.StatusBadRequest, "IncompleteBody", "%s", ce.msg)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return newAPIError(http.StatusBadRequest, "EntityTooLarge", "request body exceeds the limit of %d bytes", mbe.Limit)
	}
	return errInternal(err)
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	Bucket    string   `xml:"BucketName,omitempty"`
	Key       string   `xml:"Key,omitempty"`
	RequestID string   `xml:"RequestId"`
}
