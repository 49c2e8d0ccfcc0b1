package v1

// FieldDoc documents one field of a wire type: its JSON path, its type as
// a spec author writes it, and what it means.
type FieldDoc struct {
	Field string `json:"field"`
	Type  string `json:"type"`
	Doc   string `json:"doc"`
}

// JobSpecFields documents every field of JobSpec (and of its Workload, as
// workload.*), in the order a spec author meets them. A test checks that
// each JSON field has an entry here and each entry a field, so the list
// cannot drift from the types.
var JobSpecFields = []FieldDoc{
	{"tenant", "string", "the tenant the job runs for; a tenant token's own by default, required with an admin or operator token"},
	{"name", "string", "a label for people, up to 256 bytes"},
	{"kind", "string", "gang (a training gang: workers × whole cards, placed all or nothing), inference (replicas of whole cards or of a fraction of one card) or batch (one task of whole cards or a fraction, on one node)"},
	{"priority", "int", "0 to 1000 (default 0); a higher priority is placed first and may preempt lower ones"},
	{"workers", "int", "gang size, inference replica count, or 1 for batch"},
	{"cards_per_worker", "int", "whole cards per worker; 0 with share_milli asks for a fraction of one card, 0 with compute_gflops lets the scheduler size it"},
	{"share_milli", "int", "a fraction of one card per worker, in thousandths (1 to 999); inference and batch only"},
	{"mem_mib", "int", "card memory of a fractional share, MiB"},
	{"cpu_milli", "int", "host CPU per worker in thousandths of a core (0: the kind's default per card: gang 8 cores, inference 4, batch 4; a share its fraction)"},
	{"host_mem_mib", "int", "host memory per worker, MiB (0: the kind's default per card: gang 64 GiB, inference 32, batch 16; a share its fraction)"},
	{"models", "[]string", "acceptable accelerator models, catalog ids (see `suanli catalog`); empty: any model the other constraints allow"},
	{"compute_gflops", "int", "instead of cards_per_worker: the FP16 throughput wanted in total over all workers, in GFLOPS (1 PFLOPS = 1000000); the scheduler turns it into a card count per candidate model"},
	{"efficiency_milli", "int", "with compute_gflops: the share of peak FP16 the job achieves, in thousandths (default 1000)"},
	{"rates", "map[string]number", "the job's measured throughput per card on each model (catalog id or name → work per second, in one unit of the job's choosing); where given, placement ranks models by it instead of by peak FP16"},
	{"workload_class", "string", "the job's workload class in the throughput matrix (`suanli throughput`), e.g. llm-pretrain, vision-train; its workers' progress reports (SUANLI_PROGRESS_FILE) teach the class's throughput per model, and without rates placement ranks models by the class's learned (else default) throughput"},
	{"stacks", "[]string", "acceptable software stacks (e.g. CANN, NeuWare, CUDA, MACA)"},
	{"pytorch", "[]string", "acceptable PyTorch integrations (e.g. torch_npu, torch_mlu)"},
	{"min_mem_mib", "int", "least memory per card, MiB"},
	{"regions", "[]string", "data residency: only sites in these regions (e.g. North, East)"},
	{"sites", "[]string", "only these sites (ids as `suanli network` lists them)"},
	{"topology", "string", "node, domain (one high-bandwidth domain: a supernode or rack) or site: the scope a gang's workers should share"},
	{"topology_required", "bool", "true: topology is a hard constraint, not a preference"},
	{"cross_site", "bool", "true: a gang may span sites"},
	{"mixed", "bool", "true: a gang may span accelerator models (mixed-vendor training); the scheduler splits the work by each chip's throughput"},
	{"classification", "string", "the data's sensitivity for the sovereignty policy: public, internal, sensitive or critical-infrastructure"},
	{"latency", "string", "interactive (users wait on each answer: placed near them) or batch (placed where a unit of work costs least in energy, e.g. the western hubs); default: interactive for inference, batch otherwise"},
	{"users", "string", "where the job's users are: a province (e.g. Guangdong) or a site id; interactive jobs are placed by the round trip to them"},
	{"data", "object", "where the job's input data lies; placement counts the time to move it over the backbone to the cards"},
	{"data.site", "string", "the site id holding the data (see `suanli network`)"},
	{"data.size_gb", "int", "the data's size in GB (10^9 bytes), 0 to 10^9"},
	{"runtime_sec", "int", "declared runtime in seconds, used for backfill; 0: unknown"},
	{"lost_after_sec", "int", "how long the job's work on a disconnected node is held for it before it is requeued elsewhere, in seconds, up to 604800 (a week); 0: as long as the node's site holds it (by default 5 minutes)"},
	{"max_retries", "int", "0 to 100: a worker failure requeues the job whole, to resume from its checkpoint, up to this many times; then it fails with every failure listed (job retries). A lost node requeues it without using a retry"},
	{"retry_backoff_sec", "int", "pause before the first retry, in seconds (at most a day); each next pause is twice the one before, at most a day"},
	{"retry_exit_codes", "[]int", "the exit codes that count for a retry (1 to 255); another exit code, or a worker killed by a signal, fails the job at once; empty: every failure counts"},
	{"workload", "object", "what each worker runs; absent: the agent decides (a simulated executor where it has one)"},
	{"workload.command", "[]string", "the program and its arguments, run without a shell"},
	{"workload.env", "map[string]string", "environment added to the worker's; the agent adds its own on top: the vendor's visible-devices variable, SUANLI_JOB_ID, SUANLI_WORKER, SUANLI_RESUME_STEP, SUANLI_CHECKPOINT_DIR, SUANLI_PROGRESS_FILE and, for gangs, WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT"},
	{"workload.secret_env", "[]object", "variables set from the tenant's stored secrets, each {name: VAR, secret: {name: SECRET, key: KEY}}; a job read shows only these references, and only the agent of a node the job is placed on receives the values"},
	{"workload.image", "string", "Kubernetes sites only: the container image of the job's pods (default: the server's --kube-image); node agents run command on the host and ignore it"},
	{"workload.resources", "object", "Kubernetes sites only: what each worker's pod asks for besides its accelerators (requests and limits alike)"},
	{"workload.resources.cpu_milli", "int", "CPU in thousandths of a core; 0: none asked"},
	{"workload.resources.memory_mib", "int", "memory in MiB; 0: none asked"},
	{"workload.dir", "string", "working directory on the node"},
}
