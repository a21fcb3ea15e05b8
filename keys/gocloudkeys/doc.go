// Package gocloudkeys lets a secretstore engine wrap its data keys with a
// real KMS: it adapts gocloud.dev/secrets keepers (AWS KMS, Google Cloud
// KMS, Azure Key Vault, HashiCorp Vault transit, or localsecrets for
// tests) to [secretstore.Keys]. Give the result to the engine with
// [secretstore.WithKeys].
//
// It is a module of its own, github.com/secretstore/secretstore/keys/gocloudkeys,
// so that the main module does not depend on gocloud.dev. It depends on no
// KMS SDK either: the program that uses a KMS imports its gocloud driver.
//
// # Keys and keepers
//
// The engine seals every secret version under a fresh 32-byte data key and
// asks Keys to wrap that data key under the key the secret's KmsKeyId
// names ("" for secrets without one, the default key). [New] takes an
// [OpenFunc] that maps a KmsKeyId to a keeper; Keys opens each key ID's
// keeper once, on first use, and keeps it. [URLs] makes the usual OpenFunc
// from a gocloud URL template, escaping the key ID. [Single] serves only
// the default key with one keeper.
//
// A wrapped data key records the KmsKeyId as given (the WrappedKey's
// KeyID), and unwrapping opens the keeper for that key ID again. So the
// OpenFunc must go on opening, for every key ID that was ever used, a
// keeper able to decrypt what it wrapped, including for "" after the
// default key changes. AWS KMS ciphertexts name their key, so any AWS KMS
// keeper with kms:Decrypt on it will do; Google Cloud KMS, Azure Key Vault
// and Vault decrypt with the keeper's own key. To move data keys to
// another key, change the secrets' KmsKeyId with UpdateSecret. The KMS
// versions its keys itself (the WrappedKey's Version is always 0):
// [secretstore.Engine.Rewrap] wraps every data key again, which puts it
// under the key's current version, for example after AWS KMS rotated it.
//
// # Using AWS KMS
//
// Create a symmetric KMS key with an alias, grant the program's role
// kms:Encrypt and kms:Decrypt on it (and on every key a KmsKeyId names),
// import the awskms driver for its URL scheme and open the keys:
//
//	import _ "gocloud.dev/secrets/awskms"
//
//	keys, err := gocloudkeys.New(gocloudkeys.URLs(
//		"awskms:///{keyID}?region=us-east-1", "alias/secretstore"))
//	if err != nil { ... }
//	defer keys.Close()
//	store, err := secretstore.New(b, secretstore.WithKeys(keys))
//
// Credentials come from the usual AWS chain (environment, shared config,
// instance or task role). A KmsKeyId may then be a key ID, a key ARN, an
// alias ("alias/name") or an alias ARN, as with AWS Secrets Manager.
//
// The other drivers work alike, each with its own import and URL:
//   - Google Cloud KMS: gocloud.dev/secrets/gcpkms,
//     "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/{keyID}"
//     (roles/cloudkms.cryptoKeyEncrypterDecrypter).
//   - Azure Key Vault: gocloud.dev/secrets/azurekeyvault,
//     "azurekeyvault://VAULT.vault.azure.net/keys/{keyID}" (keys/encrypt
//     and keys/decrypt permissions). Its keeper decrypts with the key
//     version it was opened with, the latest if none, so name the version
//     in the KmsKeyId ("NAME/VERSION") to survive key rotation.
//   - HashiCorp Vault transit: the gocloud.dev/secrets/hashivault module,
//     "hashivault://{keyID}".
//
// # Associated data
//
// A keeper has no associated data, but the engine binds each wrapped data
// key to its secret and version with one. Keys therefore encrypts the data
// key followed by SHA-256("secretstore/gocloudkeys/v1" 0x00 || aad) and,
// after decrypting, compares that digest in constant time: a wrapped key
// copied to another secret or version fails to unwrap instead of yielding
// a data key. This plaintext layout is part of the stored format and will
// go on being read; testdata/wrapped-v1.json pins it.
//
// # Errors and key material
//
// Errors name the operation and the key ID, never a data key, associated
// data or plaintext; the engine reports them as EncryptionFailure or
// DecryptionFailure. The plaintext buffers Keys owns are zeroed after use;
// copies a KMS client makes to send a request are beyond its reach.
// Formatting a Keys shows nothing of its keepers.
//
// # Ownership
//
// Keys owns the keepers its OpenFunc returns and closes them in
// [Keys.Close]; the keeper given to Single stays the caller's to close.
// Close the Keys after the engine is done with it.
package gocloudkeys
