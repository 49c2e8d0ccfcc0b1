package main

import (
	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/network"
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
