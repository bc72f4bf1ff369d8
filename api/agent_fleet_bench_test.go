package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// BenchmarkAgentFleet is a fleet of pull agents against the API over real TLS on PostgreSQL:
// N agents (default 1,000), each with its own credential and its own TLS connection, long-poll
// GET /api/v1/agent/jobs/next as the agent does (wait 20 s; the first poll of each agent waits
// a random part of that, so that polls are spread as in a fleet that started over time). The
// API process relays notifications and writes the agents' last contact as otpatch server does.
//
// It measures the database load while the agents are idle, at 10, 100 and N agents: the SQL
// statements the API process sends per second (counted in the store's gorm callbacks, with the
// commonest named) and the transactions PostgreSQL counts per second for the database
// (pg_stat_database, xact_commit + xact_rollback), each over OTPATCH_BENCH_IDLE seconds
// (default 60: three long polls of each agent, and the minute after which a token's last use
// is written again). Then a second store on the same database — a worker process, as far as
// notifications go — queues deploy jobs for random agents at OTPATCH_BENCH_JOB_RATE a second
// (default 20) until OTPATCH_BENCH_JOBS are queued (default 400), and it measures pickup
// latency, from the call that queues a job to its agent reading it, as p50, p99 and max. Each
// agent reports its job done. Never in CI (docs/benchmarks.md):
//
//	export OTPATCH_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go test ./api/ -run '^$' -bench AgentFleet -benchtime 1x -timeout 30m
//
// OTPATCH_BENCH_AGENTS changes N.
func BenchmarkAgentFleet(b *testing.B) {
	n := testenv.EnvInt("OTPATCH_BENCH_AGENTS", 1000)
	idle := time.Duration(testenv.EnvInt("OTPATCH_BENCH_IDLE", 60)) * time.Second
	rate, count := testenv.EnvInt("OTPATCH_BENCH_JOB_RATE", 20), testenv.EnvInt("OTPATCH_BENCH_JOBS", 400)
	for range b.N {
		benchAgentFleet(b, n, idle, rate, count)
	}
}

