package refresh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.yaml.in/yaml/v3"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/test/moto"
)

// motoConfig is an SDK configuration pointing every client at moto.
func motoConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

func baseCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	base, err := catalog.Embedded()
	if err != nil {
		t.Fatalf("embedded catalogue: %v", err)
	}
	return base
}

// motoZones asks moto directly (no filters) for a region's zones and keeps
// the available zones of type availability-zone.
func motoZones(ctx context.Context, t *testing.T, cfg aws.Config, region string) []string {
	t.Helper()
	out, err := regionClient(cfg, region).DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatalf("%s: DescribeAvailabilityZones: %v", region, err)
	}
	var azs []string
	for _, z := range out.AvailabilityZones {
		if aws.ToString(z.ZoneType) == "availability-zone" && z.State == types.AvailabilityZoneStateAvailable {
			azs = append(azs, aws.ToString(z.ZoneName))
		}
	}
	slices.Sort(azs)
	return azs
}

// motoOfferings asks moto directly (no filter, all pages) for every instance
// type offered in a region.
func motoOfferings(ctx context.Context, t *testing.T, cfg aws.Config, region string) map[string]bool {
	t.Helper()
	p := ec2.NewDescribeInstanceTypeOfferingsPaginator(regionClient(cfg, region), &ec2.DescribeInstanceTypeOfferingsInput{
		LocationType: types.LocationTypeRegion,
	})
	all := map[string]bool{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("%s: DescribeInstanceTypeOfferings: %v", region, err)
		}
		for _, o := range page.InstanceTypeOfferings {
			all[string(o.InstanceType)] = true
		}
	}
	return all
}

