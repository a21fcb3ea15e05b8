package awsapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/secretstore/secretstore"
	"github.com/secretstore/secretstore/awsapi"
	"github.com/secretstore/secretstore/backend/membackend"
)

// Server-side benchmarks of the endpoint, without the SDK: the same
// workload as awsapi/sdktest's BenchmarkEndpoint (1 PutSecretValue : 4
// GetSecretValue, 1 KiB values, 64 secrets, membackend), with requests
// that carry the headers aws-sdk-go-v2 sends. The handler has no
// WithCredentials, as in BenchmarkEndpoint, so signatures are not checked
// (the Authorization header is only read for its region).

const (
	benchSecrets   = 64
	benchValueSize = 1024
	benchMixPeriod = 5 // one Put followed by four Gets
)

var benchValue = strings.Repeat("x", benchValueSize)

// benchHeaders are the headers aws-sdk-go-v2 sends with every request,
// apart from X-Amz-Target and Content-Length.
var benchHeaders = [][2]string{
	{"Accept-Encoding", "gzip"},
	{"Amz-Sdk-Invocation-Id", "e6232ce9-bb6f-412e-8766-a7d368ec9ac4"},
	{"Amz-Sdk-Request", "attempt=1; max=1"},
	{"Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/secretsmanager/aws4_request, SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-target, Signature=93da24346c927ccf571dc6e1e872b978d2f602aa0ec89aec72a3938167e9a20c"},
	{"Content-Type", "application/x-amz-json-1.1"},
	{"User-Agent", "aws-sdk-go-v2/1.47.7 ua/2.1 os/linux lang/go#1.26.8 md/GOOS#linux md/GOARCH#amd64 api/secretsmanager#1.50.10 m/e"},
	{"X-Amz-Date", "20261122T070335Z"},
}

// benchHandler returns a fresh handler over membackend with benchSecrets
// secrets already created, and their names.
func benchHandler(b *testing.B) (*awsapi.Handler, []string) {
	b.Helper()
	h, err := awsapi.NewHandler(membackend.New(),
		awsapi.WithEngineOptions(secretstore.WithPruneAge(0)))
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, benchSecrets)
	for i := range names {
		names[i] = fmt.Sprintf("bench/secret-%02d", i)
		body := fmt.Sprintf(`{"Name":%q,"SecretString":%q}`, names[i], benchValue)
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("CreateSecret %s: %d %s", names[i], rec.Code, rec.Body)
		}
	}
	return h, names
}

// benchBodies holds the request bodies of one client. The Put bodies get a
// fresh ClientRequestToken for every request, as the SDK generates one, so
// that each Put creates a version instead of replaying the previous one.
type benchBodies struct {
	gets [][]byte // GetSecretValue body per secret
	puts [][]byte // PutSecretValue body per secret
	tok  []int    // offset of the token in each Put body
	seq  uint64
}

const benchTokenTemplate = "00000000-0000-4000-8000-000000000000"

func newBenchBodies(names []string, client int) *benchBodies {
	bb := &benchBodies{}
	for _, n := range names {
		bb.gets = append(bb.gets, fmt.Appendf(nil, `{"SecretId":%q}`, n))
		put := fmt.Appendf(nil, `{"ClientRequestToken":"%s","SecretId":%q,"SecretString":%q}`, benchTokenTemplate, n, benchValue)
		bb.puts = append(bb.puts, put)
		bb.tok = append(bb.tok, len(`{"ClientRequestToken":"`))
	}
	bb.seq = uint64(client) << 48
	return bb
}

// body returns the target and body of the i-th operation of the mix,
// on names[i%len(names)].
func (bb *benchBodies) body(i int) (target string, body []byte) {
	k := i % len(bb.gets)
	if i%benchMixPeriod != 0 {
		return "secretsmanager.GetSecretValue", bb.gets[k]
	}
	bb.seq++
	put := bb.puts[k]
	tok := put[bb.tok[k] : bb.tok[k]+len(benchTokenTemplate)]
	// The last 12 hex digits and the 4 before them carry the sequence.
	const hexdigits = "0123456789abcdef"
	s := bb.seq
	for j := len(tok) - 1; j >= 0 && s != 0; j-- {
		if tok[j] == '-' {
			continue
		}
		if j == 19 || j == 14 { // keep the UUID version and variant digits
			continue
		}
		tok[j] = hexdigits[s&15]
		s >>= 4
	}
	return "secretsmanager.PutSecretValue", put
}

