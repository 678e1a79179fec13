// Package refresh rebuilds the region catalogue (package catalog) from the
// EC2 APIs of the AWS account in use: DescribeRegions for the regions,
// DescribeAvailabilityZones for each region's availability zones and
// DescribeInstanceTypeOfferings for the GPU instance types each region offers.
// The GPU instance type table itself (GPU model, count, memory, MIG, arch) is
// not something EC2 offerings say, so it is kept from a base catalogue.
package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/plinth-dev/plinth/blueprints/catalog"
)

// Source is what a refreshed catalogue says about where its data came from.
const Source = "EC2 APIs of the AWS account in use (DescribeRegions, DescribeAvailabilityZones for zone-type availability-zone in state available, DescribeInstanceTypeOfferings with location-type region), gathered by `plinth catalog refresh`; the GPU instance type table is kept from the previous catalogue"

// maxFilterValues is the most values EC2 accepts in one filter.
const maxFilterValues = 200

// concurrency is how many regions are queried at once.
const concurrency = 4

// ErrNoCredentials is returned (wrapped) by CheckCredentials and Refresh when
// no AWS credentials can be found.
var ErrNoCredentials = errors.New("no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")

// Options tune Refresh.
type Options struct {
	// Regions restricts the refresh to these region codes. Default: every
	// region DescribeRegions returns for the account (the enabled ones).
	// Each must be among those DescribeRegions returns.
	Regions []string
	// Now gives the date recorded as the catalogue's updated date.
	// Default time.Now.
	Now func() time.Time
	// Progress, when set, receives one line per region as it is done, e.g.
	// "eu-west-1: 3 AZs, 31 GPU types".
	Progress io.Writer
}

// CheckCredentials reports whether cfg can produce AWS credentials. When it
// cannot, the error wraps ErrNoCredentials (and the provider's own error).
func CheckCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return ErrNoCredentials
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("%w (%w)", ErrNoCredentials, err)
	}
	if !creds.HasKeys() {
		return ErrNoCredentials
	}
	return nil
}

// Refresh rebuilds the catalogue from EC2. The GPU instance type table and
// the regions' human names are kept from base; the regions, their
// availability zones and the GPU types they offer (among those base's table
// describes) come from EC2. The result passes catalog's Check.
func Refresh(ctx context.Context, cfg aws.Config, base *catalog.Catalog, opts Options) (*catalog.Catalog, error) {
	if base == nil || len(base.GPUInstanceTypes) == 0 {
		return nil, errors.New("catalogue refresh: the base catalogue describes no GPU instance type")
	}
	if err := CheckCredentials(ctx, cfg); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}

	home := cfg.Region
	if home == "" {
		home = "us-east-1"
	}
	enabled, err := describeRegions(ctx, regionClient(cfg, home))
	if err != nil {
		return nil, fmt.Errorf("catalogue refresh: %s: DescribeRegions: %w", home, err)
	}
	codes := enabled
	if len(opts.Regions) > 0 {
		codes = nil
		for _, r := range opts.Regions {
			if !slices.Contains(enabled, r) {
				return nil, fmt.Errorf("catalogue refresh: region %q is not among the regions DescribeRegions returns for this account (%s)", r, strings.Join(enabled, ", "))
			}
			if !slices.Contains(codes, r) {
				codes = append(codes, r)
			}
		}
	}
	slices.Sort(codes)

	known := slices.SortedFunc(maps.Keys(base.GPUInstanceTypes), CompareInstanceTypes)

	regions := make([]catalog.Region, len(codes))
	errs := make([]error, len(codes))
	var (
		wg       sync.WaitGroup
		progress sync.Mutex
		sem      = make(chan struct{}, concurrency)
	)
	for i, code := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("%s: %w", code, ctx.Err())
				return
			}
			defer func() { <-sem }()
			r, err := refreshRegion(ctx, regionClient(cfg, code), code, known)
			if err != nil {
				errs[i] = err
				return
			}
			r.Name = code
			if b, ok := base.Regions[code]; ok && b.Name != "" {
				r.Name = b.Name
			}
			regions[i] = r
			if opts.Progress != nil {
				progress.Lock()
				fmt.Fprintf(opts.Progress, "%s: %d AZs, %d GPU types\n", code, len(r.AvailabilityZones), len(r.GPUInstanceTypes))
				progress.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalogue refresh: %w", err)
	}

	out := &catalog.Catalog{
		Source:           Source,
		Updated:          now().Format("2006-01-02"),
		GPUInstanceTypes: maps.Clone(base.GPUInstanceTypes),
		Regions:          make(map[string]catalog.Region, len(codes)),
	}
	for i, code := range codes {
		out.Regions[code] = regions[i]
	}
	if err := out.Check(); err != nil {
		return nil, fmt.Errorf("catalogue refresh: the refreshed catalogue is inconsistent: %w", err)
	}
	return out, nil
}

// regionClient returns an EC2 client for one region.
func regionClient(cfg aws.Config, region string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })
}

