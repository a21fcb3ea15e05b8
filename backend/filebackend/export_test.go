package filebackend

// WithSealSize makes the logs of a store of format version 2 sealed, and
// checkpointed, once they reach n bytes, for the tests of package
// filebackend_test.
func WithSealSize(n int64) Option {
	return optionFunc(func(c *config) { c.sealSize = n })
}

// withSealSize is WithSealSize for the tests of package filebackend.
var withSealSize = WithSealSize

// WithFormatVersion makes Open create stores of format version v.
var WithFormatVersion = withFormatVersion

// Checkpoint moves what the log of a store of format version 2 holds into
// record and blob files.
func Checkpoint(b *Backend) error { return b.wal.checkpointAll() }

// CloseWithoutCheckpoint closes b leaving its log as it is, as a crash
// would, except that every acknowledged write is already durable.
func CloseWithoutCheckpoint(b *Backend) error {
	if b.wal != nil {
		b.wal.wrote.Store(false)
	}
	return b.Close()
}
