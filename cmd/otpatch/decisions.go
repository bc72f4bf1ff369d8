package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/otpatch/otpatch/internal/client"
)

// runAdvisoryDecide is `otpatch advisory decide`: it records what the plant does about an
// advisory for a group of the assets it hits — patch (the campaign is planned in the same
// step), mitigate, accept the risk or not affected — and prints the decision in one line.
func runAdvisoryDecide(ctx context.Context, args []string) error {
	fs := newFlags("advisory decide")
	remote := newRemoteFlags(fs, "engineer or admin")
	patch := fs.Bool("patch", false, "plan the campaign with the qualified patch that fixes the assets")
	mitigate := fs.Bool("mitigate", false, "a compensating control (--control, --description, --owner, --evidence, --review)")
	accept := fs.Bool("accept", false, "accept the risk (--justification, --approver, --expires); another person approves")
	notAffected := fs.Bool("not-affected", false, "the assets are not affected (--vex, --impact)")
	assets := fs.String("assets", "", "comma-separated ids of the affected assets the decision covers")
	zone := fs.String("zone", "", "the affected assets of this zone")
	product := fs.String("product", "", "the affected assets of this product")
	all := fs.Bool("all", false, "every asset the advisory hits")
	patchID := fs.String("patch-id", "", "patch: the qualified patch (default: the one that fixes the assets)")
	name := fs.String("name", "", "patch: the campaign's name")
	control := fs.String("control", "", "mitigate: firewall_rule, disabled_service, virtual_patch, network_isolation or other")
	description := fs.String("description", "", "mitigate: what the control does")
	owner := fs.String("owner", "", "mitigate: the person who keeps the control in place")
	evidence := fs.String("evidence", "", "mitigate: where the control can be checked (rule id, ticket, URL)")
	review := fs.String("review", "", "mitigate: the review date, YYYY-MM-DD")
	justification := fs.String("justification", "", "accept: why the risk is acceptable")
	approver := fs.String("approver", "", "accept: the user name of the approver asked to approve it")
	expires := fs.String("expires", "", "accept: the last day the acceptance counts, YYYY-MM-DD (at most a year ahead)")
	vex := fs.String("vex", "", "not-affected: the CSAF VEX justification (component_not_present, vulnerable_code_not_present, vulnerable_code_cannot_be_controlled_by_adversary, vulnerable_code_not_in_execute_path, inline_mitigations_already_exist)")
	impact := fs.String("impact", "", "not-affected: why the assets are not affected")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	var kinds []string
	for k, set := range map[string]bool{"patch": *patch, "mitigate": *mitigate, "accept": *accept, "not_affected": *notAffected} {
		if set {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(rest) != 1:
		return fs.usageError("give one ADVISORY: its id or tracking id")
	case len(kinds) != 1:
		return fs.usageError("give one of --patch, --mitigate, --accept, --not-affected")
	}
	in := client.AdvisoryDecisionInput{Kind: client.AdvisoryDecisionInputKind(kinds[0])}
	set := func(dst **string, v string) {
		if v != "" {
			*dst = &v
		}
	}
	if *assets != "" {
		ids := strings.Split(*assets, ",")
		for i := range ids {
			ids[i] = strings.TrimSpace(ids[i])
		}
		in.AssetIds = &ids
	}
	if *all {
		in.All = all
	}
	set(&in.ZoneId, *zone)
	set(&in.ProductId, *product)
	set(&in.PatchId, *patchID)
	set(&in.CampaignName, *name)
	if *control != "" {
		c := client.AdvisoryDecisionInputControlKind(*control)
		in.ControlKind = &c
	}
	set(&in.Description, *description)
	set(&in.Owner, *owner)
	set(&in.Evidence, *evidence)
	set(&in.ReviewDate, *review)
	set(&in.Justification, *justification)
	set(&in.Approver, *approver)
	set(&in.ExpiresOn, *expires)
	if *vex != "" {
		j := client.AdvisoryDecisionInputVexJustification(*vex)
		in.VexJustification = &j
	}
	set(&in.ImpactStatement, *impact)

	id, err := srv.advisoryID(ctx, rest[0])
	if err != nil {
		return err
	}
	res, err := srv.api.DecideAdvisoryWithResponse(ctx, id, in)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON201 == nil {
		return refused("the decision was", srv.wrongAnswer(res, http.StatusCreated))
	}
	fmt.Println(decisionLine(*res.JSON201))
	return nil
}

// runAdvisoryApprove is `otpatch advisory approve`: an approver approves a pending risk
// acceptance.
func runAdvisoryApprove(ctx context.Context, args []string) error {
	return decideAcceptance(ctx, "advisory approve", args)
}

// runAdvisoryReject is `otpatch advisory reject`: an approver refuses a pending risk
// acceptance, with the reason.
func runAdvisoryReject(ctx context.Context, args []string) error {
	return decideAcceptance(ctx, "advisory reject", args)
}

// decideAcceptance approves (command "advisory approve") or rejects a pending risk acceptance.
func decideAcceptance(ctx context.Context, command string, args []string) error {
	rejecting := command == "advisory reject"
	fs := newFlags(command)
	remote := newRemoteFlags(fs, "approver")
	var reason *string
	if rejecting {
		reason = fs.String("reason", "", "why the risk is not accepted (required)")
	}
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return fs.usageError("give one DECISION id")
	case rejecting && strings.TrimSpace(*reason) == "":
		return fs.usageError("give --reason: why the risk is not accepted")
	}
	if rejecting {
		res, err := srv.api.RejectDecisionWithResponse(ctx, rest[0], client.RejectDecisionJSONRequestBody{Reason: reason})
		if err != nil {
			return srv.noAnswer(ctx, err)
		}
		if res.JSON200 == nil {
			return refused("the rejection was", srv.wrongAnswer(res, http.StatusOK))
		}
		fmt.Println(decisionLine(*res.JSON200))
		return nil
	}
	res, err := srv.api.ApproveDecisionWithResponse(ctx, rest[0])
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the approval was", srv.wrongAnswer(res, http.StatusOK))
	}
	fmt.Println(decisionLine(*res.JSON200))
	return nil
}

