package v1

// Explanation says why a job is where it is: counts of candidates rejected
// per reason, the best partial candidate and what would unblock it.
type Explanation struct {
	Job        string         `json:"job"`
	State      string         `json:"state"`
	Summary    string         `json:"summary"`
	Rejections map[string]int `json:"rejections,omitempty"` // reason → candidates rejected
	Best       string         `json:"best,omitempty"`
	Unblock    []string       `json:"unblock,omitempty"`
	Details    []string       `json:"details,omitempty"`
	// Score is the chosen placement's score and Alternatives the runner-ups
	// the scheduler weighed against it, best first (placed jobs).
	Score        *Score        `json:"score,omitempty"`
	Alternatives []Alternative `json:"alternatives,omitempty"`
}

// Score is a placement's score: each component 0..1000 (higher is
// better) and their weighted total.
type Score struct {
	Total         int64 `json:"total"`
	Frag          int64 `json:"frag"`
	Topology      int64 `json:"topology"`
	Heterogeneity int64 `json:"heterogeneity"`
	Cost          int64 `json:"cost"`
	// Place scores what the placement costs the job (energy per unit of
	// work, moving its data, latency to its users); Terms names each term
	// with its value.
	Place int64       `json:"place,omitempty"`
	Terms *PlaceTerms `json:"terms,omitempty"`
}

// PlaceTerms are the terms of a placement's place component at its site:
// energy cost per FP16 PFLOP-hour (thousandths of a fen; estimated when
// the model has no power figure; -1 for a mixed-model placement), the
// time to move the job's data there (no_route: the backbone does not
// join the sites), the round trip from its users; each with its penalty
// out of 1000.
type PlaceTerms struct {
	Site            string `json:"site"`
	EnergyMilliFen  int64  `json:"energy_milli_fen_per_pflop_hour"`
	EnergyEstimated bool   `json:"energy_estimated,omitempty"`
	EnergyPenalty   int64  `json:"energy_penalty"`
	TransferMs      int64  `json:"transfer_ms,omitempty"`
	NoRoute         bool   `json:"no_route,omitempty"`
	TransferPenalty int64  `json:"transfer_penalty,omitempty"`
	UsersRTTMicros  int64  `json:"users_rtt_us,omitempty"`
	LatencyPenalty  int64  `json:"latency_penalty,omitempty"`
}

// Alternative is a runner-up placement: its scope (card, node, domain,
// site, sites), where (the node, domain or site; the first of several),
// the model, the whole cards (0 for a share) and its score.
type Alternative struct {
	Scope string `json:"scope"`
	Where string `json:"where"`
	Model string `json:"model"`
	Cards int    `json:"cards"`
	Score Score  `json:"score"`
}
