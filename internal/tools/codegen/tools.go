//go:build tools

// Package codegen pins oapi-codegen, which generates otpatch's Go API client
// (internal/client) from the OpenAPI document, in a module of its own so its dependencies stay
// out of otpatch's go.mod. Run it with `go generate ./internal/client`.
package codegen

import _ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