func TestRefreshAgainstMoto(t *testing.T) {
	endpoint := moto.Start(t)
	cfg := motoConfig(endpoint)
	base := baseCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("three regions", func(t *testing.T) {
		var progress bytes.Buffer
		now := time.Date(2027, 3, 4, 23, 59, 0, 0, time.UTC)
		got, err := Refresh(ctx, cfg, base, Options{
			Regions:  []string{"us-east-1", "af-south-1", "eu-west-1", "us-east-1"},
			Now:      func() time.Time { return now },
			Progress: &progress,
		})
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}

		want := []string{"af-south-1", "eu-west-1", "us-east-1"}
		if codes := got.RegionCodes(); !slices.Equal(codes, want) {
			t.Fatalf("regions = %v, want %v", codes, want)
		}
		if got.Updated != "2027-03-04" {
			t.Errorf("updated = %q, want 2027-03-04", got.Updated)
		}
		if got.Source != Source || !strings.Contains(got.Source, "EC2") {
			t.Errorf("source = %q", got.Source)
		}
		if !reflect.DeepEqual(got.GPUInstanceTypes, base.GPUInstanceTypes) {
			t.Errorf("the GPU type table was not kept from base")
		}

		for _, code := range want {
			r := got.Regions[code]
			if r.Name != base.Regions[code].Name || r.Name == "" {
				t.Errorf("%s: name = %q, want base's %q", code, r.Name, base.Regions[code].Name)
			}

			// Availability zones: exactly what moto reports, all in the region.
			wantAZs := motoZones(ctx, t, cfg, code)
			if len(wantAZs) == 0 {
				t.Fatalf("%s: moto reports no availability zone", code)
			}
			if !slices.Equal(r.AvailabilityZones, wantAZs) {
				t.Errorf("%s: AZs = %v, moto reports %v", code, r.AvailabilityZones, wantAZs)
			}
			for _, az := range r.AvailabilityZones {
				if !strings.HasPrefix(az, code) {
					t.Errorf("%s: AZ %q does not start with the region code", code, az)
				}
			}

			// GPU types: base's table ∩ moto's full (unfiltered) offering
			// list, in the table's order.
			offered := motoOfferings(ctx, t, cfg, code)
			var wantTypes []string
			for _, ty := range slices.SortedFunc(maps.Keys(base.GPUInstanceTypes), CompareInstanceTypes) {
				if offered[ty] {
					wantTypes = append(wantTypes, ty)
				}
			}
			if !slices.Equal(r.GPUInstanceTypes, wantTypes) {
				t.Errorf("%s: GPU types = %v, want %v", code, r.GPUInstanceTypes, wantTypes)
			}
			for _, ty := range r.GPUInstanceTypes {
				if _, ok := base.GPUInstanceTypes[ty]; !ok {
					t.Errorf("%s: offers %q, which base's table does not describe", code, ty)
				}
			}
			if !slices.IsSortedFunc(r.GPUInstanceTypes, CompareInstanceTypes) {
				t.Errorf("%s: GPU types not in catalogue order: %v", code, r.GPUInstanceTypes)
			}
			t.Logf("%s (%s): %d AZs %v, %d GPU types of %d offered types", code, r.Name, len(r.AvailabilityZones), r.AvailabilityZones, len(r.GPUInstanceTypes), len(offered))

			line := fmt.Sprintf("%s: %d AZs, %d GPU types\n", code, len(r.AvailabilityZones), len(r.GPUInstanceTypes))
			if !strings.Contains(progress.String(), line) {
				t.Errorf("progress lacks %q; got:\n%s", line, progress.String())
			}
		}
		if n := strings.Count(progress.String(), "\n"); n != len(want) {
			t.Errorf("progress has %d lines, want %d:\n%s", n, len(want), progress.String())
		}

		// af-south-1 offers p4d.24xlarge exactly when moto says so.
		out, err := regionClient(cfg, "af-south-1").DescribeInstanceTypeOfferings(ctx, &ec2.DescribeInstanceTypeOfferingsInput{
			LocationType: types.LocationTypeRegion,
			Filters:      []types.Filter{{Name: aws.String("instance-type"), Values: []string{"p4d.24xlarge"}}},
		})
		if err != nil {
			t.Fatalf("af-south-1: DescribeInstanceTypeOfferings: %v", err)
		}
		motoSays := len(out.InstanceTypeOfferings) > 0
		if got.Regions["af-south-1"].Offers("p4d.24xlarge") != motoSays {
			t.Errorf("af-south-1 offers p4d.24xlarge = %v, moto says %v", !motoSays, motoSays)
		}
		t.Logf("moto: af-south-1 offers p4d.24xlarge: %v", motoSays)

		if err := got.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
		data, err := got.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := catalog.Parse(data)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, data)
		}
		if !reflect.DeepEqual(back, got) {
			t.Errorf("Marshal/Parse round trip changed the catalogue:\n%s", data)
		}
	})

	t.Run("every region by default", func(t *testing.T) {
		out, err := regionClient(cfg, "us-east-1").DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
		if err != nil {
			t.Fatalf("DescribeRegions: %v", err)
		}
		var want []string
		for _, r := range out.Regions {
			want = append(want, aws.ToString(r.RegionName))
		}
		slices.Sort(want)

		start := time.Now()
		got, err := Refresh(ctx, cfg, base, Options{})
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if codes := got.RegionCodes(); !slices.Equal(codes, want) {
			t.Errorf("regions = %v, DescribeRegions says %v", codes, want)
		}
		if err := got.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
		if got.Updated != time.Now().Format("2006-01-02") {
			t.Errorf("updated = %q, want today", got.Updated)
		}
		types := 0
		for _, r := range got.Regions {
			types += len(r.GPUInstanceTypes)
		}
		t.Logf("moto: %d regions, %d region×GPU-type offerings, refreshed in %s", len(want), types, time.Since(start).Round(time.Millisecond))
	})

	t.Run("unknown region", func(t *testing.T) {
		_, err := Refresh(ctx, cfg, base, Options{Regions: []string{"eu-west-1", "xx-nowhere-1"}})
		if err == nil || !strings.Contains(err.Error(), `"xx-nowhere-1"`) {
			t.Fatalf("Refresh with an unknown region: err = %v, want one naming it", err)
		}
	})

	t.Run("unreachable endpoint names region and call", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := fmt.Sprintf("http://%s", l.Addr())
		l.Close()
		bad := motoConfig(dead)
		bad.RetryMaxAttempts = 1
		_, err = Refresh(ctx, bad, base, Options{Regions: []string{"eu-west-1"}})
		if err == nil || !strings.Contains(err.Error(), "us-east-1: DescribeRegions") {
			t.Fatalf("err = %v, want one naming us-east-1 and DescribeRegions", err)
		}
	})
}

