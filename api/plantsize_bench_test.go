package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/testenv"
)

// BenchmarkPlantSize serves a plant-sized database and measures the read endpoints under load
// with wrk (docs/benchmarks.md, "The API at plant size"). CI never runs it:
//
//	export OTPATCH_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go test ./api -run '^$' -bench PlantSize -benchtime 1x -timeout 1h
//
// It seeds a fresh PostgreSQL database with the demo plant plus 10,000 production assets,
// 1,000 campaigns (999 ended ones of 10 assets, and one deploying campaign of all 10,000) and
// 1,000,000 audit events, starts the API on it, and runs `wrk -c64 -d30s` against /healthz
// and each endpoint, printing p50, p99, requests/s, errors, the p99's ratio to /healthz's and
// the CPU time the server and PostgreSQL (when it runs on this machine) spent per request: on
// a machine shared with other work the latencies follow its load, the CPU per request less so.
//
//	OTPATCH_BENCH_DURATION    wrk's -d (default 30s)
//	OTPATCH_BENCH_CONNECTIONS wrk's -c (default 64)
//	OTPATCH_BENCH_TIMEOUT     wrk's --timeout (default 2s): slower answers count as errors
//	OTPATCH_BENCH_TARGETS     a regular expression: only the targets whose name matches
//	OTPATCH_BENCH_PROFILE     a directory: a CPU profile of the server per target
//	OTPATCH_BENCH_PLANT_DB    a database name on the server: kept, and seeded on first use only
func BenchmarkPlantSize(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk is not installed (Debian: apt-get install wrk)")
	}
	ctx := context.Background()
	dsn, dir := plantDatabase(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(dsn, store.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	plant := seedPlant(b, st, dsn, dir)

	h := api.New(api.Deps{Store: st, Logger: log, Limits: api.Limits{AuthFailures: 1 << 20, Writes: 1 << 20}})
	busy := &inflight{}
	busy.idle = sync.NewCond(&busy.mu)
	srv := httptest.NewServer(busy.wrap(h))
	b.Cleanup(srv.Close)
	token := plant.tokens.Engineer

	type target struct{ name, path string }
	targets := []target{{"healthz", "/healthz"}}
	add := func(name, path string) { targets = append(targets, target{name, path}) }
	add("assets, first page", "/api/v1/assets")
	add("assets, page at 9,000", "/api/v1/assets?after="+url.QueryEscape(cursorAt(b, srv.URL+"/api/v1/assets", token, 9000)))
	add("campaigns, first page", "/api/v1/campaigns")
	add("campaigns, page at 900", "/api/v1/campaigns?after="+url.QueryEscape(cursorAt(b, srv.URL+"/api/v1/campaigns", token, 900)))
	add("audit events, first page", "/api/v1/audit/events")
	add("audit events, page at 900,000", "/api/v1/audit/events?after_seq=900000")
	add("campaign of 10,000, detail", "/api/v1/campaigns/"+plant.big)
	assetsOf := "/api/v1/campaigns/" + plant.big + "/assets"
	if benchStatus(b, srv.URL+assetsOf, token) == http.StatusOK {
		add("campaign of 10,000, assets first page", assetsOf)
		add("campaign of 10,000, assets page at 9,000", assetsOf+"?after="+url.QueryEscape(cursorAt(b, srv.URL+assetsOf, token, 9000)))
	} else {
		b.Logf("%s is not served: its rows are left out", assetsOf)
	}
	add("one asset", "/api/v1/assets/"+plant.asset)

	if re := os.Getenv("OTPATCH_BENCH_TARGETS"); re != "" {
		keep := regexp.MustCompile(re)
		var kept []target
		for _, t := range targets {
			if t.name == "healthz" || keep.MatchString(t.name) {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	for _, t := range targets {
		var body json.RawMessage
		if code := benchGet(b, srv.URL+t.path, token, &body); code != http.StatusOK {
			b.Fatalf("GET %s answers %d before the load", t.path, code)
		}
		b.Logf("%-42s answers %d bytes", t.name, len(body))
	}
	duration, conns := benchEnv("OTPATCH_BENCH_DURATION", "30s"), benchEnv("OTPATCH_BENCH_CONNECTIONS", "64")
	profiles := os.Getenv("OTPATCH_BENCH_PROFILE")
	postmaster := postgresServer(b, dsn)
	b.ResetTimer()
	var rows []wrkResult
	for _, t := range targets {
		// Requests wrk gave up on (its timeout) may still run: the next target starts on an
		// idle server.
		busy.wait()
		if profiles != "" {
			f, err := os.Create(filepath.Join(profiles, regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(t.name, "-")+".pprof"))
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
		}
		server, database := serverCPU(), postgresCPU(postmaster)
		r := runWrk(b, wrk, t.name, srv.URL+t.path, token, duration, conns)
		busy.wait()
		if n := time.Duration(max(r.requests, 1)); postmaster > 0 {
			r.serverCPU, r.databaseCPU = (serverCPU()-server)/n, (postgresCPU(postmaster)-database)/n
		}
		if profiles != "" {
			pprof.StopCPUProfile()
		}
		rows = append(rows, r)
	}
	b.StopTimer()
	var out strings.Builder
	fmt.Fprintf(&out, "wrk -t2 -c%s -d%s, bearer token of an engineer; CPU per request: the server's and all of PostgreSQL's\n\n", conns, duration)
	out.WriteString("| endpoint | p50 | p99 | requests/s | errors | p99 / healthz p99 | server CPU / request | PostgreSQL CPU / request |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		cpu := fmt.Sprintf("%s | %s", micros(r.serverCPU), micros(r.databaseCPU))
		if r.p99 == 0 || r.errors >= r.requests {
			fmt.Fprintf(&out, "| %s | none answered within wrk's timeout | | 0 | %d | | %s |\n", r.name, r.errors, cpu)
			continue
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %.0f | %d | %.1f | %s |\n", r.name, millis(r.p50), millis(r.p99), r.rps, r.errors, float64(r.p99)/float64(rows[0].p99), cpu)
	}
	fmt.Print("\n" + out.String())
}

// serverCPU is the CPU time this process (the server; wrk is another) has used.
func serverCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresServer is the process id of the PostgreSQL server dsn reaches, when it runs on this
// machine and its processes can be read (0 otherwise).
func postgresServer(b *testing.B, dsn string) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	return parentOf(backend)
}

func parentOf(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// postgresCPU is the CPU time the PostgreSQL server has used: its own, its ended backends'
// and its running backends'. It counts every database of that server.
func postgresCPU(postmaster int) time.Duration {
	if postmaster == 0 {
		return 0
	}
	total := procTicks(postmaster, true)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && parentOf(pid) == postmaster {
			total += procTicks(pid, false)
		}
	}
	return time.Duration(total) * 10 * time.Millisecond // clock ticks of 1/100 s
}

// procTicks reads a process's user and system time, with its waited-for children's when asked.
func procTicks(pid int, children bool) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest) // f[0] is the state (field 3): utime is field 14
	if len(f) < 15 {
		return 0
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	t := n(11) + n(12)
	if children {
		t += n(13) + n(14)
	}
	return t
}

// inflight counts the requests the server is answering.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle *sync.Cond
}

func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.n++
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			if f.n--; f.n == 0 {
				f.idle.Broadcast()
			}
			f.mu.Unlock()
		}()
		h.ServeHTTP(w, r)
	})
}

