package secretstore

// WithChunkSize exposes withChunkSize to the external tests, which use tiny
// chunks so that every test exercises the chunked record layout.
var WithChunkSize = withChunkSize
