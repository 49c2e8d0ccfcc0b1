package sim

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// GavelJob is one job of Gavel's job stream (its generator's JSON lines).
type GavelJob struct {
	ID          int     `json:"job_id"`
	ArrivalS    float64 `json:"arrival_time_s"`
	Type        string  `json:"job_type"`
	ScaleFactor int     `json:"scale_factor"`
	TotalSteps  float64 `json:"total_steps"`
	InWindow    bool    `json:"in_window"`
}

// ReadGavelJobs reads Gavel's job stream: one JSON object a line.
func ReadGavelJobs(r io.Reader) ([]GavelJob, error) {
	var out []GavelJob
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var j GavelJob
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case j.Type == "":
			return nil, fmt.Errorf("line %d: job %d has no job_type", line, j.ID)
		case !(j.TotalSteps > 0) || math.IsInf(j.TotalSteps, 0):
			return nil, fmt.Errorf("line %d: job %d: total_steps %v must be positive", line, j.ID, j.TotalSteps)
		case !(j.ArrivalS >= 0) || math.IsInf(j.ArrivalS, 0):
			return nil, fmt.Errorf("line %d: job %d: arrival_time_s %v must be a non-negative time", line, j.ID, j.ArrivalS)
		case j.ScaleFactor > 1:
			return nil, fmt.Errorf("line %d: job %d: scale factor %d: the replay takes single-GPU streams", line, j.ID, j.ScaleFactor)
		}
		out = append(out, j)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the job stream is empty")
	}
	return out, nil
}

// Throughputs is a throughput matrix: steps/s of a job type alone on one
// accelerator type (job type → accelerator → rate).
type Throughputs map[string]map[string]float64

// ReadThroughputs reads a throughput matrix: Gavel's isolated CSV
// (job_type,scale_factor,<accelerator>…; rows of scale factor 1) or its
// simulation_throughputs.json (the "null" entries: each type alone).
func ReadThroughputs(path string) (Throughputs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Throughputs
	if strings.EqualFold(filepath.Ext(path), ".json") {
		t, err = gavelJSONThroughputs(data)
	} else {
		t, err = csvThroughputs(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("%s: no single-GPU throughputs", path)
	}
	return t, nil
}

func csvThroughputs(data []byte) (Throughputs, error) {
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || len(rows[0]) < 3 || rows[0][0] != "job_type" || rows[0][1] != "scale_factor" {
		return nil, errors.New("want a header job_type,scale_factor,<accelerator>… and rows")
	}
	t := Throughputs{}
	for i, row := range rows[1:] {
		if row[1] != "1" {
			continue
		}
		m := map[string]float64{}
		for k := 2; k < len(row); k++ {
			v, err := strconv.ParseFloat(row[k], 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("row %d, %s: %q is not a positive throughput", i+2, rows[0][k], row[k])
			}
			m[rows[0][k]] = v
		}
		t[row[0]] = m
	}
	return t, nil
}

func gavelJSONThroughputs(data []byte) (Throughputs, error) {
	var raw map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	t := Throughputs{}
	for worker, jobs := range raw {
		if strings.Contains(worker, "_") { // *_unconsolidated
			continue
		}
		for key, e := range jobs {
			name, sf, ok := parseGavelKey(key)
			if !ok || sf != 1 {
				continue
			}
			var v float64
			if err := json.Unmarshal(e["null"], &v); err != nil || !(v > 0) {
				return nil, fmt.Errorf("%s %s: no positive isolated throughput", worker, key)
			}
			if t[name] == nil {
				t[name] = map[string]float64{}
			}
			t[name][worker] = v
		}
	}
	return t, nil
}

// parseGavelKey reads "('ResNet-18 (batch size 64)', 1)".
func parseGavelKey(k string) (string, int, bool) {
	k = strings.TrimSpace(k)
	if !strings.HasPrefix(k, "('") || !strings.HasSuffix(k, ")") {
		return "", 0, false
	}
	i := strings.LastIndex(k, "',")
	if i < 2 {
		return "", 0, false
	}
	sf, err := strconv.Atoi(strings.TrimSpace(k[i+2 : len(k)-1]))
	return k[2:i], sf, err == nil
}

// GavelWindow is the job ids Gavel measures: [GavelWindowLo, GavelWindowHi).
const (
	GavelWindowLo = 4000
	GavelWindowHi = 5000
)

// GenerateGavelJobs draws a single-GPU job stream from the distribution of
// Gavel's generator (scheduler/utils.py:generate_job): the job type uniform
// over the matrix's types that run on v100; a duration on a V100 of
// 60·10^U(1.5,3) s with probability 0.8, else 60·10^U(3,4) s; total steps
// = duration × the type's V100 throughput; Poisson arrivals with mean gap
// lamS. It does not reproduce Gavel's own streams (those come from
// Python's generator), only their distribution. Jobs GavelWindowLo to
// GavelWindowHi−1 are the window.
func GenerateGavelJobs(seed uint64, n int, lamS float64, tp Throughputs) ([]GavelJob, error) {
	var types []string
	for name, r := range tp {
		if r["v100"] > 0 {
			types = append(types, name)
		}
	}
	if len(types) == 0 {
		return nil, errors.New("the throughput matrix has no v100 rates: the generator sizes jobs by their V100 time")
	}
	if n < 1 || !(lamS > 0) {
		return nil, fmt.Errorf("generate %d jobs with mean gap %v s: want at least one job and a positive gap", n, lamS)
	}
	slices.Sort(types)
	rng := rand.New(rand.NewPCG(seed, 0x6761_76656c)) // "gavel"
	jobs := make([]GavelJob, n)
	t := 0.0
	for i := range jobs {
		if i > 0 {
			t += -lamS * math.Log(1-rng.Float64())
		}
		typ := types[rng.IntN(len(types))]
		lo, hi := 1.5, 3.0
		if rng.Float64() >= 0.8 {
			lo, hi = 3, 4
		}
		dur := 60 * math.Pow(10, lo+(hi-lo)*rng.Float64())
		jobs[i] = GavelJob{ID: i, ArrivalS: t, Type: typ, ScaleFactor: 1, TotalSteps: dur * tp[typ]["v100"],
			InWindow: i >= GavelWindowLo && i < GavelWindowHi}
	}
	return jobs, nil
}