// wait returns once no request is being answered.
func (f *inflight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.n > 0 {
		f.idle.Wait()
	}
}

// plantDatabase is the database the benchmark seeds: a fresh one dropped at the end, or the
// kept one OTPATCH_BENCH_PLANT_DB names. dir keeps the demo's tokens beside a kept database.
func plantDatabase(b *testing.B) (dsn, dir string) {
	b.Helper()
	name := os.Getenv("OTPATCH_BENCH_PLANT_DB")
	if name == "" {
		return testenv.PostgresDSN(b), b.TempDir()
	}
	base := os.Getenv(testenv.EnvPostgres)
	if base == "" {
		b.Skip("set " + testenv.EnvPostgres + " to run on PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		b.Fatal(err)
	}
	if n == 0 {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + name
	dir = filepath.Join(os.TempDir(), "otpatch-bench-"+name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	return u.String(), dir
}

// plantSeed is what the benchmark reads of the seeded plant.
type plantSeed struct {
	tokens demo.Tokens
	big    string // the campaign of 10,000 assets
	asset  string // one of its assets
}

const (
	plantAssets    = 10_000
	plantCampaigns = 1_000
	plantSmall     = 10 // assets of each of the other campaigns
	plantEvents    = 1_000_000
	plantBigName   = "Plant-wide HMI fix"
)

// seedPlant seeds st, unless it holds the plant already (a kept database).
func seedPlant(b *testing.B, st *store.Store, dsn, dir string) plantSeed {
	b.Helper()
	ctx := context.Background()
	var big []store.Campaign
	if err := st.DB().Where("name = ?", plantBigName).Find(&big).Error; err != nil {
		b.Fatal(err)
	}
	if len(big) == 1 {
		tokens, err := demo.LoadTokens(dir)
		if err != nil {
			b.Fatalf("the kept database holds the plant but its tokens are not in %s: %v; drop the database to seed it again", dir, err)
		}
		return plantSeed{tokens: tokens, big: big[0].ID, asset: "ast_plant-hmi-05000"}
	}
	start := time.Now()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	tokens, err := demo.Seed(ctx, st, simulator.New(st.DB(), 0, nil), dir)
	must(err)
	ev := func(action string) store.Event {
		return store.Event{Actor: "bench-seed", Role: "system", Action: action}
	}
	seed := newCampaignSeed(b, st)
	as := seed.hmis(b, "plant-hmi", plantAssets)
	// 999 campaigns of 10 assets that ended, then the campaign of all 10,000, deploying: its
	// first waves partly done.
	for i := range plantCampaigns - 1 {
		first := (i * plantSmall) % plantAssets
		c, _ := seed.campaign(b, fmt.Sprintf("HMI fix, batch %03d", i), as[first:first+plantSmall], nil)
		must(st.SetCampaignStatus(ctx, c.ID, domain.CampaignCompleted, "", ev("campaign.completed")))
	}
	must(st.DB().Exec(`UPDATE campaign_assets SET state = ? WHERE campaign_id IN (SELECT id FROM campaigns WHERE status = ?)`,
		domain.AssetDone, domain.CampaignCompleted).Error)
	c, _ := seed.campaign(b, plantBigName, as, func(i int, ca *store.CampaignAsset) {
		switch {
		case i < 3000:
			ca.State = string(domain.AssetDone)
		case i < 3040:
			ca.State = string(domain.AssetDeploying)
		case i < 3050:
			ca.State = string(domain.AssetRolledBack)
		}
	})
	for _, s := range []domain.CampaignStatus{domain.CampaignApproved, domain.CampaignDeploying} {
		must(st.SetCampaignStatus(ctx, c.ID, s, "", ev("campaign."+string(s))))
	}
	b.Logf("seeded %d assets and %d campaigns in %s", plantAssets, plantCampaigns, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	copyEvents(b, dsn, plantEvents)
	b.Logf("wrote %d audit events in %s", plantEvents, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	_, err = st.Migrate(ctx) // adds the events to the Merkle tree, as a start after an upgrade does
	must(err)
	must(st.DB().Exec(`VACUUM ANALYZE`).Error) // as autovacuum leaves a database at rest
	b.Logf("added them to the audit tree and vacuumed in %s", time.Since(start).Round(time.Millisecond))
	return plantSeed{tokens: tokens, big: c.ID, asset: "ast_plant-hmi-05000"}
}

// copyEvents appends n chained audit events after the trail's head with COPY and moves the
// head to the last: a year of a plant's deployments, sign-ins and reviews.
func copyEvents(b *testing.B, dsn string, n int64) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var head int64
	var hash string
	if err := conn.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head, &hash); err != nil {
		b.Fatal(err)
	}
	from := time.Now().AddDate(-1, 0, 0)
	actions := []string{"asset.state", "campaign.created", "campaign.approved", "session.created", "patch.submitted", "asset.updated"}
	cols := []string{"seq", "at", "actor", "role", "action", "subject_type", "subject_id", "campaign_id", "patch_id", "asset_id", "request_id", "workflow_id", "details", "prev_hash", "hash"}
	var i int64
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		asset := fmt.Sprintf("ast_plant-hmi-%05d", (i*13)%plantAssets)
		e := audit.Event{At: audit.FormatTime(from.Add(time.Duration(i) * 31 * time.Second)), Actor: fmt.Sprintf("worker-%02d", i%20), Role: "system",
			Action: actions[i%int64(len(actions))], SubjectType: "asset", SubjectID: asset, AssetID: asset, RequestID: fmt.Sprintf("req-%d", i),
			Details: fmt.Sprintf(`{"n":%d,"state":"deploying"}`, i)}
		i++
		e.Seal(head, hash)
		head, hash = e.Seq, e.Hash
		return []any{e.Seq, e.At, e.Actor, e.Role, e.Action, e.SubjectType, e.SubjectID, e.CampaignID, e.PatchID, e.AssetID, e.RequestID, e.WorkflowID, e.Details, e.PrevHash, e.Hash}, nil
	}))
	if err != nil || copied != n {
		b.Fatalf("COPY audit_events: %d rows, %v", copied, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, head, hash); err != nil {
		b.Fatal(err)
	}
}

// cursorAt reads the collection at u in pages of up to 1,000 until n items are behind, and
// returns the cursor of the page that follows them.
func cursorAt(b *testing.B, u, token string, n int) string {
	b.Helper()
	after := ""
	for seen := 0; seen < n; {
		q := url.Values{"limit": {strconv.Itoa(min(1000, n-seen))}}
		if after != "" {
			q.Set("after", after)
		}
		var pg struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		if code := benchGet(b, u+"?"+q.Encode(), token, &pg); code != http.StatusOK || pg.Next == "" {
			b.Fatalf("GET %s: %d, next %q after %d items; want a page after %d", u, code, pg.Next, seen, n)
		}
		seen += len(pg.Items)
		after = pg.Next
	}
	return after
}

func benchGet(b *testing.B, u, token string, out any) int {
	b.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			b.Fatalf("GET %s: %v", u, err)
		}
	}
	return res.StatusCode
}

