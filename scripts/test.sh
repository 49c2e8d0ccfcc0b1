#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a
# fresh Debian machine, then checks formatting, modules, vet (also with the
# nvml tag), staticcheck, dead code and known vulnerabilities, and runs
# every test with the race detector (some CPU-heavy single-goroutine claim
# and property tests without it, below) and every benchmark once so they keep working;
# the static checks and benchmarks run beside the tests. Each phase and
# background step prints its wall time; the total closes the run.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
cpu_file=$(mktemp)
# cpu_now sets CPU_NOW to the CPU seconds (user + system) used so far by
# this shell's children that have ended (bash's times, read from a file:
# in a subshell it would count the subshell's children only).
cpu_now() {
  local u s
  times >"$cpu_file.$BASHPID" # one file per process: the background steps read theirs at the same time
  { read -r _ _; read -r u s; } <"$cpu_file.$BASHPID"
  CPU_NOW=$(awk -v u="$u" -v s="$s" 'function sec(x, p) { split(x, p, "m"); return p[1] * 60 + p[2] } BEGIN { printf "%d", sec(u) + sec(s) }')
}
cpu_now
phase_start=$SECONDS
phase_cpu=$CPU_NOW
phase_name=""
phase() { # phase NAME: closes the previous phase with its wall and CPU time, opens NAME
  cpu_now
  if [ -n "$phase_name" ]; then
    printf '   (%s: %d s, %d s of CPU)\n' "$phase_name" $((SECONDS - phase_start)) $((CPU_NOW - phase_cpu))
  fi
  phase_name=$1
  phase_start=$SECONDS
  phase_cpu=$CPU_NOW
  [ -n "$1" ] && echo "== $1"
  return 0
}

# apt_get runs apt-get, waiting up to 10 minutes for another package manager
# (unattended-upgrades, a second install) to let go of its lock.
apt_get() {
  local waited=0
  while true; do
    if out=$($SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1); then
      return 0
    fi
    if ! grep -qiE 'could not (get|open) lock|unable to acquire|is another process using it' <<<"$out" || [ $waited -ge 600 ]; then
      echo "$out" >&2
      [ $waited -ge 600 ] && echo "apt-get $*: the package manager stayed locked for 10 minutes; find the other apt or dpkg process (ps aux | grep -E 'apt|dpkg') and run this again once it ends" >&2
      return 1
    fi
    [ $waited -eq 0 ] && echo "   another process holds the package manager's lock; waiting (up to 10 minutes)"
    sleep 5
    waited=$((waited + 5))
  done
}

phase "prerequisites"
if ! command -v go >/dev/null; then
  echo "Go 1.26 is required: install it from your distribution or go.dev" >&2
  exit 1
fi
# What the tests need from Debian, and why; only what is missing is installed.
need_apt=()
why=()
if ! command -v chromium >/dev/null; then need_apt+=(chromium); why+=("chromium: the dashboard's browser tests"); fi
if ! fc-list 2>/dev/null | grep -qi 'noto sans cjk\|wqy\|droid sans fallback'; then
  need_apt+=(fonts-wqy-zenhei); why+=("fonts-wqy-zenhei: the dashboard's Chinese brand and labels render in the browser tests")
fi
if ! command -v gcc >/dev/null; then need_apt+=(gcc libc6-dev); why+=("gcc: the race detector and the nvml build need cgo"); fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#need_apt[@]} -gt 0 ]; then
  printf '   installing %s\n' "${why[@]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
else
  echo "   chromium, a CJK font and gcc are present"
fi

phase "kube-apiserver and etcd for the Kubernetes-site tests (built once per machine and version, then cached)"
KUBEBUILDER_ASSETS=$(./scripts/kube-tools.sh)
export KUBEBUILDER_ASSETS

phase "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

phase "go mod tidy -diff"
go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy" >&2; exit 1; }

export CGO_CFLAGS="${CGO_CFLAGS:-} -Wno-deprecated-declarations" # NVML's header marks much deprecated

logdir=$(mktemp -d)
trap 'rm -rf "$logdir" "$cpu_file"*' EXIT

