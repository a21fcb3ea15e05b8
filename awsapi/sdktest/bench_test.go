package sdktest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

const (
	benchSecrets   = 64   // secrets created before timing starts
	benchValueSize = 1024 // bytes in each SecretString
	benchMixPeriod = 5    // one Put followed by four Gets
)

// benchValue is the 1 KiB SecretString used for every create and put.
var benchValue = strings.Repeat("x", benchValueSize)

// benchSetup serves a fresh in-memory awsapi Handler over loopback and
// returns a real SDK client for it (or, if canned, for a cannedHandler
// over it) together with the names of benchSecrets pre-created secrets.
// Prune age 0 lets a Put drop old unlabelled versions at once, so the
// version quota never fails a Put.
func benchSetup(b *testing.B, canned bool) (*secretsmanager.Client, []string) {
	b.Helper()
	h, err := awsapi.NewHandler(membackend.New(),
		awsapi.WithEngineOptions(secretstore.WithPruneAge(0)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	c := newClient(srv, "us-east-1")

	names := make([]string, benchSecrets)
	for i := range names {
		names[i] = fmt.Sprintf("bench/secret-%02d", i)
		if _, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
			Name:         aws.String(names[i]),
			SecretString: aws.String(benchValue),
		}); err != nil {
			b.Fatal(err)
		}
	}
	if canned {
		srv := httptest.NewServer(cannedHandler(b, h, names[0]))
		b.Cleanup(srv.Close)
		c = newClient(srv, "us-east-1")
	}
	return c, names
}

// benchOp performs the i-th operation of the mix on one of names: every
// benchMixPeriod-th operation is a PutSecretValue, the rest are
// GetSecretValue calls.
func benchOp(ctx context.Context, c *secretsmanager.Client, names []string, i int) error {
	id := aws.String(names[i%len(names)])
	if i%benchMixPeriod == 0 {
		_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:     id,
			SecretString: aws.String(benchValue),
		})
		return err
	}
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id})
	if err == nil && len(aws.ToString(out.SecretString)) != benchValueSize {
		err = fmt.Errorf("GetSecretValue %s: got %d bytes, want %d",
			*id, len(aws.ToString(out.SecretString)), benchValueSize)
	}
	return err
}

// benchSubset returns the share of names that client k of n works on.
func benchSubset(names []string, k, n int) []string {
	return names[k*len(names)/n : (k+1)*len(names)/n]
}

// BenchmarkEndpoint measures end-to-end throughput of the awsapi HTTP
// endpoint driven by the real aws-sdk-go-v2 client (issue 4): a 1:4 mix
// of PutSecretValue and GetSecretValue with 1 KiB values over 64 secrets.
func BenchmarkEndpoint(b *testing.B) {
	b.Run("clients=1", func(b *testing.B) { benchEndpoint(b, 1, false) })
	b.Run("clients=8", func(b *testing.B) { benchEndpoint(b, 8, false) })
}

// BenchmarkSDKFloor runs BenchmarkEndpoint's SDK mix against a server that
// answers with canned responses (captured from awsapi) instead of awsapi,
// so it measures what the SDK client and net/http, both sides, cost on
// their own: the floor under BenchmarkEndpoint that no change to awsapi or
// the engine can go below.
func BenchmarkSDKFloor(b *testing.B) {
	b.Run("clients=1", func(b *testing.B) { benchEndpoint(b, 1, true) })
	b.Run("clients=8", func(b *testing.B) { benchEndpoint(b, 8, true) })
}

func benchEndpoint(b *testing.B, clients int, canned bool) {
	procs := runtime.GOMAXPROCS(0)
	if clients > 1 && (procs > clients || clients%procs != 0) {
		b.Skipf("GOMAXPROCS=%d does not divide %d clients", procs, clients)
	}
	c, names := benchSetup(b, canned)
	ctx := context.Background()
	if clients == 1 {
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			if err := benchOp(ctx, c, names, i); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportThroughput(b, cpu0)
		return
	}
	var next atomic.Int32
	b.SetParallelism(clients / procs) // RunParallel starts parallelism*GOMAXPROCS goroutines
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		k := int(next.Add(1)) - 1
		mine := benchSubset(names, k%clients, clients)
		for i := 0; pb.Next(); i++ {
			if err := benchOp(ctx, c, mine, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if got := next.Load(); got != int32(clients) {
		b.Fatalf("RunParallel ran %d goroutines, want %d", got, clients)
	}
	reportThroughput(b, cpu0)
}

// cannedHandler answers GetSecretValue and PutSecretValue requests with
// the responses h gave to one of each on secret name, after reading the
// request body.
func cannedHandler(b *testing.B, h http.Handler, name string) http.Handler {
	b.Helper()
	responses := map[string][]byte{}
	for op, body := range map[string]string{
		"GetSecretValue": fmt.Sprintf(`{"SecretId":%q}`, name),
		"PutSecretValue": fmt.Sprintf(`{"SecretId":%q,"SecretString":%q}`, name, benchValue),
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", op, rec.Code, rec.Body)
		}
		responses["secretsmanager."+op] = rec.Body.Bytes()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body := responses[r.Header.Get("X-Amz-Target")]
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-RequestId", "e6232ce9-bb6f-412e-8766-a7d368ec9ac4")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
}

// reportThroughput reports ops/s and, where the process CPU time is known,
// the CPU time the whole process (SDK clients, server, GC) spent per
// operation since cpu0. It depends less than ops/s on what else the
// machine runs (though a busy machine still inflates it), and 1e6 × cores /
// cpu-µs/op estimates what the same process could reach with the cores to
// itself.
func reportThroughput(b *testing.B, cpu0 float64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if cpu0 > 0 {
		b.ReportMetric((processCPU()-cpu0)*1e6/float64(b.N), "cpu-µs/op")
	}
}
