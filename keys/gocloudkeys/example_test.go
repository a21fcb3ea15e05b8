package gocloudkeys_test

import (
	"context"
	"fmt"
	"log"

	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/membackend"
	"github.com/secretstore/secretstore/keys/gocloudkeys"
)

// Example wraps data keys with AWS KMS: secrets without a KmsKeyId use the
// key with alias "alias/secretstore", the others the key their KmsKeyId
// names. The program also needs the awskms driver, for the awskms URL
// scheme (left out here to keep the AWS SDK out of this module):
//
//	import _ "gocloud.dev/secrets/awskms"
//
// and AWS credentials allowed kms:Encrypt and kms:Decrypt on those keys.
func Example() {
	ctx := context.Background()
	keys, err := gocloudkeys.New(gocloudkeys.URLs("awskms:///{keyID}?region=us-east-1", "alias/secretstore"))
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	store, err := secretstore.New(membackend.New(), secretstore.WithKeys(keys))
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.CreateSecret(ctx, &secretstore.CreateSecretInput{
		Name:         "prod/db",
		SecretString: new("s3cr3t"),
		KmsKeyId:     "alias/prod", // or a key ID, key ARN or alias ARN
	})
	if err != nil {
		log.Fatal(err)
	}
}

// ExampleNew maps key IDs to keepers with a function of its own, here two
// localsecrets keepers.
func ExampleNew() {
	ctx := context.Background()
	open := func(ctx context.Context, keyID string) (*secrets.Keeper, error) {
		switch keyID {
		case "", "alias/app":
			// Real keys come from configuration, never from the program.
			key, err := localsecrets.NewRandomKey()
			if err != nil {
				return nil, err
			}
			return localsecrets.NewKeeper(key), nil
		}
		return nil, gocloudkeys.ErrUnknownKey
	}
	keys, err := gocloudkeys.New(open)
	if err != nil {
		log.Fatal(err)
	}
	defer keys.Close()
	store, err := secretstore.New(membackend.New(), secretstore.WithKeys(keys))
	if err != nil {
		log.Fatal(err)
	}

	_, err = store.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "app", SecretString: new("hunter2"), KmsKeyId: "alias/app"})
	if err != nil {
		log.Fatal(err)
	}
	out, err := store.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: "app"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.SecretString)

	_, err = store.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "other", SecretString: new("x"), KmsKeyId: "alias/nope"})
	fmt.Println(err != nil, secretstore.ErrorCode(err))
	// Output:
	// hunter2
	// true EncryptionFailure
}
