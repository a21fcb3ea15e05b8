//go:build linux

// The benchmarks are Linux-only because the append floor calls
// syscall.Fdatasync, which only Linux has.

package filebackend_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/backend/filebackend"
)

// fxValue1KiB is the 1 KiB string value the benchmarks store.
var fxValue1KiB = strings.Repeat("s", 1024)

// BenchmarkFileFloor measures what the file system itself costs, the floor
// under any durable write of the backend:
//
//   - atomic-replace-1KiB: write a 1 KiB temp file, fsync it, rename it over
//     the target and fsync the directory, as a record write does (the
//     directory is opened once, as the backend keeps it open);
//   - append-fdatasync-1KiB: append 1 KiB to one file and fdatasync it, as
//     a write-ahead log would: the cheapest durable write there is;
//   - overwrite-fdatasync-1KiB: write 1 KiB after the last write in a file
//     written beforehand (zeros, going round it) and fdatasync it, as the
//     backend's log does: an fdatasync that need not write the file's
//     size or block map;
//   - group-commit-8x1KiB: the same from fxBenchWriters (8) goroutines at
//     once, one flush at a time, shared by every write done when it starts
//     (ns/op is per write): how far this machine lets 8 writers of one file
//     outrun one, and the least time per write that
//     BenchmarkFilePutSecretValueParallel could take.
func BenchmarkFileFloor(b *testing.B) {
	data := bytes.Repeat([]byte("f"), 1024)
	b.Run("atomic-replace-1KiB", func(b *testing.B) {
		dir := b.TempDir()
		d, err := os.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		target := filepath.Join(dir, "target")
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := os.CreateTemp(dir, "tmp-*")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(f.Name(), target); err != nil {
				b.Fatal(err)
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append-fdatasync-1KiB", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("overwrite-fdatasync-1KiB", func(b *testing.B) {
		l := newFloorLog(b)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := l.write(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("group-commit-%dx1KiB", fxBenchWriters), func(b *testing.B) {
		l := newFloorLog(b)
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		fxRunWriters(b, func(_ int, pb *testing.PB) error {
			for pb.Next() {
				if err := l.write(data); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// floorLogSize is the size of a floorLog's file, which its writes go round:
// a multiple of the size of every write, so that none is split.
const floorLogSize = 16 << 20

// floorLog is the simplest log with group commit: a write is done under a
// mutex at the next offset of a file written beforehand (zeros, going
// round it: past the first 16 MiB a write lands on an earlier one, which
// changes neither the file's size nor its blocks either), and then waits
// for an fdatasync that started after it; a writer that finds none running
// runs one, for every write done by then.
type floorLog struct {
	f *os.File

	mu       sync.Mutex
	cond     sync.Cond
	written  int64 // bytes written in all
	durable  int64 // bytes written before the last flush that returned
	flushing bool
}

// newFloorLog returns a floorLog over a new file of floorLogSize zeros,
// flushed, so that the writes measured allocate nothing.
func newFloorLog(b *testing.B) *floorLog {
	b.Helper()
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if _, err := f.Write(make([]byte, floorLogSize)); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	l := &floorLog{f: f}
	l.cond.L = &l.mu
	return l
}

// write writes data at the log's next offset and returns once an
// fdatasync that started after the write has returned.
func (l *floorLog) write(data []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteAt(data, l.written%floorLogSize); err != nil {
		return err
	}
	l.written += int64(len(data))
	end := l.written
	for l.durable < end {
		if l.flushing {
			l.cond.Wait()
			continue
		}
		l.flushing = true
		upTo := l.written
		l.mu.Unlock()
		err := syscall.Fdatasync(int(l.f.Fd()))
		l.mu.Lock()
		l.flushing = false
		l.cond.Broadcast()
		if err != nil {
			return err
		}
		l.durable = upTo
	}
	return nil
}

// fxBenchEngine opens a store in a new directory with an engine that keeps
// the default version quota (DefaultMaxVersions) and prunes versions of any
// age (WithPruneAge(0)), so that a secret written in a loop keeps a steady
// number of versions: each PutSecretValue past the quota also deletes the
// oldest version's blob, as in a long-lived store.
func fxBenchEngine(b *testing.B) (*secretstore.Engine, *filebackend.Backend) {
	b.Helper()
	e, be, err := fxOpenEngine(b.TempDir(),
		secretstore.WithMaxVersions(secretstore.DefaultMaxVersions), secretstore.WithPruneAge(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return e, be
}

// fxBenchCreate creates a secret with a 1 KiB value.
func fxBenchCreate(b *testing.B, e *secretstore.Engine, name string) {
	b.Helper()
	if _, err := e.CreateSecret(b.Context(), &secretstore.CreateSecretInput{Name: name, SecretString: &fxValue1KiB}); err != nil {
		b.Fatal(err)
	}
}

// fxBenchSteady brings the secrets of a write benchmark to the steady state
// of a long-lived store before the timer starts: each holds
// DefaultMaxVersions versions, so that every Put prunes one, and the log
// is checkpointed, so that their blobs have files, whose deletions leave
// files for the next checkpoint to take over. A new store instead creates
// a file for each of its first blobs, which on this kind of file system
// costs about 20 times more than reusing one: that is the cost of a store
// growing, which a benchmark of the Puts of a store that no longer grows
// should not include.
func fxBenchSteady(b *testing.B, e *secretstore.Engine, be *filebackend.Backend, names ...string) {
	b.Helper()
	for _, name := range names {
		in := &secretstore.PutSecretValueInput{SecretId: name, SecretString: &fxValue1KiB}
		for range secretstore.DefaultMaxVersions {
			if _, err := e.PutSecretValue(b.Context(), in); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := filebackend.Checkpoint(be); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFilePutSecretValue measures one writer storing 1 KiB values in
// one secret: a blob write, a record compare-and-swap, every 16th write a
// chunk, and past 100 versions the deletion of the oldest version's blob.
func BenchmarkFilePutSecretValue(b *testing.B) {
	e, be := fxBenchEngine(b)
	fxBenchCreate(b, e, "bench/put")
	fxBenchSteady(b, e, be, "bench/put")
	ctx := b.Context()
	in := &secretstore.PutSecretValueInput{SecretId: "bench/put", SecretString: &fxValue1KiB}
	b.ReportAllocs()
	b.SetBytes(int64(len(fxValue1KiB)))
	for b.Loop() {
		if _, err := e.PutSecretValue(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// fxBenchWriters is the number of writers of the 8-writer benchmarks:
// BenchmarkFilePutSecretValueParallel, BenchmarkFileFloor's group commit
// and BenchmarkFileGetSecretValueWhileWriting.
const fxBenchWriters = 8

// BenchmarkFilePutSecretValueParallel is BenchmarkFilePutSecretValue with
// exactly 8 writers, each on its own secret: how well durable writes to
// different secrets overlap.
func BenchmarkFilePutSecretValueParallel(b *testing.B) {
	e, be := fxBenchEngine(b)
	names := fxBenchWriterSecrets(b, e, be)
	ctx := b.Context()
	b.ReportAllocs()
	b.SetBytes(int64(len(fxValue1KiB)))
	fxRunWriters(b, func(i int, pb *testing.PB) error {
		in := &secretstore.PutSecretValueInput{SecretId: names[i], SecretString: &fxValue1KiB}
		for pb.Next() {
			if _, err := e.PutSecretValue(ctx, in); err != nil {
				return err
			}
		}
		return nil
	})
}

// fxBenchWriterSecrets creates a secret for each of the fxBenchWriters
// writers, brings them to the steady state (fxBenchSteady), and returns
// their names.
func fxBenchWriterSecrets(b *testing.B, e *secretstore.Engine, be *filebackend.Backend) []string {
	b.Helper()
	names := make([]string, fxBenchWriters)
	for i := range names {
		names[i] = fmt.Sprintf("bench/put-parallel/%d", i)
		fxBenchCreate(b, e, names[i])
	}
	fxBenchSteady(b, e, be, names...)
	return names
}

// fxRunWriters runs write in exactly fxBenchWriters goroutines with
// b.RunParallel, passing each its number, 0 to fxBenchWriters-1, and
// resets the timer first. RunParallel starts parallelism × GOMAXPROCS
// goroutines, so the parallelism is set to fxBenchWriters/GOMAXPROCS when
// that divides evenly, and otherwise GOMAXPROCS to fxBenchWriters and the
// parallelism to 1; the benchmark fails if another number of goroutines
// ran, or if write returns an error.
func fxRunWriters(b *testing.B, write func(i int, pb *testing.PB) error) {
	b.Helper()
	if p := runtime.GOMAXPROCS(0); fxBenchWriters%p == 0 {
		b.SetParallelism(fxBenchWriters / p)
	} else {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(fxBenchWriters))
		b.SetParallelism(1)
	}
	var goroutines atomic.Int32
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(goroutines.Add(1)) - 1
		if i >= fxBenchWriters {
			b.Errorf("RunParallel started more than %d goroutines", fxBenchWriters)
			return
		}
		if err := write(i, pb); err != nil {
			b.Error(err)
		}
	})
	if n := goroutines.Load(); n != fxBenchWriters {
		b.Fatalf("RunParallel ran %d goroutines, want %d", n, fxBenchWriters)
	}
}

// BenchmarkFileGetSecretValue measures reading the AWSCURRENT 1 KiB value of
// one secret: a record read (which the engine's cache turns into a revision
// check) and a blob read and decryption.
func BenchmarkFileGetSecretValue(b *testing.B) {
	e, _ := fxBenchEngine(b)
	fxBenchCreate(b, e, "bench/get")
	ctx := b.Context()
	in := &secretstore.GetSecretValueInput{SecretId: "bench/get"}
	b.ReportAllocs()
	b.SetBytes(int64(len(fxValue1KiB)))
	for b.Loop() {
		if _, err := e.GetSecretValue(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileGetSecretValueWhileWriting is BenchmarkFileGetSecretValue
// while 8 other goroutines write as BenchmarkFilePutSecretValueParallel
// does: ns/op is the mean read, and the metrics give the median, the 99th
// and 99.9th percentiles and the slowest read, which show how long reads
// wait for the writers' work (lock holds, the scheduler, the collector).
// The writers seal a 16 MiB log about every 5,000 Puts, so a run spans
// seals only with a few seconds of -benchtime. With -benchmem, B/op and
// allocs/op count the writers' allocations too.
func BenchmarkFileGetSecretValueWhileWriting(b *testing.B) {
	e, be := fxBenchEngine(b)
	fxBenchCreate(b, e, "bench/get")
	names := fxBenchWriterSecrets(b, e, be)
	ctx := b.Context()
	stop := make(chan struct{})
	var writers sync.WaitGroup
	defer func() {
		close(stop)
		writers.Wait()
	}()
	for _, name := range names {
		writers.Go(func() {
			in := &secretstore.PutSecretValueInput{SecretId: name, SecretString: &fxValue1KiB}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := e.PutSecretValue(ctx, in); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	in := &secretstore.GetSecretValueInput{SecretId: "bench/get"}
	// Reads counted by whole microseconds, the last bucket for all from
	// one second up: no allocation in the loop.
	hist := make([]int, 1_000_001)
	n := 0
	for b.Loop() {
		start := time.Now()
		if _, err := e.GetSecretValue(ctx, in); err != nil {
			b.Fatal(err)
		}
		hist[min(time.Since(start).Microseconds(), int64(len(hist)-1))]++
		n++
	}
	at := func(q float64) float64 {
		rank := int(q * float64(n-1))
		for us, c := range hist {
			if rank -= c; rank < 0 {
				return float64(us)
			}
		}
		return float64(len(hist) - 1)
	}
	b.ReportMetric(at(0.5), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
	b.ReportMetric(at(0.999), "p99.9-µs")
	b.ReportMetric(at(1), "max-µs")
}

// BenchmarkFileOpen measures opening an existing store and reading one
// secret from it with a new engine, as a process does when it starts: the
// cost should not grow with the number of secrets, since Open reads none.
// The store is written once per run, before the timer starts, by 16
// goroutines through the engine: 10000 secrets take about 6 s on an ext4
// virtual disk, which is why -count=3 takes over 20 s. The writer closes
// the store, which checkpoints its log, as a service that stops does.
func BenchmarkFileOpen(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			ctx := b.Context()
			e, be, err := fxOpenEngine(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			dir := be.Dir()
			start := time.Now()
			fxBenchFill(b, e, n)
			if err := be.Close(); err != nil {
				b.Fatal(err)
			}
			b.Logf("wrote %d secrets in %v", n, time.Since(start).Round(time.Millisecond))
			name := fxBenchOpenName(n / 2)
			b.ReportAllocs()
			for b.Loop() {
				e, be, err := fxOpenEngine(dir)
				if err != nil {
					b.Fatal(err)
				}
				out, err := e.GetSecretValue(ctx, &secretstore.GetSecretValueInput{SecretId: name})
				if err != nil || out.SecretString != fxValue1KiB {
					b.Fatalf("GetSecretValue(%s) = %d bytes, %v", name, len(out.SecretString), err)
				}
				if err := be.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func fxBenchOpenName(i int) string { return fmt.Sprintf("bench/open/%05d", i) }

// fxBenchFill creates n secrets with 1 KiB values, from 16 goroutines.
func fxBenchFill(b *testing.B, e *secretstore.Engine, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if _, err := e.CreateSecret(b.Context(), &secretstore.CreateSecretInput{
					Name: fxBenchOpenName(i), SecretString: &fxValue1KiB,
				}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
