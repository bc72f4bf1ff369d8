package teststack

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// The campaign benchmarks measure otpatch against a baseline on the same Temporal server in
// the same run: a parent workflow that starts n trivial child workflows, parallel at a time, as
// a campaign's batches start its assets' workflows.

// BaselineParent starts n trivial children, parallel at a time.
func BaselineParent(ctx workflow.Context, n, parallel int) error {
	for i := 0; i < n; i += parallel {
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
