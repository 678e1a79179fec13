package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Summary is the spread of one figure over several runs.
type Summary struct {
	// N is the number of runs.
	N int `json:"n"`
	// Median is the figure to quote.
	Median float64 `json:"median"`
	// Min and Max bound the runs: a wide range says the machine was noisy.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Samples are the runs, in the order they were taken.
	Samples []float64 `json:"samples,omitempty"`
}

// Summarize returns the median, minimum and maximum of samples (the zero
// Summary for none). The median of an even count is the mean of the middle two.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: s[0], Max: s[n-1], Samples: slices.Clone(samples)}
}

// PairRatios returns a[i]/b[i] for each pair of runs taken side by side
// (A B A B ...), so that a drift in the machine's speed affects both sides
// of each ratio alike. The slices must have the same, non-zero length and b
// no zero.
func PairRatios(a, b []float64) ([]float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return nil, fmt.Errorf("pair ratios: %d against %d runs; want the same non-zero count", len(a), len(b))
	}
	out := make([]float64, len(a))
	for i := range a {
		if b[i] == 0 {
			return nil, fmt.Errorf("pair ratios: run %d of the divisor is zero", i)
		}
		out[i] = a[i] / b[i]
	}
	return out, nil
}

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	// R2 is the coefficient of determination: 1 is a perfect line.
	R2 float64 `json:"r2"`
}

// LinearFit fits a line to the points (x[i], y[i]); it needs at least two
// distinct x.
func LinearFit(x, y []float64) (Fit, error) {
	if len(x) != len(y) || len(x) < 2 {
		return Fit{}, fmt.Errorf("linear fit: %d x against %d y; want the same count, at least 2", len(x), len(y))
	}
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return Fit{}, errors.New("linear fit: all x are equal")
	}
	f := Fit{Slope: (n*sxy - sx*sy) / den}
	f.Intercept = (sy - f.Slope*sx) / n
	mean := sy / n
	var ssRes, ssTot float64
	for i := range x {
		d := y[i] - (f.Intercept + f.Slope*x[i])
		ssRes += d * d
		ssTot += (y[i] - mean) * (y[i] - mean)
	}
	f.R2 = 1
	if ssTot > 0 {
		f.R2 = 1 - ssRes/ssTot
	}
	return f, nil
}

// roundSig rounds v to three significant digits, for display.
func roundSig(v float64) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	p := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