func benchAgentFleet(b *testing.B, n int, idle time.Duration, rate, count int) {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := testenv.PostgresDSN(b)
	f := newAgentFleet(b, dsn, n)
	go f.st.RunAgentLiveness(ctx)
	// The worker process that queues the jobs.
	worker, err := store.Open(dsn, store.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { worker.Close() })

	var (
		queuedAt sync.Map // job ID → time.Time
		received = make(chan time.Duration, count)
		agents   sync.WaitGroup
	)
	actx, stopAgents := context.WithCancel(ctx)
	defer func() { stopAgents(); agents.Wait() }()
	started := 0
	startAgents := func(upTo int) {
		for ; started < upTo; started++ {
			a := benchAgent{fleet: f, token: f.agents[started].token, first: time.Duration(1+rand.IntN(20)) * time.Second,
				queuedAt: &queuedAt, received: received}
			agents.Add(1)
			go func() {
				defer agents.Done()
				a.run(actx)
			}()
		}
	}

	type idleFigure struct {
		agents                   int
		statementsPerS, xactPerS float64
		top                      []string
	}
	var figures []idleFigure
	for _, size := range slices.Compact(slices.DeleteFunc([]int{10, 100, n}, func(s int) bool { return s > n })) {
		startAgents(size)
		waitUntil(b, 2*time.Minute, fmt.Sprintf("%d agents in their long polls", size), func() bool { return f.polling.Load() == int64(size) })
		// The first polls' random waits end and their agents ask again before the count starts.
		time.Sleep(20 * time.Second)
		s0, x0, t0 := f.log.Len(), xacts(b, f.st), time.Now()
		time.Sleep(idle)
		s1, x1 := f.log.Len(), xacts(b, f.st)
		d := time.Since(t0).Seconds()
		fig := idleFigure{agents: size, statementsPerS: float64(s1-s0) / d, xactPerS: float64(x1-x0) / d,
			top: commonest(f.log.Since(s0, func(string) bool { return true }), 4)}
		figures = append(figures, fig)
		b.ReportMetric(fig.statementsPerS, fmt.Sprintf("stmt/s@%didle", size))
		b.ReportMetric(fig.xactPerS, fmt.Sprintf("xact/s@%didle", size))
	}

	// Pickup latency: jobs for random agents at a steady rate.
	b.StartTimer()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := range count {
		<-tick.C
		j := store.AgentJob{ID: store.NewID("job"), AssetID: f.agents[rand.IntN(n)].assetID, Op: store.AgentOpDeploy,
			IdempotencyKey: fmt.Sprintf("bench/%d", i), Payload: "{}", Signature: "bench"}
		queuedAt.Store(j.ID, time.Now())
		if err := worker.CreateAgentJob(ctx, &j, store.Event{Actor: "otpatch", Role: "system", Action: "agent.job_queued"}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	lat := make([]time.Duration, 0, count)
	timeout := time.After(2 * time.Minute)
	for len(lat) < count {
		select {
		case d := <-received:
			lat = append(lat, d)
		case <-timeout:
			b.Fatalf("%d of %d jobs were picked up within 2 minutes", len(lat), count)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	for _, fig := range figures {
		b.Logf("%5d idle agents: %7.1f statements/s from the API process, %7.1f transactions/s in PostgreSQL; commonest: %s",
			fig.agents, fig.statementsPerS, fig.xactPerS, strings.Join(fig.top, "; "))
	}
	b.Logf("pickup of %d jobs (%d/s) with %d agents: p50 %v, p99 %v, max %v", count, rate, n, pct(0.50), pct(0.99), lat[len(lat)-1])
}

// benchAgent long-polls as the agent does and reports each job done at once.
type benchAgent struct {
	fleet    *agentFleet
	token    string
	first    time.Duration // the first poll's wait
	queuedAt *sync.Map
	received chan<- time.Duration
}

func (a benchAgent) run(ctx context.Context) {
	tr := a.fleet.client.Transport.(*http.Transport).Clone() // its own TLS connection
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	wait := a.first
	for ctx.Err() == nil {
		env, ok, err := a.next(ctx, hc, wait)
		wait = 20 * time.Second
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(time.Second) // as the agent backs off
			}
			continue
		}
		if !ok {
			continue
		}
		if t, found := a.queuedAt.Load(env.ID); found {
			a.received <- time.Since(t.(time.Time))
		}
		body, _ := json.Marshal(jobs.Result{Attempt: 1, OK: true})
		req, err := http.NewRequestWithContext(ctx, "POST", a.fleet.srv.URL+"/api/v1/agent/jobs/"+env.ID+"/result", bytes.NewReader(body))
		if err != nil {
			continue
		}
		req.Header.Set("Authorization", "Bearer "+a.token)
		req.Header.Set("Content-Type", "application/json")
		if res, err := hc.Do(req); err == nil {
			res.Body.Close()
		}
	}
}

func (a benchAgent) next(ctx context.Context, hc *http.Client, wait time.Duration) (jobs.Envelope, bool, error) {
	var env jobs.Envelope
	res, err := a.fleet.poll(ctx, hc, a.token, wait.String())
	if err != nil {
		return env, false, err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		return env, true, json.NewDecoder(res.Body).Decode(&env)
	case http.StatusNoContent:
		return env, false, nil
	default:
		return env, false, fmt.Errorf("poll answered %d", res.StatusCode)
	}
}

// commonest names the k statements sent most often, with how often.
func commonest(sql []string, k int) []string {
	n := map[string]int{}
	for _, q := range sql {
		q = strings.Join(strings.Fields(q), " ")
		n[q[:min(len(q), 70)]]++
	}
	keys := slices.SortedFunc(maps.Keys(n), func(a, b string) int { return n[b] - n[a] })
	out := make([]string, 0, k)
	for _, q := range keys[:min(k, len(keys))] {
		out = append(out, fmt.Sprintf("%d× %s", n[q], q))
	}
	return out
}

// xacts is what PostgreSQL counted of the store's database's transactions so far. A backend
// reports its counts when it goes idle, at most once a second; the difference over a long
// period is what matters.
func xacts(b *testing.B, st *store.Store) int64 {
	var n int64
	if err := st.DB().Raw(`SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n).Error; err != nil {
		b.Fatal(err)
	}
	return n
}

// waitUntil polls cond until it holds, failing b after limit.
func waitUntil(b *testing.B, limit time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
