package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"gorm.io/gorm"
)

// stages maps activity names to the stage they measure; other activities (bookkeeping)
// are not observed.
var stages = map[string]string{
	"QualifyPatch": "qualify",
	"BackupAsset":  "backup",
	"DeployAsset":  "deploy",
	"VerifyAsset":  "verify",
	"RestoreAsset": "restore",
}

// WorkerInterceptor observes every execution of a stage activity into Stage.
func (s *Set) WorkerInterceptor() interceptor.WorkerInterceptor { return &workerInterceptor{set: s} }

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	set *Set
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &activityInterceptor{set: w.set}
	a.Next = next
	return a
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	set *Set
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	stage, ok := stages[activity.GetInfo(ctx).ActivityType.Name]
	if !ok {
		return a.Next.ExecuteActivity(ctx, in)
	}
	start := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	a.set.Stage.WithLabelValues(stage, outcome).Observe(time.Since(start).Seconds())
	return res, err
}

// CountUploads counts the request body bytes of patch submissions (POST under
// /api/v1/patches) into Upload as they are read.
func (s *Set) CountUploads(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/patches") && r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, c: s}
		}
		next.ServeHTTP(w, r)
	})
}

type countingBody struct {
	io.ReadCloser
	c *Set
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.Upload.Add(float64(n))
	}
	return n, err
}

const auditStartKey = "otpatch:metrics:audit_start"

// TimeAuditAppends registers gorm callbacks on db that time each INSERT into audit_events
// into AuditAppend. The store takes the chain head's lock before that insert and releases it
// at commit, so this is the part of an append other appends wait for.
func (s *Set) TimeAuditAppends(db *gorm.DB) error {
	cb := db.Callback().Create()
	if err := cb.Before("gorm:create").Register("otpatch:metrics:audit_before", func(tx *gorm.DB) {
		if tx.Statement.Table == "audit_events" {
			tx.InstanceSet(auditStartKey, time.Now())
		}
	}); err != nil {
		return err
	}
	return cb.After("gorm:create").Register("otpatch:metrics:audit_after", func(tx *gorm.DB) {
		if tx.Statement.Table != "audit_events" || tx.Error != nil {
			return
		}
		if v, ok := tx.InstanceGet(auditStartKey); ok {
			s.AuditAppend.Observe(time.Since(v.(time.Time)).Seconds())
		}
	})
}
