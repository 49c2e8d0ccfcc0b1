package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/sim/tune"
)

// netFlags are the flags of every command that reads a network.
type netFlags struct {
	network string // spec path, or "" / "default" for the embedded one
	catalog string // operator catalog overlay
}

func (f *netFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.network, "network", "default", "network spec YAML (default: the embedded national network)")
	cmd.Flags().StringVar(&f.catalog, "catalog", "", "YAML that extends or overrides the accelerator catalog")
}

func (f *netFlags) loadCatalog() (*catalog.Catalog, error) {
	if f.catalog == "" {
		return catalog.Default(), nil
	}
	c, err := catalog.LoadFile(f.catalog)
	if err != nil {
		return nil, usageErr(err)
	}
	return c, nil
}

func (f *netFlags) load() (*network.Network, error) {
	cat, err := f.loadCatalog()
	if err != nil {
		return nil, err
	}
	if f.network == "" || f.network == "default" {
		return network.Default(cat)
	}
	n, err := network.LoadFile(f.network, cat)
	if err != nil {
		return nil, usageErr(err)
	}
	return n, nil
}

// loadScaled is load with every pool's nodes divided by scale (rounded
// up; 1: as specified): the same sites and models, smaller.
func (f *netFlags) loadScaled(scale int) (*network.Network, error) {
	if scale <= 1 {
		return f.load()
	}
	cat, err := f.loadCatalog()
	if err != nil {
		return nil, err
	}
	spec := network.DefaultSpec()
	if f.network != "" && f.network != "default" {
		if spec, err = os.ReadFile(f.network); err != nil {
			return nil, usageErr(fmt.Errorf("read network spec: %w", err))
		}
	}
	n, err := tune.ScaledNetwork(spec, scale, cat)
	if err != nil {
		return nil, usageErr(err)
	}
	return n, nil
}
