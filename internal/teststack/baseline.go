package teststack

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/workflows"
)

// The campaign benchmarks measure otpatch against a baseline on the same Temporal server in
// the same run: a parent workflow that starts n trivial child workflows, parallel at a time, as
// a campaign's batches start its assets' workflows.

// BaselineParent starts children from to n-1, parallel at a time. Like a campaign it continues
// as new between batches once its history reaches workflows.DefaultHistoryLimit: a parent that
// ran 10,000 children in one history would pass Temporal's 51,200 events (each batch's children
// complete in several workflow tasks) and be terminated.
func BaselineParent(ctx workflow.Context, n, parallel, from int) error {
	for i := from; i < n; i += parallel {
		if i > from && workflow.GetInfo(ctx).GetCurrentHistoryLength() >= workflows.DefaultHistoryLimit {
			return workflow.NewContinueAsNewError(ctx, BaselineParent, n, parallel, i)
		}
		var fs []workflow.ChildWorkflowFuture
		for j := i; j < min(i+parallel, n); j++ {
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("bench-baseline-child-%05d", j)})
			fs = append(fs, workflow.ExecuteChildWorkflow(cctx, BaselineChild, j))
		}
		for _, f := range fs {
			if err := f.Get(ctx, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// BaselineChild returns at once.
func BaselineChild(_ workflow.Context, i int) (int, error) { return i, nil }
