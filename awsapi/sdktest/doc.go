// Package sdktest is a test-only module that drives package awsapi with the
// real aws-sdk-go-v2 Secrets Manager client: each test serves an awsapi
// Handler over an in-memory backend with net/http/httptest and points the
// SDK at it, so the wire protocol, error types, paginators and idempotency
// tokens are checked exactly as an AWS user's code sees them.
//
// It is kept in a nested module so that the root module
// github.com/secretstore/secretstore never depends on the AWS SDK.
package sdktest