// describeRegions returns the codes of the regions enabled for the account.
func describeRegions(ctx context.Context, c *ec2.Client) ([]string, error) {
	out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(false)})
	if err != nil {
		return nil, err
	}
	var codes []string
	for _, r := range out.Regions {
		if code := aws.ToString(r.RegionName); code != "" && !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return nil, errors.New("returned no region")
	}
	slices.Sort(codes)
	return codes, nil
}

// refreshRegion gathers one region's availability zones and the GPU types
// (among known, which is in catalogue order) it offers. Name is left empty.
func refreshRegion(ctx context.Context, c *ec2.Client, code string, known []string) (catalog.Region, error) {
	azs, err := availabilityZones(ctx, c, code)
	if err != nil {
		return catalog.Region{}, fmt.Errorf("%s: DescribeAvailabilityZones: %w", code, err)
	}
	offered, err := offeredTypes(ctx, c, known)
	if err != nil {
		return catalog.Region{}, fmt.Errorf("%s: DescribeInstanceTypeOfferings: %w", code, err)
	}
	return catalog.Region{AvailabilityZones: azs, GPUInstanceTypes: offered}, nil
}

// availabilityZones returns the region's available zones of zone-type
// availability-zone (no Local or Wavelength Zones), sorted.
func availabilityZones(ctx context.Context, c *ec2.Client, code string) ([]string, error) {
	out, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []types.Filter{
			{Name: aws.String("zone-type"), Values: []string{"availability-zone"}},
			{Name: aws.String("state"), Values: []string{string(types.AvailabilityZoneStateAvailable)}},
		},
	})
	if err != nil {
		return nil, err
	}
	azs := []string{}
	for _, z := range out.AvailabilityZones {
		// The filters should already have done this; keep it honest anyway.
		if aws.ToString(z.ZoneType) != "availability-zone" || z.State != types.AvailabilityZoneStateAvailable {
			continue
		}
		if r := aws.ToString(z.RegionName); r != "" && r != code {
			continue
		}
		if name := aws.ToString(z.ZoneName); name != "" && !slices.Contains(azs, name) {
			azs = append(azs, name)
		}
	}
	slices.Sort(azs)
	return azs, nil
}

// offeredTypes returns which of known (in catalogue order) the region
// offers, keeping known's order.
func offeredTypes(ctx context.Context, c *ec2.Client, known []string) ([]string, error) {
	offered := map[string]bool{}
	for _, chunk := range chunks(known, maxFilterValues) {
		p := ec2.NewDescribeInstanceTypeOfferingsPaginator(c, &ec2.DescribeInstanceTypeOfferingsInput{
			LocationType: types.LocationTypeRegion,
			Filters:      []types.Filter{{Name: aws.String("instance-type"), Values: chunk}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, o := range page.InstanceTypeOfferings {
				offered[string(o.InstanceType)] = true
			}
		}
	}
	out := []string{}
	for _, t := range known {
		if offered[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// chunks splits s into consecutive pieces of at most n elements.
func chunks(s []string, n int) [][]string {
	var out [][]string
	for len(s) > n {
		out = append(out, s[:n:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// CompareInstanceTypes orders instance type names the way the catalogue
// lists them: by family name (the part before the dot), then by size
// ascending (nano < micro < small < medium < large < xlarge < 2xlarge <
// ... < 48xlarge < metal < metal-24xl < metal-48xl). Sizes it does not
// recognise come last, in name order. It returns -1, 0 or +1.
func CompareInstanceTypes(a, b string) int {
	famA, sizeA, _ := strings.Cut(a, ".")
	famB, sizeB, _ := strings.Cut(b, ".")
	if c := cmp.Compare(famA, famB); c != 0 {
		return c
	}
	if c := cmp.Compare(sizeRank(sizeA), sizeRank(sizeB)); c != 0 {
		return c
	}
	return cmp.Compare(sizeA, sizeB)
}

// Size ranks: the named small sizes, then n×xlarge as n*rankXlarge, then
// metal (and metal-<n>xl), then anything else.
const (
	rankXlarge  = 100
	rankMetal   = 1_000_000
	rankUnknown = 2_000_000
)

var namedSizes = map[string]int{"nano": 1, "micro": 2, "small": 3, "medium": 4, "large": 5}

// sizeRank gives an instance size its place in size order.
func sizeRank(size string) int {
	if r, ok := namedSizes[size]; ok {
		return r
	}
	if size == "xlarge" {
		return rankXlarge
	}
	if n, ok := strings.CutSuffix(size, "xlarge"); ok {
		if v, err := strconv.Atoi(n); err == nil && v > 0 && v < rankMetal/rankXlarge {
			return v * rankXlarge
		}
		return rankUnknown
	}
	if size == "metal" {
		return rankMetal
	}
	if rest, ok := strings.CutPrefix(size, "metal-"); ok {
		if n, ok := strings.CutSuffix(rest, "xl"); ok {
			if v, err := strconv.Atoi(n); err == nil && v > 0 && v < rankUnknown-rankMetal {
				return rankMetal + v
			}
		}
	}
	return rankUnknown
}