# The binary the chaos and durability tests run as processes, built once
# here for both (each would build it in its TestMain, and at the same time
# two go builds compile the same packages twice). Built alone, before the
# streams: it compiles most of what vet, staticcheck and the benchmarks
# then reuse, and it does so once.
phase "go build of the binary the chaos and durability tests run"
export SUANLI_BIN=$logdir/suanli
go build -o "$SUANLI_BIN" ./cmd/suanli

# From here two streams run at once, so that both cores stay busy: tests
# that wait on processes, timers or a browser leave a core idle, and the
# benchmarks run one package at a time.
#  - Foreground: every test with the race detector, three packages at a
#    time, the longest first (one slot is mostly a test waiting).
#  - Background, at a lower CPU priority so the timed tests keep theirs:
#    go vet, staticcheck, dead code, govulncheck, the claim tests and
#    packages that run without the race detector (below), each benchmark
#    once; one step after another.
# The go test runs skip their own vet pass (-vet=off): go vet ./... runs
# every analyzer over the same packages and their tests. Each background
# step's output and time are printed when both streams are done; a failure
# in either fails the run, after every step has run.
#
# Without the race detector: CPU-heavy claim and property tests that run on
# one goroutine only. internal/sched, internal/core and internal/sched/frag
# start no goroutine, nor do these tests of internal/sim (they do not reach
# RunFGD, RunMixGap or ComparePolicies, which do), nor cmd/suanli's plan
# command test (the command in process: plan, Synthesize, ReplayTrace);
# frag's every-list claim runs two lists at once, on data they do not share
# (frag has no package-level variable). The race detector, which only
# reports memory shared by two goroutines, has nothing to find in them and
# slows them 5-12x (the tests of internal/sched/frag, internal/sched,
# internal/core and internal/sim: 150, 49, 41 and 65 s of CPU with it, 13,
# 6, 5 and 6 s without). Every other test keeps -race, among them the ones
# that run these packages concurrently (internal/sim's RunFGD,
# ComparePolicies and RunMixGap tests, internal/server's). Each name is
# checked to be defined once, in its package: go test's -skip cannot name a
# package.
norace_tests=(
  "./internal/sched/frag TestBaselinesNearPaper TestSuanliBelowFGDOnEveryList TestSuanliBeatsFGDOnDefault TestFragOfCountsMatchesNodeFrag"
  "./internal/sched TestPropertiesRandomClusters TestFitsEmptyMatchesSchedule TestFragCountsMatchNodeFrag TestOracleGangPacking TestTallyByRunsMatchesByDomain TestPlacedSummaryMatchesFmt"
  "./internal/core TestKeptPlansFollowNodeContents TestPropertiesRandomStreams TestPropertiesWithHoldsAndDisconnects TestPlanOrderMatchesSorting"
  "./internal/sim TestProtocolAMatchesServerScheduler TestSchedulerProtocolAOracle TestPlaceCostLowersEnergyCost TestTimedRealDefault TestGavelOtherSeeds TestGavelLAS TestGavelSeed0 TestSynthesizeProperties"
  "./cmd/suanli TestPlanCommand"
)
norace_pkgs=""
norace_names=()
for line in "${norace_tests[@]}"; do
  read -r pkg names <<<"$line"
  norace_pkgs+=" $pkg"
  for name in $names; do
    where=$(grep -rl --include='*_test.go' --exclude-dir=testdata "^func $name(" . || true)
    if [ "$(dirname "$where")" != "$pkg" ]; then # none, several, or elsewhere
      echo "scripts/test.sh: the race-free test $name is not defined once, in $pkg: fix the list" >&2
      exit 1
    fi
    norace_names+=("$name")
  done
done
norace="^($(IFS='|'; echo "${norace_names[*]}"))\$"
# Whole packages without the race detector: no goroutine starts in them, in
# their tests or in what they import from this module (checked here: a
# go statement or a WaitGroup.Go there fails the run), and under the race
# detector their CPU-heavy tests ran 5-7x slower (internal/plan 29 s,
# internal/network 17 s).
norace_whole=(./internal/plan ./internal/network ./internal/ledger ./internal/catalog ./internal/trace)
for pkg in "${norace_whole[@]}"; do
  # With -test, the package's own test files are among its GoFiles.
  files=$(go list -deps -test -f '{{if .Module}}{{if eq .Module.Path "github.com/suanli/suanli"}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}{{end}}{{end}}' "$pkg" | tr ' ' '\n' | grep -v '//' | sort -u) # not the generated test main
  if grep -nE '^\s*go [a-zA-Z_(]|\.Go\(' $files /dev/null; then
    echo "scripts/test.sh: $pkg runs without the race detector, but the lines above start goroutines: take it out of norace_whole" >&2
    exit 1
  fi
