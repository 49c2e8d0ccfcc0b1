package model

// PerMille is part/whole in thousandths, rounded to the nearest (halves
// up), for non-negative part and positive whole; 0 when whole is not
// positive. Every share the project prints or serves (the ledger's
// percentages, the compliance report's domestic shares) is this one
// figure, so that 94.99% reads 95.0% everywhere and never 94.9% in one
// place and 95.0% in another.
func PerMille(part, whole int64) int64 {
	if whole <= 0 {
		return 0
	}
	return (part*1000 + whole/2) / whole
}
