// Package engine is otpatch's one way into Temporal. It starts the qualification and campaign
// workflows, each at most once whatever retries and restarts happen; it sends updates to a
// running campaign with an update id derived from the request that asked, so a retried request
// is applied once; it turns a workflow's refusal into one error with one table of statuses;
// and it reconciles rows whose workflow never started (the process stopped between committing
// the row and starting the workflow).
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// Gateway starts and updates otpatch's workflows.
type Gateway struct {
	Temporal client.Client
	// Store, when set, names the workflows it starts: a summary and search attributes
	// (workflows/search.go) that the Temporal UI and CLI show and filter on.
	Store *store.Store
}

// Refusal is a workflow's refusal of an update: the rule that refused it, the message for the
// person who asked, and the HTTP status it answers.
type Refusal struct {
	Rule, Message string
	Status        int
}

func (r *Refusal) Error() string { return r.Message }

// refusalStatus maps a rule to its status: a fault of the request's own content is 422,
// anything the campaign's state or the separation of duties refuses is 409.
var refusalStatus = map[string]int{
	"reason":      http.StatusUnprocessableEntity,
	"decision":    http.StatusUnprocessableEntity,
	"plan_digest": http.StatusUnprocessableEntity,
}

// StatusOf is the HTTP status of a refusal by rule.
func StatusOf(rule string) int {
	if s, ok := refusalStatus[rule]; ok {
		return s
	}
	return http.StatusConflict
}

// Update sends the update name with arg to the workflow and waits for its result in out
// (when not nil). updateID identifies the request that asked: the same id is the same update,
// which Temporal applies once and answers again with the first result. A refusal by the
// workflow is a *Refusal.
func (g *Gateway) Update(ctx context.Context, workflowID, name, requestID string, arg, out any) error {
	handle, err := g.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateID: UpdateID(name, requestID), UpdateName: name,
		WaitForStage: client.WorkflowUpdateStageCompleted, Args: []any{arg},
	})
	if err == nil {
		err = handle.Get(ctx, out)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && strings.HasPrefix(appErr.Type(), workflows.RefusalErrorPrefix) {
		rule := strings.TrimPrefix(appErr.Type(), workflows.RefusalErrorPrefix)
		return &Refusal{Rule: rule, Message: appErr.Message(), Status: StatusOf(rule)}
	}
	if err != nil {
		return fmt.Errorf("%s of workflow %s: %w", name, workflowID, err)
	}
	return nil
}

// UpdateID is the update id of a request: the update's name and the request id (a client's
// X-Request-Id, or the one the server gave), hashed when long. Empty without a request id:
// Temporal then makes one.
func UpdateID(name, requestID string) string {
	if requestID == "" {
		return ""
	}
	id := name + ":" + requestID
	if len(id) > 200 {
		sum := sha256.Sum256([]byte(id))
		id = name + ":sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}

// labels name a workflow in Temporal: its summary and, when set, its search attributes.
type labels struct {
	summary string
	search  *temporal.SearchAttributes
}

// start starts a workflow by its id unless one by that id runs or ran: a workflow id is never
// reused, so a patch is qualified and a campaign run at most once. input makes the
// workflow's input, told whether the workflow carries its search attributes.
// It reports whether this call started it.
func (g *Gateway) start(ctx context.Context, id string, wf any, l labels, input func(indexed bool) any) (bool, error) {
	opts := client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.TaskQueue, StaticSummary: l.summary,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}
	indexed := l.search != nil
	if indexed {
		opts.TypedSearchAttributes = *l.search
	}
	_, err := g.Temporal.ExecuteWorkflow(ctx, opts, wf, input(indexed))
	if indexed && unregistered(err) {
		// A namespace without otpatch's search attributes (registered at every start; one
		// managed elsewhere may not allow it): the workflow runs all the same, unlabelled.
		opts.TypedSearchAttributes = temporal.SearchAttributes{}
		_, err = g.Temporal.ExecuteWorkflow(ctx, opts, wf, input(false))
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return false, nil
	}
	return err == nil, err
}

// unregistered says Temporal refused a start for a search attribute it does not know.
func unregistered(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid) && strings.Contains(invalid.Message, "search attribute")
}

// StartQualification starts the qualification of a submitted patch, unless it runs or ran.
func (g *Gateway) StartQualification(ctx context.Context, patchID string) error {
	_, err := g.startQualification(ctx, patchID)
	return err
}

func (g *Gateway) startQualification(ctx context.Context, patchID string) (bool, error) {
	l := labels{summary: "qualification of patch " + patchID}
	if g.Store != nil {
		sa := temporal.NewSearchAttributes(workflows.SearchPatch.ValueSet(patchID))
		l.search = &sa
	}
	return g.start(ctx, workflows.QualificationWorkflowID(patchID), workflows.PatchQualification, l,
		func(bool) any { return workflows.QualificationInput{PatchID: patchID} })
}

// StartCampaign starts a planned campaign, unless it runs or ran.
func (g *Gateway) StartCampaign(ctx context.Context, campaignID string) error {
	_, err := g.startCampaign(ctx, campaignID)
	return err
}

func (g *Gateway) startCampaign(ctx context.Context, campaignID string) (bool, error) {
	l := labels{summary: "campaign " + campaignID}
	var zoneSites map[string]string
	if g.Store != nil {
		cl, err := g.Store.CampaignLabels(ctx, campaignID)
		if err != nil {
			return false, err
		}
		l.summary = fmt.Sprintf("campaign %q (%s): patch %s to %d zone(s)", cl.Name, campaignID, cl.PatchID, len(cl.ZoneSites))
		sa := workflows.CampaignSearchAttributes(campaignID, cl.PatchID, cl.ZoneSites)
		l.search, zoneSites = &sa, cl.ZoneSites
	}
	return g.start(ctx, workflows.CampaignWorkflowID(campaignID), workflows.Campaign, l, func(indexed bool) any {
		in := workflows.CampaignInput{CampaignID: campaignID}
		if indexed {
			in.Indexed, in.ZoneSites = true, zoneSites
		}
		return in
	})
}

// Reconciled says what Reconcile started (not what was found running or ended already).
type Reconciled struct {
	Patches, Campaigns []string
}

// reconcileBatch bounds the rows one Reconcile looks at.
const reconcileBatch = 500

// Reconcile starts the workflow of every patch still submitted and every campaign still a
// draft; those that run or ran already are left alone. The server runs it at start and then
// every minute, so a row committed just before the process stopped is not left behind.
func (g *Gateway) Reconcile(ctx context.Context, st *store.Store) (Reconciled, error) {
	var out Reconciled
	patches, campaigns, err := st.UnstartedWork(ctx, reconcileBatch)
	if err != nil {
		return out, err
	}
	var errs []error
	for _, id := range patches {
		started, err := g.startQualification(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("qualification of %s: %w", id, err))
		} else if started {
			out.Patches = append(out.Patches, id)
		}
	}
	for _, id := range campaigns {
		started, err := g.startCampaign(ctx, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("campaign %s: %w", id, err))
		} else if started {
			out.Campaigns = append(out.Campaigns, id)
		}
	}
	return out, errors.Join(errs...)
}
