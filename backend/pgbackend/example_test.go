package pgbackend_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/pgbackend"
)

// Every instance of a service opens a store over the same database; they
// share its secrets, and none loses another's update. The example has no
// output to check, since it needs a database: it is compiled, not run.
func Example() {
	ctx := context.Background()

	// The DSN comes from the environment or a secret file, never from the
	// source or the command line.
	b, err := pgbackend.Open(ctx, os.Getenv("DATABASE_URL"), pgbackend.WithSchema("secretstore"))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	// The master key stays outside the database it protects.
	master, _, err := secretstore.LoadKeyFile("/etc/myservice/secretstore.key", false)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := secretstore.NewLocalKeys(master)
	clear(master)
	if err != nil {
		log.Fatal(err)
	}
	store, err := secretstore.New(b, secretstore.WithKeys(keys))
	if err != nil {
		log.Fatal(err)
	}

	out, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "db/password"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("read version", out.VersionId)
}
