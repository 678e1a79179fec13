package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// TestCarveEveryRangeAndAZCount checks every /16../24 range (at several
// base addresses) over 2..6 AZs: one private and one public subnet per AZ,
// all inside the VPC, none overlapping, none smaller than /28, private
// subnets larger than public ones (equal only for a /24 over 6 AZs), and the
// same answer twice.
func TestCarveEveryRangeAndAZCount(t *testing.T) {
	bases := []string{"10.0.0.0", "172.16.0.0", "192.168.0.0", "100.64.0.0", "10.255.0.0"}
	for _, base := range bases {
		for bits := MinVPCPrefix; bits <= MaxVPCPrefix; bits++ {
			vpc := netip.PrefixFrom(netip.MustParseAddr(base), bits).Masked()
			for azs := MinAZs; azs <= MaxAZs; azs++ {
				name := fmt.Sprintf("%s/%d", vpc, azs)
				private, public, err := Carve(vpc.String(), azs)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if len(private) != azs || len(public) != azs {
					t.Errorf("%s: %d private and %d public subnets, want %d each", name, len(private), len(public), azs)
					continue
				}
				all := slices.Concat(private, public)
				for i, s := range all {
					if !s.IsValid() || s.Masked() != s {
						t.Errorf("%s: subnet %s is not a network address", name, s)
					}
					if s.Bits() > 28 {
						t.Errorf("%s: subnet %s is smaller than /28", name, s)
					}
					if s.Bits() <= vpc.Bits() || !vpc.Contains(s.Addr()) || !vpc.Contains(lastAddr(s)) {
						t.Errorf("%s: subnet %s is not inside the VPC", name, s)
					}
					for _, o := range all[i+1:] {
						if s.Overlaps(o) {
							t.Errorf("%s: subnets %s and %s overlap", name, s, o)
						}
					}
				}
				for i := range azs {
					if private[i].Bits() != private[0].Bits() || public[i].Bits() != public[0].Bits() {
						t.Errorf("%s: subnets of one kind differ in size: %v %v", name, private, public)
					}
				}
				wantStrict := !(bits == 24 && azs == 6)
				if p, q := private[0].Bits(), public[0].Bits(); p > q || wantStrict && p == q {
					t.Errorf("%s: private /%d is not larger than public /%d", name, p, q)
				}
				again, againPub, _ := Carve(vpc.String(), azs)
				if !slices.Equal(again, private) || !slices.Equal(againPub, public) {
					t.Errorf("%s: not deterministic", name)
				}
			}
		}
	}
}

func TestCarveKnownLayouts(t *testing.T) {
	tests := []struct {
		cidr            string
		azs             int
		private, public string
	}{
		{"10.0.0.0/16", 3,
			"10.0.0.0/18 10.0.64.0/18 10.0.128.0/18",
			"10.0.192.0/20 10.0.208.0/20 10.0.224.0/20"},
		{"10.0.0.0/16", 2,
			"10.0.0.0/18 10.0.64.0/18",
			"10.0.128.0/20 10.0.144.0/20"},
		{"10.20.0.0/20", 4,
			"10.20.0.0/23 10.20.2.0/23 10.20.4.0/23 10.20.6.0/23",
			"10.20.8.0/25 10.20.8.128/25 10.20.9.0/25 10.20.9.128/25"},
		{"192.168.1.0/24", 6,
			"192.168.1.0/28 192.168.1.16/28 192.168.1.32/28 192.168.1.48/28 192.168.1.64/28 192.168.1.80/28",
			"192.168.1.96/28 192.168.1.112/28 192.168.1.128/28 192.168.1.144/28 192.168.1.160/28 192.168.1.176/28"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.cidr, tt.azs), func(t *testing.T) {
			private, public, err := Carve(tt.cidr, tt.azs)
			if err != nil {
				t.Fatal(err)
			}
			if got := join(private); got != tt.private {
				t.Errorf("private = %s, want %s", got, tt.private)
			}
			if got := join(public); got != tt.public {
				t.Errorf("public = %s, want %s", got, tt.public)
			}
		})
	}
}

func TestCarveRejects(t *testing.T) {
	tests := []struct {
		cidr string
		azs  int
		want string
	}{
		{"10.0.0/16", 2, "not an IPv4 range"},
		{"banana", 2, "not an IPv4 range"},
		{"fd00::/56", 2, "not an IPv4 range"},
		{"10.0.0.0/15", 2, "must be a /16 to /24"},
		{"10.0.0.0/25", 2, "must be a /16 to /24"},
		{"10.0.1.0/16", 2, "host bits set; the range starts at 10.0.0.0/16"},
		{"10.0.0.0/16", 1, "1 availability zones"},
		{"10.0.0.0/16", 7, "7 availability zones"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.cidr, tt.azs), func(t *testing.T) {
			_, _, err := Carve(tt.cidr, tt.azs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func join(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
