package domain

import _ "embed"

// ManifestJSONSchema is the JSON Schema (2020-12) of the manifest, served by the API.
//
//go:embed schemas/patch-manifest.json
var ManifestJSONSchema []byte
