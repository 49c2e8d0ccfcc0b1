package sim

import (
	"context"

	"cmp"
	"errors"
	"fmt"
	"github.com/suanli/suanli/internal/core"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/trace"
)

// Synthetic workload sizes: one day, one week, one month of jobs at the
// month's rate.
var SyntheticSpans = map[string]int64{"day": 86400, "week": 7 * 86400, "month": 30 * 86400}

// SynthConfig sets up the synthetic national workload.
type SynthConfig struct {
	// Seed makes the workload; the same seed gives the same jobs.
	Seed uint64
	// SpanS is the time over which jobs arrive (default 30 days).
	SpanS int64
	// Jobs is how many jobs arrive (default: a million per 30 days on
	// 138,704 cards, pro rata to the network's cards and the span).
	Jobs int
	// LoadMilli is the offered load, in thousandths of the network's cards
	// over the span, to which job durations are scaled (default 800).
	LoadMilli int
}

// Job rate of the synthetic workload: a million jobs a month on the default
// network's 138,704 cards, pro rata for other networks and spans.
const (
	monthJobs  = 1_000_000
	monthCards = 138_704
)

func (c SynthConfig) withDefaults(cards int) SynthConfig {
	if c.SpanS <= 0 {
		c.SpanS = SyntheticSpans["month"]
	}
	if c.Jobs <= 0 {
		c.Jobs = max(1, int(float64(monthJobs)*float64(cards)/monthCards*float64(c.SpanS)/float64(SyntheticSpans["month"])+0.5))
	}
	if c.LoadMilli <= 0 {
		c.LoadMilli = 800
	}
	return c
}

// tenantSpec is a synthetic tenant: its class, fair-share weight, FP16
// quota as thousandths of the network, and the vendors its software runs
// on (empty: any).
type tenantSpec struct {
	id         string
	class      model.TenantClass
	weight     int
	quotaMilli int64
	vendors    []string
	share      int // relative share of jobs
	class2     model.Classification
}

// synthTenants are the tenants of the synthetic workload. Their quotas sum
// past the network (quotas cap bursts; fair share divides the rest).
var synthTenants = []tenantSpec{
	{"gov-ai-lab", model.Government, 3, 250, []string{"Huawei", "Cambricon", "Hygon"}, 12, model.Sensitive},
	{"telecom-llm", model.StateOwned, 3, 300, []string{"Huawei"}, 14, model.Internal},
	{"university-consortium", model.Government, 2, 150, nil, 18, model.Public},
	{"power-grid", model.StateOwned, 2, 100, []string{"Huawei", "Kunlunxin (Baidu)", "Hygon"}, 8, model.CriticalInfrastructure},
	{"ecommerce-search", model.Private, 1, 200, []string{"Alibaba T-Head", "NVIDIA", "MetaX (Muxi)"}, 16, model.Internal},
	{"autonomous-driving", model.Private, 1, 150, []string{"NVIDIA", "Moore Threads", "Biren Technology"}, 12, model.Internal},
	{"biopharma", model.Private, 1, 80, nil, 8, model.Public},
	{"gaming-ai", model.Private, 1, 80, []string{"Moore Threads", "Iluvatar CoreX", "MetaX (Muxi)", "Cambricon"}, 12, model.Public},
}

// quotaHeadroomMilli is each tenant's quota over its expected share of
// the offered load, in thousandths: quotas cap bursts, fair share divides
// the rest.
const quotaHeadroomMilli = 1500

// SynthTenants are the tenants of the synthetic workload on a network. A
// tenant's FP16 quota is 1.5 times its expected share of the network's
// GFLOPS at the default offered load.
func SynthTenants(net *network.Network) []model.Tenant {
	all, tenantsOf, shareOf, _ := placement(net)
	quota := make([]int64, len(synthTenants))
	for pi, p := range all {
		for _, ti := range tenantsOf[pi] {
			share := int64(synthTenants[ti].share)
			quota[ti] += p.gflops * share / int64(shareOf[pi]) * 800 / 1000 * quotaHeadroomMilli / 1000
		}
	}
	out := make([]model.Tenant, len(synthTenants))
	for i, t := range synthTenants {
		out[i] = model.Tenant{ID: model.TenantID(t.id), Class: t.class, Weight: t.weight, QuotaGFLOPS: quota[i]}
	}
	return out
}

