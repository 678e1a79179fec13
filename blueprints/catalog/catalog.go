// Package catalog is the AWS region catalogue: for each region, its
// availability zones and the NVIDIA GPU instance types it offers, plus what
// each GPU instance type carries. The data lives in catalog.yaml (embedded),
// with its source and date; `plinth catalog refresh` rebuilds it from EC2.
package catalog

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed catalog.yaml
var embedded []byte

// EnvVar names an environment variable holding the path of a catalogue file
// to use instead of the embedded one (for example one written by
// `plinth catalog refresh`).
const EnvVar = "PLINTH_CATALOG"

// Catalog is the region catalogue.
type Catalog struct {
	// Source says where the data came from.
	Source string `yaml:"source"`
	// Updated is the date (YYYY-MM-DD) the data was gathered.
	Updated string `yaml:"updated"`
	// GPUInstanceTypes describes every GPU instance type Plinth knows, by name.
	GPUInstanceTypes map[string]GPUInstanceType `yaml:"gpuInstanceTypes"`
	// Regions lists the regions by code (us-east-1, ...).
	Regions map[string]Region `yaml:"regions"`
}

// GPUInstanceType is what one GPU instance type carries.
type GPUInstanceType struct {
	// GPUModel is the NVIDIA GPU, e.g. A100.
	GPUModel string `yaml:"gpuModel"`
	// GPUs is the GPU count per instance.
	GPUs int `yaml:"gpus"`
	// GPUMemoryGiB is the total GPU memory per instance.
	GPUMemoryGiB int `yaml:"gpuMemoryGiB"`
	// MIG is true when the GPU supports Multi-Instance GPU partitioning.
	MIG bool `yaml:"mig"`
	// Arch is the CPU architecture (x86_64 or arm64).
	Arch string `yaml:"arch"`
}

// Region is one AWS region.
type Region struct {
	// Name is the human name, e.g. "US East (N. Virginia)".
	Name string `yaml:"name"`
	// AvailabilityZones are the AZ names a typical account can use.
	AvailabilityZones []string `yaml:"availabilityZones,flow"`
	// GPUInstanceTypes are the GPU instance types offered in the region.
	GPUInstanceTypes []string `yaml:"gpuInstanceTypes,flow"`
}

var (
	defaultOnce sync.Once
	defaultCat  *Catalog
	defaultErr  error
)

// Default returns the catalogue in effect: the file named by $PLINTH_CATALOG
// when set, else the embedded one. It is read once.
func Default() (*Catalog, error) {
	defaultOnce.Do(func() {
		if path := os.Getenv(EnvVar); path != "" {
			defaultCat, defaultErr = Load(path)
			if defaultErr != nil {
				defaultErr = fmt.Errorf("%s=%s: %w", EnvVar, path, defaultErr)
			}
			return
		}
		defaultCat, defaultErr = Embedded()
	})
	return defaultCat, defaultErr
}

// Embedded returns the catalogue shipped in the binary.
func Embedded() (*Catalog, error) {
	c, err := Parse(embedded)
	if err != nil {
		return nil, fmt.Errorf("embedded catalogue: %w", err)
	}
	return c, nil
}

// Load reads a catalogue file.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes catalogue YAML strictly and checks that it is consistent.
func Parse(data []byte) (*Catalog, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode catalogue: %w", err)
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Check reports every inconsistency: regions without AZs, AZ names that do
// not belong to their region, types offered that the type table lacks.
func (c *Catalog) Check() error {
	var errs []error
	if c.Source == "" || c.Updated == "" {
		errs = append(errs, errors.New("catalogue must say its source and updated date"))
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("catalogue lists no region"))
	}
	for name, t := range c.GPUInstanceTypes {
		if t.GPUs < 1 || t.GPUModel == "" {
			errs = append(errs, fmt.Errorf("gpuInstanceTypes.%s: needs gpuModel and gpus ≥ 1", name))
		}
	}
	for _, code := range c.RegionCodes() {
		r := c.Regions[code]
		if len(r.AvailabilityZones) == 0 {
			errs = append(errs, fmt.Errorf("regions.%s: lists no availability zone", code))
		}
		for _, az := range r.AvailabilityZones {
			if !strings.HasPrefix(az, code) {
				errs = append(errs, fmt.Errorf("regions.%s: availability zone %q does not belong to the region", code, az))
			}
		}
		for _, t := range r.GPUInstanceTypes {
			if _, ok := c.GPUInstanceTypes[t]; !ok {
				errs = append(errs, fmt.Errorf("regions.%s: offers %q, which gpuInstanceTypes does not describe", code, t))
			}
		}
	}
	return errors.Join(errs...)
}

// RegionCodes returns the region codes in order.
func (c *Catalog) RegionCodes() []string {
	codes := make([]string, 0, len(c.Regions))
	for code := range c.Regions {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	return codes
}

// Region returns a region by code.
func (c *Catalog) Region(code string) (Region, bool) {
	r, ok := c.Regions[code]
	return r, ok
}

// GPUType returns what a GPU instance type carries, and whether it is a GPU
// instance type Plinth knows.
func (c *Catalog) GPUType(name string) (GPUInstanceType, bool) {
	t, ok := c.GPUInstanceTypes[name]
	return t, ok
}

// Offers reports whether the region offers an instance type.
func (r Region) Offers(instanceType string) bool {
	return slices.Contains(r.GPUInstanceTypes, instanceType)
}

// HasZone reports whether the region has an AZ of that name.
func (r Region) HasZone(az string) bool {
	return slices.Contains(r.AvailabilityZones, az)
}

// GPUFamilies returns the GPU instance families (g5, p4d, ...) the region
// offers, in order.
func (r Region) GPUFamilies() []string {
	return Families(r.GPUInstanceTypes)
}

// Families returns the distinct families (the part before the dot) of
// instance types, in order.
func Families(types []string) []string {
	var fams []string
	for _, t := range types {
		fam, _, _ := strings.Cut(t, ".")
		if !slices.Contains(fams, fam) {
			fams = append(fams, fam)
		}
	}
	sort.Strings(fams)
	return fams
}

// Marshal renders the catalogue as YAML with a header comment.
func (c *Catalog) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Plinth AWS region catalogue: availability zones and NVIDIA GPU instance types per region.\n")
	b.WriteString("# Read by `plinth validate` and `plinth blueprint copy`; rebuild with `plinth catalog refresh`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode catalogue: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode catalogue: %w", err)
	}
	return b.Bytes(), nil
}