done
module=$(go list -m)
race_pkgs=$(go list ./... | grep -v -x -F -f <(for p in "${norace_whole[@]}"; do echo "$module/${p#./}"; done))
# The longest-running packages under -race, first (go test starts packages
# in the order given; ./... adds the rest once each). Wall times in a cold
# run at load 1 on 2 cores, two packages at a time: chaos 149 s, server 84 s,
# cmd/suanli 61 s, store/etcd 34 s, kube 33 s, web 29 s; sim 58 s before,
# about a third of it without the race-free tests (estimated).
longest_first="./internal/chaos ./internal/server ./cmd/suanli ./internal/store/etcd ./internal/kube ./web ./internal/sim"
# Only packages with a benchmark are built for the benchmark run.
bench_pkgs=$(grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Benchmark' . | xargs -n1 dirname | sort -u)

# step NAME COMMAND: runs the bash COMMAND at a lower priority, printing its
# output and time; returns its status.
step() {
  local t0=$SECONDS rc=0 c0
  cpu_now
  c0=$CPU_NOW
  echo "== $1"
  nice -n 10 bash -euo pipefail -c "$2" || rc=$?
  cpu_now
  printf '   (%s: %d s, %d s of CPU%s)\n' "$1" $((SECONDS - t0)) $((CPU_NOW - c0)) "$([ $rc -eq 0 ] || echo ", FAILED with exit $rc")"
  return $rc
}

export SUANLI_VET
SUANLI_VET=$(go env GOTOOLDIR)/vet
background() {
  local rc=0
  # scripts/vettool.sh is go's own vet, skipping the fact pass over
  # dependencies (most of its CPU; see the script).
  step "go vet (default build, and the nvml build of the device package and the binary)" \
    'go vet -vettool=$PWD/scripts/vettool.sh ./... && go vet -vettool=$PWD/scripts/vettool.sh -tags nvml ./internal/device/ ./cmd/suanli/ && go build -tags nvml -o /dev/null ./cmd/suanli' || rc=1
  step "staticcheck" ./scripts/staticcheck.sh || rc=1
  step "the race-free tests and packages (above)" "go test -vet=off -run '$norace'$norace_pkgs && go test -vet=off ${norace_whole[*]}" || rc=1
  step "dead code" ./scripts/deadcode.sh || rc=1
  if [ -x scripts/vulncheck.sh ]; then
    step "govulncheck" ./scripts/vulncheck.sh || rc=1
  fi
  # go test runs benchmarks one package at a time.
  step "each benchmark once" "go test -vet=off -run '^\$' -bench . -benchtime 1x -timeout 20m $(echo $bench_pkgs) > $logdir/bench.log 2>&1 || { cat $logdir/bench.log; exit 1; }
    grep -E '^(ok|FAIL|---)' $logdir/bench.log || true" || rc=1
  return $rc
}

phase "go test -race, and the nvml path's test; in the background: vet, staticcheck, dead code, govulncheck, the race-free tests, each benchmark once"
# One step after another: split in two lanes run side by side (tried), the
# steps took more CPU (2,307 s against 1,989 for the suite) and the suite
# 20 min against 18.
background >"$logdir/background.log" 2>&1 &
bg=$!
tests=0
go test -race -vet=off -p 3 -skip "$norace" -timeout 25m $longest_first $race_pkgs || tests=1
go test -tags nvml -race -vet=off -run 'NVML|WithNative' ./internal/device/ || tests=1

phase "waiting for the background steps"
checks=0
wait $bg || checks=1
cat "$logdir/background.log"
if [ $tests -ne 0 ] || [ $checks -ne 0 ]; then
  phase ""
  [ $tests -ne 0 ] && echo "FAILED: go test -race (above)" >&2
  [ $checks -ne 0 ] && echo "FAILED: a background step (above)" >&2
  printf '== failed after %d min %d s\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
  exit 1
fi

phase ""
cpu_now
printf '== done in %d min %d s, %d s of CPU\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$CPU_NOW"
