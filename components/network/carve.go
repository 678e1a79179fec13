package network

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Limits of the VPC range and the AZ count a Network accepts.
const (
	// MinVPCPrefix is the largest VPC range accepted (/16).
	MinVPCPrefix = 16
	// MaxVPCPrefix is the smallest VPC range accepted (/24).
	MaxVPCPrefix = 24
	// MinAZs is the fewest availability zones a network spans.
	MinAZs = 2
	// MaxAZs is the most availability zones a network spans.
	MaxAZs = 6
	// smallestSubnet is the smallest subnet AWS allows (/28).
	smallestSubnet = 28
	// publicShrink is how many bits smaller a public subnet is than a
	// private one when there is room (a quarter of the size).
	publicShrink = 2
)

// Carve splits the VPC range cidr into one private and one public subnet
// per availability zone (azs of them), deterministically: the same input
// always gives the same subnets, private[i] and public[i] belonging to the
// i-th AZ.
//
// Private subnets (nodes, pods, databases) are as large as possible; public
// subnets (load balancers, NAT gateways) are a quarter of a private one, but
// never smaller than /28, the smallest subnet AWS allows. The private subnets
// come first from the start of the range, the public ones right after them;
// what is left at the end of the range stays free for later use. No two
// subnets overlap and all lie inside cidr.
//
// cidr must be an IPv4 network address with a /16 to /24 prefix, azs 2 to
// 6. Every such combination can be carved; only for a /24 over 6 AZs are the
// private subnets no larger than the public ones (all /28).
func Carve(cidr string, azs int) (private, public []netip.Prefix, err error) {
	vpc, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, nil, fmt.Errorf("CIDR %q is not an IPv4 range such as 10.0.0.0/16: %w", cidr, err)
	}
	if !vpc.Addr().Is4() {
		return nil, nil, fmt.Errorf("CIDR %q is not an IPv4 range such as 10.0.0.0/16", cidr)
	}
	if vpc.Bits() < MinVPCPrefix || vpc.Bits() > MaxVPCPrefix {
		return nil, nil, fmt.Errorf("CIDR %q must be a /%d to /%d range, not /%d", cidr, MinVPCPrefix, MaxVPCPrefix, vpc.Bits())
	}
	if vpc.Masked() != vpc {
		return nil, nil, fmt.Errorf("CIDR %q has host bits set; the range starts at %s", cidr, vpc.Masked())
	}
	if azs < MinAZs || azs > MaxAZs {
		return nil, nil, fmt.Errorf("cannot carve subnets for %d availability zones: %d to %d are supported", azs, MinAZs, MaxAZs)
	}

	size := func(bits int) uint64 { return 1 << (32 - bits) }
	room := size(vpc.Bits())
	for privBits := vpc.Bits() + 1; privBits <= smallestSubnet; privBits++ {
		pubBits := min(privBits+publicShrink, smallestSubnet)
		if uint64(azs)*(size(privBits)+size(pubBits)) > room {
			continue
		}
		a4 := vpc.Addr().As4()
		base := binary.BigEndian.Uint32(a4[:])
		at := func(offset uint64, bits int) netip.Prefix {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], base+uint32(offset))
			return netip.PrefixFrom(netip.AddrFrom4(b), bits)
		}
		pubStart := uint64(azs) * size(privBits)
		for i := range azs {
			private = append(private, at(uint64(i)*size(privBits), privBits))
			public = append(public, at(pubStart+uint64(i)*size(pubBits), pubBits))
		}
		return private, public, nil
	}
	return nil, nil, fmt.Errorf("CIDR %q is too small for %d availability zones with subnets of at least /%d", cidr, azs, smallestSubnet)
}