// placement lists the vendor pools, the tenants whose software runs on
// each, their summed job shares and the network's cards.
func placement(net *network.Network) (all []*pool, tenantsOf [][]int, shareOf []int, cards int) {
	for _, p := range vendorPools(net) {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b *pool) int { return cmp.Compare(a.vendor, b.vendor) })
	tenantsOf = make([][]int, len(all))
	shareOf = make([]int, len(all))
	for pi, p := range all {
		cards += p.cards
		for ti, t := range synthTenants {
			if t.vendors == nil || slices.Contains(t.vendors, p.vendor) {
				tenantsOf[pi] = append(tenantsOf[pi], ti)
				shareOf[pi] += t.share
			}
		}
	}
	return all, tenantsOf, shareOf, cards
}

// pool is what the generator knows of a vendor's part of the network.
type pool struct {
	vendor   string
	models   []string // catalog ids, sorted
	cards    int
	gflops   int64
	maxCards int // the most cards on one node
	domain   int // the largest high-bandwidth domain, in cards
}

func vendorPools(net *network.Network) map[string]*pool {
	pools := map[string]*pool{}
	domCards := map[model.DomainID]int{}
	for i := range net.Nodes {
		domCards[net.Nodes[i].Domain] += net.Nodes[i].Cards
	}
	for i := range net.Nodes {
		n := &net.Nodes[i]
		m := net.Model(n.Model)
		if m == nil {
			continue
		}
		p := pools[m.Vendor]
		if p == nil {
			p = &pool{vendor: m.Vendor}
			pools[m.Vendor] = p
		}
		if !slices.Contains(p.models, m.ID) {
			p.models = append(p.models, m.ID)
			slices.Sort(p.models)
		}
		p.cards += n.Cards
		g, _, _ := m.FP16GFLOPS()
		p.gflops += g * int64(n.Cards)
		p.maxCards = max(p.maxCards, n.Cards)
		p.domain = max(p.domain, domCards[n.Domain])
	}
	return pools
}

// Synthesize generates the synthetic national workload for a network: jobs
// of several tenants (training gangs, inference services — some on
// fractions of a card — and batch tasks) on every vendor's cards, arriving
// over the span with a daily cycle, their durations scaled so that the
// offered load is cfg.LoadMilli of the network. The jobs are in arrival
// order; the same network and config give the same jobs.
func Synthesize(net *network.Network, cfg SynthConfig) ([]trace.Job, error) {
	cfg = cfg.withDefaults(net.Cards())
	all, tenantsOf, shareOf, cardSum := placement(net)
	if cardSum == 0 {
		return nil, errors.New("synthetic workload: the network has no cards")
	}
	// Work lands on a vendor's cards in proportion to their number, so
	// that every pool sees the offered load; the tenant is drawn among
	// those whose software runs there (or runs anywhere).
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_0f_5a_1a))
	// Users and data come from a stream of their own, so that the jobs
	// are otherwise those of the workload before it had them.
	hints := rand.New(rand.NewPCG(cfg.Seed, 0xda7a_0f_05e5))
	jobs := make([]trace.Job, cfg.Jobs)
	var offered float64
	for i := range jobs {
		pi := pickWeighted(rng, cardSum, func(k int) int { return all[k].cards }, len(all))
		p := all[pi]
		ts := tenantsOf[pi]
		t := synthTenants[ts[pickWeighted(rng, shareOf[pi], func(k int) int { return synthTenants[ts[k]].share }, len(ts))]]
		j := trace.Job{ID: fmt.Sprintf("syn-%07d", i), Tenant: t.id, Workers: 1, CardsPerWorker: 1,
			Classification: string(t.class2)}
		// A fifth of the jobs of tenants with no vendor tie take any model.
		if t.vendors != nil || rng.IntN(5) > 0 {
			j.Models = p.models
		}
		k := rng.IntN(100)
		switch {
		case k < 4: // training gang
			j.Kind, j.Priority = trace.KindGang, 300
			j.CardsPerWorker = min(8, p.maxCards)
			j.Workers = []int{1, 2, 2, 4, 4, 8, 8, 16, 32, 64}[rng.IntN(10)]
			for j.Workers > 1 && j.Workers*j.CardsPerWorker > p.cards/8 {
				j.Workers /= 2
			}
			if j.Workers*j.CardsPerWorker <= p.domain {
				j.Topology = trace.TopologyDomain
			}
			j.DurationS = logNormal(rng, 6*3600, 1.0, 3*86400)
		case k < 50: // inference service
			j.Kind, j.Priority = trace.KindInference, 500
			j.Workers = []int{1, 1, 2, 2, 4, 8}[rng.IntN(6)]
			if rng.IntN(10) < 6 {
				j.ShareMilli = []int{250, 250, 500, 500, 750}[rng.IntN(5)]
			}
			j.DurationS = logNormal(rng, 2*3600, 1.2, 7*86400)
		default: // batch task on one node
			j.Kind, j.Priority = trace.KindBatch, 100
			if rng.IntN(10) < 3 {
				j.ShareMilli = []int{100, 250, 500}[rng.IntN(3)]
			} else {
				j.CardsPerWorker = min(p.maxCards, []int{1, 1, 1, 2, 2, 4, 8}[rng.IntN(7)])
			}
			j.DurationS = logNormal(rng, 1800, 1.0, 2*86400)
		}
		j.ArrivalS = arrival(rng, cfg.SpanS, j.Kind == trace.KindInference)
		placeHints(hints, &j, net)
		cards := float64(j.Workers * j.CardsPerWorker)
		if j.ShareMilli > 0 {
			cards = float64(j.Workers*j.ShareMilli) / model.MilliCard
		}
		offered += cards * float64(j.DurationS)
		jobs[i] = j
	}
	scale := float64(cfg.LoadMilli) / 1000 * float64(net.Cards()) * float64(cfg.SpanS) / offered
	for i := range jobs {
		jobs[i].DurationS = max(1, int64(math.Round(float64(jobs[i].DurationS)*scale)))
	}
	return byArrival(jobs), nil
}

