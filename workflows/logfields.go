package workflows

import (
	"context"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"
)

// LogFields are the otpatch IDs a workflow ID names, as structured log fields: campaign_id
// and asset_id for a campaign and its asset deployments, patch_id for a qualification.
func LogFields(workflowID string) []any {
	if rest, ok := strings.CutPrefix(workflowID, "campaign-"); ok {
		if c, a, ok := strings.Cut(rest, "-asset-"); ok {
			return []any{"campaign_id", c, "asset_id", a}
		}
		return []any{"campaign_id", rest}
	}
	if p, ok := strings.CutPrefix(workflowID, "qualify-"); ok {
		return []any{"patch_id", p}
	}
	return nil
}

// logFields adds LogFields to every log line of otpatch's workflows and activities, so that a
// line of the SDK's or of otpatch's own names the campaign and asset it is about.
type logFields struct {
	interceptor.WorkerInterceptorBase
}

func (*logFields) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityLogFields{}
	i.Next = next
	return i
}

func (*logFields) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &workflowLogFields{}
	i.Next = next
	return i
}

type activityLogFields struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *activityLogFields) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	o := &activityLogOutbound{}
	o.Next = outbound
	return i.Next.Init(o)
}

type activityLogOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (o *activityLogOutbound) GetLogger(ctx context.Context) log.Logger {
	l := o.Next.GetLogger(ctx)
	if fields := LogFields(activity.GetInfo(ctx).WorkflowExecution.ID); fields != nil {
		return log.With(l, fields...)
	}
	return l
}

type workflowLogFields struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *workflowLogFields) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	o := &workflowLogOutbound{}
	o.Next = outbound
	return i.Next.Init(o)
}

type workflowLogOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *workflowLogOutbound) GetLogger(ctx workflow.Context) log.Logger {
	l := o.Next.GetLogger(ctx)
	if fields := LogFields(workflow.GetInfo(ctx).WorkflowExecution.ID); fields != nil {
		return log.With(l, fields...)
	}
	return l
}
