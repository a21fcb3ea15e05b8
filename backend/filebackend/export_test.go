package filebackend

// WithSealSize makes the logs of a store of format version 2 sealed, and
// checkpointed, once they reach n bytes, for the tests of package
// filebackend_test.
func WithSealSize(n int64) Option {
	return optionFunc(func(c *config) { c.sealSize = n })
}

// withSealSize is WithSealSize for the tests of package filebackend.
var withSealSize = WithSealSize