// userProvinces weighs the provinces where inference users are by their
// population (2020 census, millions, rounded).
var userProvinces = []struct {
	name string
	w    int
}{
	{"Guangdong", 127}, {"Shandong", 101}, {"Henan", 99}, {"Jiangsu", 85}, {"Sichuan", 84},
	{"Hebei", 74}, {"Hunan", 66}, {"Zhejiang", 65}, {"Anhui", 61}, {"Hubei", 58},
	{"Guangxi", 50}, {"Yunnan", 47}, {"Jiangxi", 45}, {"Liaoning", 42}, {"Fujian", 42},
	{"Shaanxi", 40}, {"Guizhou", 39}, {"Shanxi", 35}, {"Chongqing", 32}, {"Heilongjiang", 31},
	{"Xinjiang", 26}, {"Gansu", 25}, {"Shanghai", 25}, {"Inner Mongolia", 24}, {"Jilin", 24},
	{"Beijing", 22}, {"Tianjin", 14}, {"Hainan", 10}, {"Ningxia", 7}, {"Qinghai", 6}, {"Tibet", 4},
}

var userWeight = func() int {
	t := 0
	for _, p := range userProvinces {
		t += p.w
	}
	return t
}()

// placeHints says where a synthetic job's users and data are: inference
// serves users in a province drawn by population; a training gang reads
// a dataset (median 2 TB) and most batch tasks a smaller one (median
// 50 GB), lying at a site of the network drawn evenly.
func placeHints(rng *rand.Rand, j *trace.Job, net *network.Network) {
	switch j.Kind {
	case trace.KindInference:
		j.Users = userProvinces[pickWeighted(rng, userWeight, func(k int) int { return userProvinces[k].w }, len(userProvinces))].name
	case trace.KindGang:
		j.DataSite = string(net.Sites[rng.IntN(len(net.Sites))].ID)
		j.DataGB = logNormalGB(rng, 2000, 1.0, 200_000)
	default:
		if rng.IntN(10) < 7 {
			j.DataSite = string(net.Sites[rng.IntN(len(net.Sites))].ID)
			j.DataGB = logNormalGB(rng, 50, 1.5, 20_000)
		}
	}
}

// logNormalGB draws a dataset size in GB with the median and log-spread
// sigma, between 1 and capGB.
func logNormalGB(rng *rand.Rand, median, sigma float64, capGB int64) int64 {
	return min(capGB, max(1, int64(median*math.Exp(sigma*rng.NormFloat64()))))
}

// byArrival orders jobs by arrival, keeping the generated order among
// equal arrivals (what a stable sort gives), by sorting their indices
// rather than moving the large job records about.
// The arrivals sort beside their indices, so that comparing two reads no
// job record.
func byArrival(jobs []trace.Job) []trace.Job {
	type key struct {
		at int64
		i  int32
	}
	keys := make([]key, len(jobs))
	for i := range keys {
		keys[i] = key{jobs[i].ArrivalS, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.i, b.i)) })
	out := make([]trace.Job, len(jobs))
	for i, k := range keys {
		out[i] = jobs[k.i]
	}
	return out
}

