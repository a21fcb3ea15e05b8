package secretstore_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/membackend"
)

// value1KiB is the 1 KiB string value every benchmark stores.
var value1KiB = strings.Repeat("s", 1024)

// BenchmarkFloor measures the AEAD primitive the envelope uses, with a fresh
// data key each operation: what no Get or Put can beat.
func BenchmarkFloor(b *testing.B) {
	plain := []byte(value1KiB)
	b.Run("seal-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		var key [32 + 12]byte
		dst := make([]byte, 0, len(plain)+16)
		for b.Loop() {
			if _, err := rand.Read(key[:]); err != nil {
				b.Fatal(err)
			}
			block, err := aes.NewCipher(key[:32])
			if err != nil {
				b.Fatal(err)
			}
			gcm, err := cipher.NewGCM(block)
			if err != nil {
				b.Fatal(err)
			}
			dst = gcm.Seal(dst[:0], key[32:], plain, nil)
		}
	})
	b.Run("wrap+unwrap-dek", benchWrapFloor)
	b.Run("open-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		var key [32 + 12]byte
		if _, err := rand.Read(key[:]); err != nil {
			b.Fatal(err)
		}
		block, _ := aes.NewCipher(key[:32])
		gcm, _ := cipher.NewGCM(block)
		sealed := gcm.Seal(nil, key[32:], plain, nil)
		dst := make([]byte, 0, len(plain))
		for b.Loop() {
			block, err := aes.NewCipher(key[:32])
			if err != nil {
				b.Fatal(err)
			}
			gcm, err := cipher.NewGCM(block)
			if err != nil {
				b.Fatal(err)
			}
			if dst, err = gcm.Open(dst[:0], key[32:], sealed, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchWrapFloor is BenchmarkFloor/wrap+unwrap-dek: one data key unwrapped
// and wrapped again under a key-encryption key whose cipher is ready, with
// associated data of the size the engine uses. It is what re-wrapping one
// version's data key cannot beat.
func benchWrapFloor(b *testing.B) {
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		b.Fatal(err)
	}
	block, _ := aes.NewCipher(kek[:])
	gcm, _ := cipher.NewGCM(block)
	aad := []byte("secretstore/v1\x00arn:aws:secretsmanager:us-east-1:123456789012:secret:bench-AbCdEf\x00b8e1a1d2-0c33-4e6f-9a51-7d2f4c6b8e90\x00\x01")
	dek := make([]byte, 32)
	wrapped := make([]byte, 12, 12+32+16)
	if _, err := rand.Read(wrapped); err != nil {
		b.Fatal(err)
	}
	wrapped = gcm.Seal(wrapped, wrapped[:12], dek, aad)
	b.ReportAllocs()
	for b.Loop() {
		plain, err := gcm.Open(nil, wrapped[:12], wrapped[12:], aad)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]byte, 12, 12+32+16)
		if _, err := rand.Read(out); err != nil {
			b.Fatal(err)
		}
		wrapped = gcm.Seal(out, out, plain, aad)
	}
}

