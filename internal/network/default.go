package network

import (
	_ "embed"

	"github.com/suanli/suanli/internal/catalog"
)

//go:embed data/default.yaml
var defaultSpec []byte

// DefaultSpec returns the YAML of the embedded default network (`suanli
// plan --write-network` extends it).
func DefaultSpec() []byte { return append([]byte(nil), defaultSpec...) }

// Default loads the embedded default national network against the catalog
// (catalog.Default() when cat is nil).
func Default(cat *catalog.Catalog) (*Network, error) {
	if cat == nil {
		cat = catalog.Default()
	}
	return Parse(defaultSpec, "default network", cat)
}
