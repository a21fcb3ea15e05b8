package secretstore_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
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
	ctx := context.Background()
	clock := secretstore.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := secretstore.New(membackend.New(), secretstore.WithClock(clock),
		secretstore.WithMaxVersions(maxVersions), secretstore.WithPruneAge(0))
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
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("versions=%d", n), func(b *testing.B) {
			e := benchStore(b, n, 100)
			ctx := context.Background()
			in := &secretstore.GetSecretValueInput{SecretId: "bench"}
			b.ReportAllocs()
			for b.Loop() {
				out, err := e.GetSecretValue(ctx, in)
				if err != nil || len(out.SecretString) != len(value1KiB) {
					b.Fatal(err)
				}
			}
		})
	}
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