// advisoryID is the id of the advisory named by its id or tracking id.
func (s *server) advisoryID(ctx context.Context, ref string) (string, error) {
	if strings.HasPrefix(ref, "adv_") {
		return ref, nil
	}
	res, err := s.api.ListAdvisoriesWithResponse(ctx, &client.ListAdvisoriesParams{TrackingId: &ref})
	if err != nil {
		return "", s.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return "", refused("reading the advisory was", s.wrongAnswer(res, http.StatusOK))
	}
	if len(res.JSON200.Items) == 0 {
		return "", fmt.Errorf("no advisory has the tracking id %q: ingest it first (otpatch csaf ingest) or give its id", ref)
	}
	return res.JSON200.Items[0].Id, nil
}

// decisionLine is a decision in one line.
func decisionLine(d client.Decision) string {
	line := fmt.Sprintf("%s: %s for %d assets of %s, %s", d.Id, strings.ReplaceAll(string(d.Kind), "_", " "), d.AssetCount, d.TrackingId, d.State)
	switch {
	case d.CampaignId != nil:
		line += "; campaign " + *d.CampaignId
	case d.MitigationPlanId != nil:
		line += "; mitigation plan " + *d.MitigationPlanId
	case d.ApprovedBy != nil:
		line += "; approved by " + *d.ApprovedBy
	case d.RejectedBy != nil:
		line += "; rejected by " + *d.RejectedBy
		if d.RejectReason != nil {
			line += ": " + *d.RejectReason
		}
	case d.Approver != nil:
		line += "; awaits the approval of " + *d.Approver
	}
	return line
}
