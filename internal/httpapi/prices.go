package httpapi

import (
	"fmt"
	"net/http"

	v1 "github.com/suanli/suanli/api/v1"
)

// maxPriceEntries bounds one price table.
const maxPriceEntries = 10_000

func (h *handler) prices(w http.ResponseWriter, r *http.Request) error {
	p, err := h.b.Prices(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) replacePrices(w http.ResponseWriter, r *http.Request) error {
	var u v1.PriceUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	if len(u.Prices) > maxPriceEntries {
		return Problems{{Field: "prices", Message: fmt.Sprintf("%d entries; at most %d", len(u.Prices), maxPriceEntries)}}
	}
	p, err := h.b.ReplacePrices(r.Context(), PrincipalFrom(r.Context()), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
