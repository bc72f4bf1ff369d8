package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/otpatch/otpatch/api"
)

// runOpenAPI writes the API's OpenAPI document, the one every server serves at
// /api/v1/openapi.json, so a client can be generated without a running server.
func runOpenAPI(_ context.Context, args []string) error {
	fs := newFlags("openapi")
	out := fs.String("out", "", "write the document to this file instead of standard output")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	b, err := json.MarshalIndent(api.OpenAPIDocument(), "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return fmt.Errorf("writing the OpenAPI document: %w", err)
	}
	return nil
}