// BenchmarkFloorParallel is BenchmarkFloor/open-1KiB from all goroutines
// (b.RunParallel): how far the primitive itself scales on this machine, the
// bound for BenchmarkGetSecretValueParallel.
func BenchmarkFloorParallel(b *testing.B) {
	plain := []byte(value1KiB)
	var key [32 + 12]byte
	if _, err := rand.Read(key[:]); err != nil {
		b.Fatal(err)
	}
	block, _ := aes.NewCipher(key[:32])
	gcm, _ := cipher.NewGCM(block)
	sealed := gcm.Seal(nil, key[32:], plain, nil)
	b.Run("open-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]byte, 0, len(plain))
			for pb.Next() {
				block, err := aes.NewCipher(key[:32])
				if err != nil {
					b.Fatal(err)
				}
				gcm, err := cipher.NewGCM(block)
				if err != nil {
					b.Fatal(err)
				}
				if dst, err = gcm.Open(dst[:0], key[32:], sealed, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// benchStore returns an engine holding one secret, "bench", with the given
// number of versions, the last one AWSCURRENT. Unlabelled versions may be
// pruned at once (prune age 0) so that a Put keeps the count steady.
func benchStore(b *testing.B, versions, maxVersions int) *secretstore.Engine {
	b.Helper()
	return benchStoreOn(b, membackend.New(), versions, maxVersions)
}

// benchStoreOn is benchStore over mb, with more options.
func benchStoreOn(b *testing.B, mb *membackend.Backend, versions, maxVersions int, opts ...secretstore.Option) *secretstore.Engine {
	b.Helper()
	ctx := context.Background()
	clock := secretstore.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := secretstore.New(mb, append([]secretstore.Option{secretstore.WithClock(clock),
		secretstore.WithMaxVersions(maxVersions), secretstore.WithPruneAge(0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: "bench", SecretString: &value1KiB}); err != nil {
		b.Fatal(err)
	}
	for i := 1; i < versions; i++ {
		clock.Advance(time.Second)
		if _, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "bench", SecretString: &value1KiB}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func BenchmarkGetSecretValue(b *testing.B) {
	get := func(b *testing.B, e *secretstore.Engine) {
		ctx := context.Background()
		in := &secretstore.GetSecretValueInput{SecretId: "bench"}
		runtime.GC() // the set-up's garbage (argon2id's 64 MiB) is not the loop's
		b.ReportAllocs()
		for b.Loop() {
			out, err := e.GetSecretValue(ctx, in)
			if err != nil || len(out.SecretString) != len(value1KiB) {
				b.Fatal(err)
			}
		}
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("versions=%d", n), func(b *testing.B) {
			get(b, benchStore(b, n, 100))
		})
	}
	// master=passphrase: versions=1 under a Keyring whose master key is
	// stretched from a passphrase with the default argon2id parameters, a
	// cost paid once, when the keyring opens, and never per operation.
	b.Run("master=passphrase", func(b *testing.B) {
		mb := membackend.New()
		master, err := secretstore.MasterKeyFromPassphrase([]byte("bench passphrase"), secretstore.DefaultArgon2Params)
		if err != nil {
			b.Fatal(err)
		}
		kr, err := secretstore.OpenKeyring(context.Background(), mb, master)
		if err != nil {
			b.Fatal(err)
		}
		get(b, benchStoreOn(b, mb, 1, 100, secretstore.WithKeys(kr)))
	})
}

// BenchmarkRewrap measures Engine.Rewrap over 10,000 versions (100 secrets
// of 100 versions, membackend, a Keyring): each operation rotates the
// default key and re-wraps every data key under the new version. The
// ns/version metric compares with BenchmarkFloor/wrap+unwrap-dek.
func BenchmarkRewrap(b *testing.B) {
	b.Run("versions=10000", func(b *testing.B) {
		ctx := context.Background()
		mb := membackend.New()
		master, err := secretstore.MasterKeyFromBytes(make([]byte, 32))
		if err != nil {
			b.Fatal(err)
		}
		kr, err := secretstore.OpenKeyring(ctx, mb, master)
		if err != nil {
			b.Fatal(err)
		}
		e, err := secretstore.New(mb, secretstore.WithKeys(kr))
		if err != nil {
			b.Fatal(err)
		}
		const secrets, versions = 100, 100
		for i := range secrets {
			name := fmt.Sprintf("bench-%03d", i)
			if _, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: name, SecretString: &value1KiB}); err != nil {
				b.Fatal(err)
			}
			for range versions - 1 {
				if _, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: name, SecretString: &value1KiB}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.RotateKey(ctx, ""); err != nil {
				b.Fatal(err)
			}
			p, err := e.Rewrap(ctx, nil)
			if err != nil || p.Rewrapped != secrets*versions {
				b.Fatalf("Rewrap: %+v, %v", p, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*secrets*versions), "ns/version")
	})
}

func BenchmarkPutSecretValue(b *testing.B) {
	// versions=1: the secret keeps only AWSCURRENT and AWSPREVIOUS (at most
	// two versions); versions=100: it is at the 100-version quota, so every
	// Put also prunes the oldest unlabelled version.
	for _, c := range []struct{ versions, max int }{{1, 2}, {100, 100}} {
		b.Run(fmt.Sprintf("versions=%d", c.versions), func(b *testing.B) {
			e := benchStore(b, c.versions, c.max)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.PutSecretValue(ctx, &secretstore.PutSecretValueInput{SecretId: "bench", SecretString: &value1KiB}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetSecretValueParallel reads distinct secrets from all
// goroutines (b.RunParallel: GOMAXPROCS goroutines).
func BenchmarkGetSecretValueParallel(b *testing.B) {
	ctx := context.Background()
	e, err := secretstore.New(membackend.New())
	if err != nil {
		b.Fatal(err)
	}
	const secrets = 64
	for i := range secrets {
		if _, err := e.CreateSecret(ctx, &secretstore.CreateSecretInput{Name: fmt.Sprintf("bench-%d", i), SecretString: &value1KiB}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		in := &secretstore.GetSecretValueInput{SecretId: fmt.Sprintf("bench-%d", next.Add(1)%secrets)}
		for pb.Next() {
			if _, err := e.GetSecretValue(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
