package workflows

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// TestPatchQualification runs QualifyPatch for the patch, with the workflow's id for the audit
// trail, retries transient failures and returns the verdict unchanged.
func TestPatchQualification(t *testing.T) {
	rejected := activities.QualifyResult{Status: domain.PatchRejected,
		Reasons: []string{"signature: no trusted key of vendor acme verifies the manifest", "artifact fw.bin: not stored"}}
	qualified := activities.QualifyResult{Status: domain.PatchQualified, Applicable: []string{"plc1", "plc2"}}
	tests := []struct {
		name      string
		transient int // failures before the verdict
		fatal     error
		want      activities.QualifyResult
	}{
		{name: "qualified", want: qualified},
		{name: "rejected with every reason", want: rejected},
		{name: "transient failures are retried", transient: 2, want: qualified},
		{name: "non-retryable failure fails the workflow", fatal: temporal.NewNonRetryableApplicationError("patch pat1 not found", "NotFound", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(PatchQualification)
			env.RegisterActivity(&activities.Activities{})
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: QualificationWorkflowID("pat1"), TaskQueue: TaskQueue})
			var calls []activities.QualifyInput
			env.OnActivity(a.QualifyPatch, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.QualifyInput) (activities.QualifyResult, error) {
					calls = append(calls, in)
					if tt.fatal != nil {
						return activities.QualifyResult{}, tt.fatal
					}
					if len(calls) <= tt.transient {
						return activities.QualifyResult{}, errors.New("database is locked")
					}
					return tt.want, nil
				})

			env.ExecuteWorkflow(PatchQualification, QualificationInput{PatchID: "pat1"})

			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			wantCalls := tt.transient + 1
			if len(calls) != wantCalls {
				t.Errorf("QualifyPatch ran %d times, want %d", len(calls), wantCalls)
			}
			for _, in := range calls {
				if in != (activities.QualifyInput{PatchID: "pat1", WorkflowID: QualificationWorkflowID("pat1")}) {
					t.Errorf("QualifyPatch input %+v", in)
				}
			}
			if tt.fatal != nil {
				var ae *temporal.ApplicationError
				if err := env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != "NotFound" {
					t.Errorf("workflow error %v, want the activity's NotFound", err)
				}
				return
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var got activities.QualifyResult
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || !slices.Equal(got.Reasons, tt.want.Reasons) || !slices.Equal(got.Applicable, tt.want.Applicable) {
				t.Errorf("result %+v, want %+v", got, tt.want)
			}
		})
	}
}
