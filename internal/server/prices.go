package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/audit"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/store"
)

const pricesKey = "prices/table"

// priceRecord is the stored price table set through the API.
type priceRecord struct {
	Version   int64          `json:"version"`
	UpdatedAt time.Time      `json:"updated_at"`
	UpdatedBy string         `json:"updated_by"`
	Prices    []ledger.Price `json:"prices"`
}

// storedPrices returns the API's price table and its store revision; nil
// when none was ever set (the network spec's prices are in force).
func (s *Server) storedPrices(ctx context.Context) (*priceRecord, int64, error) {
	kv, err := s.s.Get(ctx, pricesKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read prices: %w", err)
	}
	var rec priceRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return nil, 0, fmt.Errorf("decode prices: %w", err)
	}
	return &rec, kv.ModRev, nil
}

// priceTable is the table usage is priced from now.
func (s *Server) priceTable(ctx context.Context) (*ledger.PriceTable, error) {
	rec, _, err := s.storedPrices(ctx)
	if err != nil || rec == nil {
		return s.cfg.Prices, err
	}
	return ledger.PricesWithLeases(rec.Prices, s.net)
}

// Prices implements httpapi.Admin.
func (s *Server) Prices(ctx context.Context) (v1.PriceList, error) {
	rec, _, err := s.storedPrices(ctx)
	if err != nil {
		return v1.PriceList{}, err
	}
	if rec == nil {
		out := v1.PriceList{Source: "network spec", Prices: []v1.PriceEntry{}}
		for _, p := range s.net.Prices {
			out.Prices = append(out.Prices, v1.PriceEntry{Site: string(p.Site), Model: p.Model, FenPerCardHour: p.FenPerCardHour, FenPerPFLOPHour: p.FenPerPFLOPHour})
		}
		return out, nil
	}
	t := rec.UpdatedAt
	out := v1.PriceList{Version: rec.Version, Source: "api", UpdatedAt: &t, UpdatedBy: rec.UpdatedBy, Prices: []v1.PriceEntry{}}
	for _, p := range rec.Prices {
		out.Prices = append(out.Prices, v1.PriceEntry{Site: string(p.Site), Model: p.Model, FenPerCardHour: p.FenPerCardHour, FenPerPFLOPHour: p.FenPerPFLOPHour})
	}
	return out, nil
}

// ReplacePrices implements httpapi.Admin: checked against the network and
// catalog, versioned (compare-and-swap on the version in force) and
// audited in the same transaction.
func (s *Server) ReplacePrices(ctx context.Context, p httpapi.Principal, u v1.PriceUpdate) (v1.PriceList, error) {
	var probs httpapi.Problems
	var ps []ledger.Price
	for i, e := range u.Prices {
		lp := ledger.Price{Site: model.SiteID(e.Site), FenPerCardHour: e.FenPerCardHour, FenPerPFLOPHour: e.FenPerPFLOPHour}
		if e.Site != "" {
			if _, ok := s.net.Site(model.SiteID(e.Site)); !ok {
				probs = append(probs, v1.Problem{Field: fmt.Sprintf("prices[%d].site", i), Message: fmt.Sprintf("unknown site %q", e.Site)})
			}
		}
		if e.Model != "" {
			m, ok := s.net.Catalog.Lookup(e.Model)
			if !ok {
				probs = append(probs, v1.Problem{Field: fmt.Sprintf("prices[%d].model", i), Message: fmt.Sprintf("unknown model %q", e.Model)})
			} else {
				lp.Model = m.ID
			}
		}
		if e.FenPerCardHour == 0 && e.FenPerPFLOPHour == 0 {
			probs = append(probs, v1.Problem{Field: fmt.Sprintf("prices[%d]", i), Message: "give fen_per_card_hour or fen_per_pflop_hour"})
		}
		ps = append(ps, lp)
	}
	if _, err := ledger.NewPriceTable(ps); err != nil {
		probs = append(probs, httpapi.ProblemsOf(err, "")...)
	}
	if len(probs) > 0 {
		return v1.PriceList{}, probs
	}
	rec, rev, err := s.storedPrices(ctx)
	if err != nil {
		return v1.PriceList{}, err
	}
	cur := int64(0)
	if rec != nil {
		cur = rec.Version
	}
	if u.Version != cur {
		return v1.PriceList{}, fmt.Errorf("%w: version %d is not the version in force (%d): read the prices again", httpapi.ErrConflict, u.Version, cur)
	}
	next := priceRecord{Version: cur + 1, UpdatedAt: s.now().UTC(), UpdatedBy: p.Actor(), Prices: ps}
	b, _ := json.Marshal(next)
	if _, err := s.w.apply(ctx, &mutation{
		conds: []store.Cond{{Key: pricesKey, ModRev: rev}},
		ops:   []store.Op{store.PutOp(pricesKey, b)},
		audit: []audit.Record{{Actor: p.Actor(), Action: "prices.replace", Target: "prices", Detail: fmt.Sprintf("version %d -> %d, %d entries", cur, next.Version, len(ps))}},
	}); err != nil {
		return v1.PriceList{}, fmt.Errorf("store prices: %w", err)
	}
	return s.Prices(ctx)
}