func benchStatus(b *testing.B, u, token string) int { return benchGet(b, u, token, nil) }

// wrkResult is one target's figures; serverCPU and databaseCPU are the CPU time the server
// and PostgreSQL spent per request (0: not known).
type wrkResult struct {
	name                   string
	p50, p99               time.Duration
	rps                    float64
	errors, requests       int
	serverCPU, databaseCPU time.Duration
}

// runWrk loads u with wrk and reads its latency distribution, rate and errors (socket errors
// and answers other than 2xx and 3xx).
func runWrk(b *testing.B, wrk, name, u, token, duration, conns string) wrkResult {
	b.Helper()
	cmd := exec.Command(wrk, "-t2", "-c"+conns, "-d"+duration, "--timeout", benchEnv("OTPATCH_BENCH_TIMEOUT", "2s"), "--latency", "-H", "Authorization: Bearer "+token, u)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		b.Fatalf("wrk %s: %v\n%s", u, err, buf.String())
	}
	out := buf.String()
	r := wrkResult{name: name}
	percentile := regexp.MustCompile(`^\s+(50|99)%\s+(\S+)`)
	counts := regexp.MustCompile(`(connect|read|write|timeout) (\d+)`)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case percentile.MatchString(line):
			m := percentile.FindStringSubmatch(line)
			d, err := time.ParseDuration(m[2])
			if err != nil {
				b.Fatalf("wrk %s: latency %q: %v", u, m[2], err)
			}
			if m[1] == "50" {
				r.p50 = d
			} else {
				r.p99 = d
			}
		case strings.HasPrefix(line, "  Socket errors:"):
			for _, m := range counts.FindAllStringSubmatch(line, -1) {
				n, _ := strconv.Atoi(m[2])
				r.errors += n
			}
		case strings.HasPrefix(line, "  Non-2xx or 3xx responses:"):
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "  Non-2xx or 3xx responses:")))
			r.errors += n
		case strings.Contains(line, " requests in "):
			r.requests, _ = strconv.Atoi(strings.Fields(line)[0])
		case strings.HasPrefix(line, "Requests/sec:"):
			r.rps, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
		}
	}
	if r.p99 == 0 {
		// No request was answered within wrk's timeout: every one is a timeout error.
		b.Logf("wrk %s answered nothing within its timeout:\n%s", u, out)
	}
	b.Logf("%-42s p50 %9s  p99 %9s  %8.0f req/s  %d errors", name, millis(r.p50), millis(r.p99), r.rps, r.errors)
	return r
}

func micros(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return strconv.FormatInt(d.Microseconds(), 10) + " µs"
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

func benchEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