func TestCheckCredentials(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range map[string]aws.Config{
		"anonymous": {Region: "us-east-1", Credentials: aws.AnonymousCredentials{}},
		"nil":       {Region: "us-east-1"},
		"empty keys": {Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, nil
		})},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckCredentials(ctx, cfg)
			if !errors.Is(err, ErrNoCredentials) {
				t.Fatalf("CheckCredentials = %v, want ErrNoCredentials", err)
			}
			msg := "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("message %q lacks %q", err, msg)
			}
			// Refresh fails the same way, before any call.
			if _, err := Refresh(ctx, cfg, baseCatalog(t), Options{}); !errors.Is(err, ErrNoCredentials) {
				t.Errorf("Refresh = %v, want ErrNoCredentials", err)
			}
		})
	}
	if err := CheckCredentials(ctx, motoConfig("http://127.0.0.1:1")); err != nil {
		t.Errorf("static credentials: %v", err)
	}
}

func TestCompareInstanceTypes(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"g5.xlarge", "g5.xlarge", 0},
		{"g5.xlarge", "g5.2xlarge", -1},
		{"g5.2xlarge", "g5.xlarge", 1},
		{"g5.2xlarge", "g5.4xlarge", -1},
		{"g5.4xlarge", "g5.12xlarge", -1}, // numeric, not lexical
		{"g5.12xlarge", "g5.8xlarge", 1},
		{"g5.24xlarge", "g5.48xlarge", -1},
		{"g5.48xlarge", "g5.metal", -1},
		{"g4dn.metal", "g4dn.16xlarge", 1},
		{"g4dn.metal", "g5.xlarge", -1}, // family first
		{"g6.48xlarge", "g6e.xlarge", -1},
		{"gr6.8xlarge", "p3.2xlarge", -1},
		{"p5.48xlarge", "p5e.48xlarge", -1},
		{"p5en.48xlarge", "p6-b200.48xlarge", -1},
		{"m5.large", "m5.xlarge", -1},
		{"t3.nano", "t3.micro", -1},
		{"t3.small", "t3.medium", -1},
		{"c7i.metal", "c7i.metal-24xl", -1},
		{"c7i.metal-24xl", "c7i.metal-48xl", -1},
		{"c7i.48xlarge", "c7i.metal-24xl", -1},
		{"x.metal-48xl", "x.weird", -1}, // unknown sizes last
		{"x.weird", "x.zany", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			if got := CompareInstanceTypes(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareInstanceTypes(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// The comparator reproduces the order catalog.yaml writes: its type table
// (key order, read from the YAML nodes since Go maps lose it) and every
// region's type list.
func TestCompareInstanceTypesMatchesCatalogYAML(t *testing.T) {
	base := baseCatalog(t)
	raw, err := os.ReadFile("../catalog.yaml") // the file catalog embeds
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var tableOrder []string
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "gpuInstanceTypes" {
			m := root.Content[i+1]
			for j := 0; j+1 < len(m.Content); j += 2 {
				tableOrder = append(tableOrder, m.Content[j].Value)
			}
		}
	}
	if len(tableOrder) != len(base.GPUInstanceTypes) {
		t.Fatalf("read %d table keys from catalog.yaml, the catalogue has %d", len(tableOrder), len(base.GPUInstanceTypes))
	}
	if sorted := slices.SortedFunc(slices.Values(tableOrder), CompareInstanceTypes); !slices.Equal(sorted, tableOrder) {
		t.Errorf("catalog.yaml table order %v\nsorted by CompareInstanceTypes %v", tableOrder, sorted)
	}
	for _, code := range base.RegionCodes() {
		if l := base.Regions[code].GPUInstanceTypes; !slices.IsSortedFunc(l, CompareInstanceTypes) {
			t.Errorf("%s: catalog.yaml lists %v, not in CompareInstanceTypes order", code, l)
		}
	}
}

func TestChunks(t *testing.T) {
	s := make([]string, 450)
	for i := range s {
		s[i] = fmt.Sprint(i)
	}
	got := chunks(s, maxFilterValues)
	if len(got) != 3 || len(got[0]) != 200 || len(got[1]) != 200 || len(got[2]) != 50 {
		t.Fatalf("chunk sizes wrong: %d chunks", len(got))
	}
	if !slices.Equal(slices.Concat(got...), s) {
		t.Errorf("chunks lost or reordered values")
	}
	if got := chunks(s[:200], 200); len(got) != 1 {
		t.Errorf("200 values: %d chunks, want 1", len(got))
	}
	if got := chunks(nil, 200); len(got) != 0 {
		t.Errorf("no values: %d chunks, want 0", len(got))
	}
}
