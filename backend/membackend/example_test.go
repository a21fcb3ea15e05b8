package membackend_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/secretstore/secretstore/backend"
	"github.com/secretstore/secretstore/backend/membackend"
)

func Example() {
	ctx := context.Background()
	var b backend.Backend = membackend.New()
	defer b.Close()

	rev, err := b.CreateRecord(ctx, "secret/db", []byte(`{"name":"db"}`))
	if err != nil {
		log.Fatal(err)
	}
	rec, err := b.GetRecord(ctx, "secret/db", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", rec.Key, rec.Data)

	// Reading again with the revision already held returns no data: the
	// caller's copy is current.
	rec, err = b.GetRecord(ctx, "secret/db", rev)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Revision == rev, rec.Data == nil)

	// A second create on the same key is refused.
	_, err = b.CreateRecord(ctx, "secret/db", []byte(`{}`))
	fmt.Println(errors.Is(err, backend.ErrExists))

	// An update with a revision that is no longer current is a conflict.
	if _, err := b.UpdateRecord(ctx, "secret/db", rev, []byte(`{"name":"db","v":2}`)); err != nil {
		log.Fatal(err)
	}
	_, err = b.UpdateRecord(ctx, "secret/db", rev, []byte(`{"lost":true}`))
	fmt.Println(errors.Is(err, backend.ErrConflict))
	// Output:
	// secret/db {"name":"db"}
	// true true
	// true
	// true
}