// discardWriter is a reusable http.ResponseWriter that keeps only the
// status and the body length, so that BenchmarkHandler counts the
// handler's allocations, not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkHandler measures the handler alone: ServeHTTP on prebuilt
// requests (SDK headers, the bench mix), without network, net/http server
// or client. It is the awsapi + engine cost of one operation.
func BenchmarkHandler(b *testing.B) {
	h, names := benchHandler(b)
	bb := newBenchBodies(names, 0)
	body := bytes.NewReader(nil)
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	for _, kv := range benchHeaders {
		req.Header.Set(kv[0], kv[1])
	}
	req.Body = io.NopCloser(body)
	targets := map[string][]string{} // prebuilt header values: Set would allocate
	for _, op := range []string{"GetSecretValue", "PutSecretValue"} {
		targets["secretsmanager."+op] = []string{"secretsmanager." + op}
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		target, p := bb.body(i)
		req.Header["X-Amz-Target"] = targets[target]
		req.ContentLength = int64(len(p))
		body.Reset(p)
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n < 100 {
			b.Fatalf("%s: status %d, %d bytes", target, w.status, w.n)
		}
	}
	b.StopTimer()
	reportThroughput(b, cpu0)
}

// reportThroughput reports ops/s and, where the process CPU time is known,
// the CPU time the whole process (clients, server, GC) spent per operation
// since cpu0. It depends less than ops/s on what else the machine runs
// (though a busy machine still inflates it), and 1e6 × cores / cpu-µs/op
// estimates what the same process could reach with the cores to itself.
func reportThroughput(b *testing.B, cpu0 float64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if cpu0 > 0 {
		b.ReportMetric((processCPU()-cpu0)*1e6/float64(b.N), "cpu-µs/op")
	}
}

// BenchmarkServer measures the handler behind net/http over loopback
// (httptest.NewServer, keep-alive), driven by a minimal HTTP/1.1 load
// generator in the style of wrk: each client owns one connection, writes
// the bytes an SDK request would have (without computing a signature) and
// reads the response with a small parser. Its client costs a small fraction
// of the SDK's, so ops/s approaches what the server can do on the CPUs
// left to it; B/op and allocs/op are the server's plus the generator's
// few.
func BenchmarkServer(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchServer(b, clients)
		})
	}
}

func benchServer(b *testing.B, clients int) {
	procs := runtime.GOMAXPROCS(0)
	if clients > 1 && (procs > clients || clients%procs != 0) {
		b.Skipf("GOMAXPROCS=%d does not divide %d clients", procs, clients)
	}
	h, names := benchHandler(b)
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	if clients == 1 {
		c, err := newRawClient(addr, names, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer c.conn.Close()
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			if err := c.do(i); err != nil {
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
		c, err := newRawClient(addr, names[k*len(names)/clients:(k+1)*len(names)/clients], k)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.conn.Close()
		for i := 0; pb.Next(); i++ {
			if err := c.do(i); err != nil {
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

// rawClient is one keep-alive connection of BenchmarkServer.
type rawClient struct {
	conn   net.Conn
	r      *bufio.Reader
	bodies *benchBodies
	head   []byte // request line and fixed headers
	buf    []byte
}

func newRawClient(addr string, names []string, k int) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	head := []byte("POST / HTTP/1.1\r\nHost: " + addr + "\r\n")
	for _, kv := range benchHeaders {
		head = append(head, kv[0]+": "+kv[1]+"\r\n"...)
	}
	return &rawClient{conn: conn, r: bufio.NewReaderSize(conn, 8192), bodies: newBenchBodies(names, k), head: head}, nil
}

// do sends the i-th request of the mix and reads its response, checking
// that it is a 200 with a body.
func (c *rawClient) do(i int) error {
	target, body := c.bodies.body(i)
	c.buf = append(c.buf[:0], c.head...)
	c.buf = append(c.buf, "X-Amz-Target: "...)
	c.buf = append(c.buf, target...)
	c.buf = append(c.buf, "\r\nContent-Length: "...)
	c.buf = strconv.AppendInt(c.buf, int64(len(body)), 10)
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, body...)
	if _, err := c.conn.Write(c.buf); err != nil {
		return err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("%s: %q", target, status)
	}
	n := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return err
			}
		}
	}
	if n < 100 {
		return fmt.Errorf("%s: Content-Length %d", target, n)
	}
	_, err = c.r.Discard(n)
	return err
}
