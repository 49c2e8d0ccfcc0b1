package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/ledger"
)

func init() { register(newBillCmd) }

// Bill is one tenant's monthly bill: one line item per site and model,
// amounts in fen (0.01 CNY) and their CNY rendering.
type Bill struct {
	InvoiceID   string     `json:"invoice_id"`
	Tenant      string     `json:"tenant"`
	Month       string     `json:"month"`
	PeriodStart string     `json:"period_start"` // RFC 3339, UTC, inclusive
	PeriodEnd   string     `json:"period_end"`   // exclusive
	Currency    string     `json:"currency"`
	Lines       []BillLine `json:"lines"`
	TotalFen    int64      `json:"total_fen"`
	TotalCNY    string     `json:"total_cny"`
	KWhMilli    int64      `json:"kwh_milli"`
	KgCO2Milli  int64      `json:"kg_co2_milli"`
}

// BillLine is one line item: the quantity in the unit the price is set in.
type BillLine struct {
	Line          int    `json:"line"`
	Site          string `json:"site"`
	Model         string `json:"model"`
	Ownership     string `json:"ownership"`
	Unit          string `json:"unit"` // card-hour or pflop-hour; "none" when unpriced
	QuantityMilli int64  `json:"quantity_milli"`
	UnitPriceFen  int64  `json:"unit_price_fen"`
	AmountFen     int64  `json:"amount_fen"`
	Amount        string `json:"amount_cny"`
	CardHours     string `json:"card_hours"`
	PFLOPHours    string `json:"pflop_hours"`
	KWh           string `json:"kwh"`
	KgCO2         string `json:"kg_co2"`
}

// billOf turns a tenant's metered usage into its bill.
func billOf(u *v1.Usage) (Bill, error) {
	from, to, err := ledger.MonthRange(u.Month)
	if err != nil {
		return Bill{}, err
	}
	b := Bill{InvoiceID: fmt.Sprintf("SL-%s-%s", u.Month, u.Tenant), Tenant: u.Tenant, Month: u.Month,
		PeriodStart: unixRFC3339(from), PeriodEnd: unixRFC3339(to), Currency: "CNY", Lines: []BillLine{},
		TotalFen: u.CostFen, TotalCNY: fen(u.CostFen), KWhMilli: u.KWhMilli, KgCO2Milli: u.KgCO2Milli}
	var sum int64
	for i, l := range u.Lines {
		bl := BillLine{Line: i + 1, Site: l.Site, Model: l.Model, Ownership: l.Ownership, Unit: "none",
			AmountFen: l.CostFen, Amount: fen(l.CostFen), CardHours: milli(l.CardHoursMilli), PFLOPHours: milli(l.PFLOPHoursMilli),
			KWh: milli(l.KWhMilli), KgCO2: milli(l.KgCO2Milli)}
		switch {
		case l.FenPerPFLOPHour > 0:
			bl.Unit, bl.QuantityMilli, bl.UnitPriceFen = "pflop-hour", l.PFLOPHoursMilli, l.FenPerPFLOPHour
		case l.FenPerCardHour > 0:
			bl.Unit, bl.QuantityMilli, bl.UnitPriceFen = "card-hour", l.CardHoursMilli, l.FenPerCardHour
		}
		sum += l.CostFen
		b.Lines = append(b.Lines, bl)
	}
	if sum != u.CostFen {
		return Bill{}, fmt.Errorf("tenant %s: line items sum to %d fen but the usage total is %d", u.Tenant, sum, u.CostFen)
	}
	return b, nil
}

func unixRFC3339(s int64) string {
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

// billCSVHeader is the column order of the CSV export (one row per line
// item; the invoice's fields repeat on each row so every row stands alone).
var billCSVHeader = []string{"invoice_id", "tenant", "month", "period_start", "period_end", "currency", "line", "site", "model", "ownership",
	"unit", "quantity", "unit_price", "amount", "card_hours", "pflop_hours", "kwh", "kg_co2"}

func writeBillsCSV(w io.Writer, bills []Bill) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(billCSVHeader); err != nil {
		return err
	}
	for _, b := range bills {
		for _, l := range b.Lines {
			rec := []string{b.InvoiceID, b.Tenant, b.Month, b.PeriodStart, b.PeriodEnd, b.Currency, strconv.Itoa(l.Line), l.Site, l.Model, l.Ownership,
				l.Unit, milli(l.QuantityMilli), fen(l.UnitPriceFen), l.Amount, l.CardHours, l.PFLOPHours, l.KWh, l.KgCO2}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func newBillCmd() *cobra.Command {
	var month, format, tenant string
	return clientCmd("bill", "Monthly bills per tenant, one line item per site and model, for a finance system (admin)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			if month == "" {
				return usageErr(errors.New("--month is required, e.g. --month 2026-11"))
			}
			if _, _, err := ledger.MonthRange(month); err != nil {
				return usageErr(fmt.Errorf("--month: %w", err))
			}
			if cc.json {
				format = "json"
			}
			if format != "csv" && format != "json" {
				return usageErr(fmt.Errorf("--format %q: want csv or json", format))
			}
			tenants := []string{tenant}
			if tenant == "" {
				ts, err := c.Tenants(ctx)
				if err != nil {
					return err
				}
				tenants = tenants[:0]
				for _, t := range ts {
					tenants = append(tenants, t.ID)
				}
				sort.Strings(tenants)
			}
			bills := []Bill{}
			for _, t := range tenants {
				u, err := c.Usage(ctx, t, month)
				if err != nil {
					return fmt.Errorf("usage of %s: %w", t, err)
				}
				b, err := billOf(u)
				if err != nil {
					return err
				}
				bills = append(bills, b)
			}
			if format == "json" {
				return printJSON(out, bills)
			}
			return writeBillsCSV(out, bills)
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&month, "month", "", "YYYY-MM, UTC (required)")
			cmd.Flags().StringVar(&format, "format", "csv", "csv (one row per line item) or json (one bill per tenant)")
			cmd.Flags().StringVar(&tenant, "tenant", "", "bill one tenant only (default: every tenant)")
		})
}
