package api_test

// The roles of the notification routes (notifications.go).
func init() {
	staff := []string{"engineer", "approver", "safety", "auditor", "admin"}
	allowed["GET /api/v1/subscriptions"] = staff
	allowed["POST /api/v1/subscriptions"] = staff
	allowed["DELETE /api/v1/subscriptions/{subscriptionID}"] = staff
	for _, route := range []string{
		"POST /api/v1/webhooks", "GET /api/v1/webhooks", "GET /api/v1/webhooks/{webhookID}", "DELETE /api/v1/webhooks/{webhookID}",
		"GET /api/v1/webhooks/{webhookID}/deliveries", "POST /api/v1/webhooks/{webhookID}/test",
	} {
		allowed[route] = []string{"admin"}
	}
}