func pickWeighted(rng *rand.Rand, total int, w func(int) int, n int) int {
	x := rng.IntN(total)
	for k := range n {
		if x -= w(k); x < 0 {
			return k
		}
	}
	return n - 1
}

// logNormal draws a duration with the median and log-spread sigma, capped.
func logNormal(rng *rand.Rand, median float64, sigma float64, capS int64) int64 {
	d := median * math.Exp(sigma*rng.NormFloat64())
	return min(capS, max(60, int64(d)))
}

// arrival draws an arrival time over the span; daily ones follow a day
// cycle peaking in the afternoon (China Standard Time, trace time 0 at
// midnight).
func arrival(rng *rand.Rand, span int64, daily bool) int64 {
	for {
		t := rng.Int64N(span)
		if !daily {
			return t
		}
		h := float64(t%86400) / 3600
		if rng.Float64()*2 < 1+math.Sin((h-9)*math.Pi/12) {
			return t
		}
	}
}

// CoreJob converts a job of the JSON-lines trace to the core's form.
func CoreJob(j trace.Job) model.Job {
	m := model.Job{
		ID: model.JobID(j.ID), Tenant: model.TenantID(j.Tenant), Kind: model.JobKind(j.Kind),
		Priority: j.Priority, Workers: j.Workers, CardsPerWorker: j.CardsPerWorker,
		ShareMilli: j.ShareMilli, MemMiB: j.MemMiB, Models: j.Models, ComputeGFLOPS: j.ComputeGFLOPS,
		Topology: model.Topology(j.Topology), Classification: model.Classification(j.Classification),
		SubmitTime: j.ArrivalS, RuntimeSec: j.DurationS,
		Latency: model.Latency(j.Latency), Users: j.Users,
	}
	if j.DataSite != "" {
		m.Data = &model.DataLocation{Site: model.SiteID(j.DataSite), SizeGB: j.DataGB}
	}
	if j.ShareMilli > 0 || j.ComputeGFLOPS > 0 {
		m.CardsPerWorker = 0
	}
	return m
}

// TraceJobs converts a JSON-lines trace to replay jobs.
func TraceJobs(js []trace.Job) []Job {
	out := make([]Job, len(js))
	for i, j := range js {
		out[i] = Job{Job: CoreJob(j), DurationS: j.DurationS}
	}
	return out
}

// traceJobs is a source of jobs in the JSON-lines form, converted to the
// core's one by one as they are submitted.
type traceJobs []trace.Job

func (s traceJobs) len() int               { return len(s) }
func (s traceJobs) job(i int) model.Job    { return CoreJob(s[i]) }
func (s traceJobs) submitTime(i int) int64 { return s[i].ArrivalS }
func (s traceJobs) durationS(i int) int64  { return s[i].DurationS }
func (s traceJobs) kind(i int) string      { return s[i].Kind }
func (s traceJobs) tenant(i int) string    { return s[i].Tenant }

// SyntheticConfig sets up a synthetic replay.
type SyntheticConfig struct {
	Synth SynthConfig
	// Core configures the core.
	Core core.Config
	// Samples is how many points the time series has (default 240).
	Samples int
	// Progress, if set, hears about submitted jobs.
	Progress ProgressFunc
}

// RunSynthetic generates the synthetic workload for the network and
// replays it through the core with the synthetic tenants.
func RunSynthetic(ctx context.Context, net *network.Network, cfg SyntheticConfig) (*TimedReport, error) {
	js, err := Synthesize(net, cfg.Synth)
	if err != nil {
		return nil, err
	}
	return ReplayTrace(ctx, net, js, cfg)
}

// ReplayTrace replays jobs of the JSON-lines format through the core with
// the synthetic tenants (a tenant the jobs name that is not one of them
// gets no quota).
func ReplayTrace(ctx context.Context, net *network.Network, js []trace.Job, cfg SyntheticConfig) (*TimedReport, error) {
	r, err := replay(ctx, net, traceJobs(js), ReplayConfig{
		Core: cfg.Core, Tenants: SynthTenants(net), Samples: cfg.Samples, Progress: cfg.Progress,
	})
	if err != nil {
		return nil, err
	}
	r.Protocol = "synthetic"
	return r, nil
}
