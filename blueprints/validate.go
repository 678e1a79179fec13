package blueprints

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/plinth-dev/plinth/blueprints/catalog"
	"github.com/plinth-dev/plinth/blueprints/versions"
)

// Check loads a blueprint, applies defaults and validates it: the whole
// pipeline, reporting every problem of the file at once (decoding and
// validation together). cat nil means the default catalogue.
func Check(path string, opts LoadOptions, cat *catalog.Catalog) (*Environment, error) {
	env, errs := load(path, opts)
	return finish(env, errs, cat)
}

// CheckBytes is Check for a blueprint held in memory.
func CheckBytes(file string, data []byte, opts LoadOptions, cat *catalog.Catalog) (*Environment, error) {
	env, errs := decodeBytes(file, data, opts)
	return finish(env, errs, cat)
}

func finish(env *Environment, errs ErrorList, cat *catalog.Catalog) (*Environment, error) {
	if env == nil {
		return nil, errs.Err()
	}
	if cat == nil {
		var err error
		if cat, err = catalog.Default(); err != nil {
			return nil, err
		}
	}
	env.Defaults(cat)
	errs = append(errs, env.validate(cat)...)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return env, nil
}

// Validate checks the environment (after Defaults) against the rules of
// the blueprint format and the region catalogue, and returns every problem
// as an ErrorList (nil when valid).
func (e *Environment) Validate(cat *catalog.Catalog) error {
	return e.validate(cat).Err()
}

func (e *Environment) validate(cat *catalog.Catalog) ErrorList {
	v := &validator{env: e, cat: cat}
	v.validate()
	return v.errs
}

type validator struct {
	env  *Environment
	cat  *catalog.Catalog
	errs ErrorList
}

// errorf records a problem at a field path, unless that field (or one that
// holds it) already failed to decode.
func (v *validator) errorf(path, format string, args ...any) {
	for p := path; ; p = parentPath(p) {
		if v.env.source.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	v.errs = append(v.errs, &FieldError{Position: v.env.Position(path), Path: path, Message: fmt.Sprintf(format, args...)})
}

// oneOf checks value against allowed values; empty is "required" when required.
func (v *validator) oneOf(path, value string, required bool, allowed ...string) {
	switch {
	case value == "" && required:
		v.errorf(path, "is required; allowed: %s", quoteList(allowed))
	case value != "" && !slices.Contains(allowed, value):
		msg := fmt.Sprintf("%q is not allowed; allowed: %s", value, quoteList(allowed))
		if s := suggest(value, allowed); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		v.errorf(path, "%s", msg)
	}
}

func (v *validator) intRange(path string, p *int, lo, hi int) {
	if p != nil && (*p < lo || *p > hi) {
		v.errorf(path, "%d is out of range; allowed: %d to %d", *p, lo, hi)
	}
}

// awsOnly reports a field set on provider kubernetes that only means something on aws.
func (v *validator) awsOnly(path string, set bool) {
	if set && v.env.Spec.Provider == ProviderKubernetes {
		v.errorf(path, "applies to provider aws only; remove it for provider kubernetes")
	}
}

func (v *validator) validate() {
	e := v.env
	switch {
	case e.APIVersion == "":
		v.errorf("apiVersion", "is required; allowed: %q", APIVersion)
	case e.APIVersion != APIVersion:
		v.errorf("apiVersion", "%q is not supported; allowed: %q", e.APIVersion, APIVersion)
	}
	switch {
	case e.Kind == "":
		v.errorf("kind", "is required; allowed: %q", KindEnvironment)
	case e.Kind != KindEnvironment:
		v.errorf("kind", "%q is not supported; allowed: %q", e.Kind, KindEnvironment)
	}
	v.metadata()
	v.spec()
}

var (
	dns1123Label  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelName     = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dns1123Domain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	awsTagChars   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	instanceType  = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	dbClass       = regexp.MustCompile(`^db\.[a-z0-9-]+\.[a-z0-9]+$`)
	semver        = regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	k8sVersion    = regexp.MustCompile(`^\d+\.\d+$`)
	promDuration  = regexp.MustCompile(`^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$`)
	configKey     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	ecrRepository = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	vpcID         = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetID      = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	tfOutputName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

const maxNameLength = 40

func (v *validator) metadata() {
	name := v.env.Metadata.Name
	switch {
	case name == "":
		v.errorf("metadata.name", "is required: a DNS-1123 label (lowercase letters, digits, '-') of at most %d characters", maxNameLength)
	case len(name) > maxNameLength:
		v.errorf("metadata.name", "%q is %d characters; at most %d allowed (it prefixes every resource name)", name, len(name), maxNameLength)
	case !dns1123Label.MatchString(name):
		v.errorf("metadata.name", "%q is not a DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	v.k8sLabels("metadata.labels", v.env.Metadata.Labels)
	v.awsTags("metadata.labels", v.env.Metadata.Labels)
}

// k8sLabels checks keys and values as Kubernetes label keys and values.
func (v *validator) k8sLabels(path string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		p := mapPath(path, k)
		if msg := checkQualifiedName(k); msg != "" {
			v.errorf(p, "key %q %s", k, msg)
		}
		if val := labels[k]; val != "" && (len(val) > 63 || !labelName.MatchString(val)) {
			v.errorf(p, "value %q is not a valid Kubernetes label value: at most 63 characters, letters, digits, '-', '_' or '.', starting and ending with a letter or digit", val)
		}
	}
}

// checkQualifiedName checks a Kubernetes qualified name ([prefix/]name) and
// says what is wrong, or returns "".
func checkQualifiedName(s string) string {
	prefix, name, hasPrefix := strings.Cut(s, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	switch {
	case hasPrefix && (prefix == "" || len(prefix) > 253 || !dns1123Domain.MatchString(prefix)):
		return "has an invalid prefix: it must be a lowercase DNS subdomain such as example.com"
	case name == "" || len(name) > 63 || !labelName.MatchString(name):
		return "is not a valid Kubernetes qualified name: at most 63 characters, letters, digits, '-', '_' or '.', starting and ending with a letter or digit, with an optional DNS prefix and '/'"
	}
	return ""
}

// awsTags checks keys and values against AWS tag rules.
func (v *validator) awsTags(path string, tags map[string]string) {
	for _, k := range sortedKeys(tags) {
		p := mapPath(path, k)
		val := tags[k]
		switch {
		case k == "" || utf8.RuneCountInString(k) > 128 || !awsTagChars.MatchString(k):
			v.errorf(p, "key %q is not a valid AWS tag key: 1 to 128 letters, digits, spaces or _ . : / = + - @", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			v.errorf(p, "key %q uses the prefix aws:, which AWS reserves", k)
		case strings.HasPrefix(k, "plinth:"):
			v.errorf(p, "key %q uses the prefix plinth:, which Plinth reserves for its own tags", k)
		}
		if utf8.RuneCountInString(val) > 256 || !awsTagChars.MatchString(val) {
			v.errorf(p, "value %q is not a valid AWS tag value: at most 256 letters, digits, spaces or _ . : / = + - @", val)
		}
	}
}

func (v *validator) spec() {
	s := &v.env.Spec
	v.oneOf("spec.provider", s.Provider, true, ProviderAWS, ProviderKubernetes)
	aws := s.Provider == ProviderAWS

	var region catalog.Region
	regionOK := false
	switch {
	case aws && s.Region == "":
		v.errorf("spec.region", "is required for provider aws, e.g. us-east-1")
	case aws:
		region, regionOK = v.cat.Region(s.Region)
		if !regionOK {
			msg := fmt.Sprintf("%q is not an AWS region in the catalogue (updated %s)", s.Region, v.cat.Updated)
			if sug := suggest(s.Region, v.cat.RegionCodes()); sug != "" {
				msg += fmt.Sprintf("; did you mean %q?", sug)
			}
			v.errorf("spec.region", "%s; known regions: %s", msg, strings.Join(v.cat.RegionCodes(), ", "))
		}
	default:
		v.awsOnly("spec.region", s.Region != "")
	}

	v.tags()
	v.network(region, regionOK)
	v.cluster()
	v.gpuNodePools(region, regionOK)
	v.storage()
	v.registry()
	v.tracking()
	v.monitoring()
	v.ciRunners()
	v.charts()
}

func (v *validator) tags() {
	tags := v.env.Spec.Tags
	for _, k := range []string{"owner", "cost-center"} {
		if tags[k] == "" {
			v.errorf(mapPath("spec.tags", k), "tag %q is required (policy tagging.required); required tags: owner, cost-center", k)
		}
	}
	v.oneOf("spec.tags.environment", tags["environment"], false, ClassDev, ClassStaging, ClassProd)
	v.awsTags("spec.tags", tags)
	if n := len(tags) + len(v.env.Metadata.Labels); n > 40 {
		v.errorf("spec.tags", "%d tags and labels together; at most 40 allowed (AWS allows 50 tags per resource and Plinth adds its own)", n)
	}
}

func (v *validator) network(region catalog.Region, regionOK bool) {
	n := v.env.Spec.Network
	if n == nil {
		return
	}
	v.awsOnly("spec.network", true)
	if v.env.Spec.Provider != ProviderAWS {
		return
	}
	if x := n.Existing; x != nil {
		v.existingNetwork(n)
		return
	}

	if prefix, err := netip.ParsePrefix(n.CIDR); err != nil || !prefix.Addr().Is4() {
		v.errorf("spec.network.cidr", "%q is not an IPv4 CIDR such as 10.40.0.0/16", n.CIDR)
	} else {
		switch {
		case prefix.Bits() < 16 || prefix.Bits() > 24:
			v.errorf("spec.network.cidr", "%q is a /%d; allowed: /16 to /24 (AWS VPC limits, room for subnets per AZ)", n.CIDR, prefix.Bits())
		case prefix.Masked() != prefix:
			v.errorf("spec.network.cidr", "%q has host bits set; did you mean %q?", n.CIDR, prefix.Masked().String())
		}
	}

	az := n.AvailabilityZones
	const path = "spec.network.availabilityZones"
	switch {
	case az == nil:
	case len(az.Names) > 0:
		seen := map[string]bool{}
		for i, name := range az.Names {
			p := fmt.Sprintf("%s[%d]", path, i)
			if seen[name] {
				v.errorf(p, "%q is listed twice", name)
			}
			seen[name] = true
			if regionOK && !region.HasZone(name) {
				v.errorf(p, "%q is not an availability zone of %s; it has: %s", name, v.env.Spec.Region, strings.Join(region.AvailabilityZones, ", "))
			}
		}
		if len(az.Names) < 2 || len(az.Names) > 6 {
			v.errorf(path, "%d AZs listed; allowed: 2 to 6 (EKS needs subnets in at least 2 AZs)", len(az.Names))
		}
	default:
		switch {
		case az.Count < 2 || az.Count > 6:
			v.errorf(path, "%d is out of range; allowed: 2 to 6 (EKS needs subnets in at least 2 AZs)", az.Count)
		case regionOK && az.Count > len(region.AvailabilityZones):
			v.errorf(path, "%d AZs asked, but %s has %d (%s)", az.Count, v.env.Spec.Region, len(region.AvailabilityZones), strings.Join(region.AvailabilityZones, ", "))
		}
	}
	v.oneOf("spec.network.natGateways", n.NATGateways, false, NATNone, NATSingle, NATPerAZ)
}

func (v *validator) existingNetwork(n *Network) {
	x := n.Existing
	const path = "spec.network.existing"
	if n.CIDR != "" {
		v.errorf("spec.network.cidr", "cannot be set with spec.network.existing: the existing VPC has its own range")
	}
	if n.AvailabilityZones != nil {
		v.errorf("spec.network.availabilityZones", "cannot be set with spec.network.existing: the existing subnets decide the AZs")
	}
	if n.NATGateways != "" {
		v.errorf("spec.network.natGateways", "cannot be set with spec.network.existing: the existing network has its own routing")
	}
	givenIDs := x.VPCID != "" || len(x.PrivateSubnetIDs) > 0 || len(x.PublicSubnetIDs) > 0
	switch {
	case givenIDs && x.FromTerraform != nil:
		v.errorf(path, "give either ids (vpcId, privateSubnetIds) or fromTerraform, not both")
	case !givenIDs && x.FromTerraform == nil:
		v.errorf(path, "needs either vpcId and privateSubnetIds, or fromTerraform")
	case x.FromTerraform != nil:
		tf := x.FromTerraform
		p := path + ".fromTerraform"
		if tf.Dir == "" {
			v.errorf(p+".dir", "is required: the Terraform root module directory, relative to the blueprint")
		}
		for _, f := range []struct{ name, value string }{{"vpcId", tf.VPCID}, {"privateSubnetIds", tf.PrivateSubnetIDs}, {"publicSubnetIds", tf.PublicSubnetIDs}} {
			switch {
			case f.value == "" && f.name != "publicSubnetIds":
				v.errorf(p+"."+f.name, "is required: the name of the Terraform output holding it")
			case f.value != "" && !tfOutputName.MatchString(f.value):
				v.errorf(p+"."+f.name, "%q is not a Terraform output name (letters, digits, '_' and '-', starting with a letter or '_')", f.value)
			}
		}
	default:
		if !vpcID.MatchString(x.VPCID) {
			v.errorf(path+".vpcId", "%q is not a VPC id such as vpc-0a1b2c3d4e5f67890", x.VPCID)
		}
		if len(x.PrivateSubnetIDs) < 2 {
			v.errorf(path+".privateSubnetIds", "%d given; at least 2 private subnets in different AZs are needed (EKS)", len(x.PrivateSubnetIDs))
		}
		for field, ids := range map[string][]string{"privateSubnetIds": x.PrivateSubnetIDs, "publicSubnetIds": x.PublicSubnetIDs} {
			for i, id := range ids {
				if !subnetID.MatchString(id) {
					v.errorf(fmt.Sprintf("%s.%s[%d]", path, field, i), "%q is not a subnet id such as subnet-0a1b2c3d4e5f67890", id)
				}
			}
		}
	}
}

func (v *validator) cluster() {
	c := v.env.Spec.Cluster
	if c == nil {
		return
	}
	aws := v.env.Spec.Provider == ProviderAWS
	v.awsOnly("spec.cluster.kubernetesVersion", c.KubernetesVersion != "")
	v.awsOnly("spec.cluster.endpointAccess", c.EndpointAccess != "")
	if aws {
		if c.Kubeconfig != "" {
			v.errorf("spec.cluster.kubeconfig", "applies to provider kubernetes only; with provider aws Plinth creates the cluster and its kubeconfig")
		}
		if c.Context != "" {
			v.errorf("spec.cluster.context", "applies to provider kubernetes only")
		}
		supported := versions.Get().Kubernetes.Supported
		switch {
		case !k8sVersion.MatchString(c.KubernetesVersion):
			v.errorf("spec.cluster.kubernetesVersion", "%q is not a major.minor version; allowed: %s (quote it: \"1.30\" is not 1.3)", c.KubernetesVersion, quoteList(supported))
		case !slices.Contains(supported, c.KubernetesVersion):
			v.errorf("spec.cluster.kubernetesVersion", "%q is not supported; allowed: %s", c.KubernetesVersion, quoteList(supported))
		}
		v.oneOf("spec.cluster.endpointAccess", c.EndpointAccess, false, EndpointPrivate, EndpointPublic, EndpointBoth)
		if v.env.Class() == ClassProd && (c.EndpointAccess == EndpointPublic || c.EndpointAccess == EndpointBoth) {
			v.errorf("spec.cluster.endpointAccess", "%q opens the API server to the internet, which prod forbids; allowed in prod: \"private\"", c.EndpointAccess)
		}
	}
	if p := c.SystemPool; p != nil {
		const path = "spec.cluster.systemPool"
		if p.InstanceType != "" && !instanceType.MatchString(p.InstanceType) {
			v.errorf(path+".instanceType", "%q is not an EC2 instance type such as m6i.large", p.InstanceType)
		}
		if aws && p.InstanceType == "" {
			v.errorf(path+".instanceType", "is required, e.g. m6i.large")
		}
		v.intRange(path+".min", p.Min, 1, 100)
		v.intRange(path+".max", p.Max, 1, 100)
		if p.Min != nil && p.Max != nil && *p.Max < *p.Min {
			v.errorf(path+".max", "%d is less than min (%d)", *p.Max, *p.Min)
		}
	}
}

func (v *validator) gpuNodePools(region catalog.Region, regionOK bool) {
	aws := v.env.Spec.Provider == ProviderAWS
	names := map[string]int{}
	for i, p := range v.env.Spec.GPUNodePools {
		path := fmt.Sprintf("spec.gpuNodePools[%d]", i)
		switch {
		case p.Name == "":
			v.errorf(path+".name", "is required: a DNS-1123 label such as train")
		case len(p.Name) > 20 || !dns1123Label.MatchString(p.Name):
			v.errorf(path+".name", "%q is not a DNS-1123 label of at most 20 characters (lowercase letters, digits, '-')", p.Name)
		}
		if j, dup := names[p.Name]; dup && p.Name != "" {
			v.errorf(path+".name", "%q is already the name of spec.gpuNodePools[%d]; pool names must be unique", p.Name, j)
		}
		names[p.Name] = i

		if len(p.InstanceTypes) == 0 {
			v.errorf(path+".instanceTypes", "is required: at least one GPU instance type, e.g. [g5.xlarge]")
		}
		seen := map[string]bool{}
		for j, t := range p.InstanceTypes {
			tp := fmt.Sprintf("%s.instanceTypes[%d]", path, j)
			if seen[t] {
				v.errorf(tp, "%q is listed twice", t)
			}
			seen[t] = true
			if aws {
				v.gpuInstanceType(tp, t, p, region, regionOK)
			} else if t == "" || len(t) > 63 || !labelName.MatchString(t) {
				v.errorf(tp, "%q is not a valid node.kubernetes.io/instance-type label value", t)
			}
		}

		v.oneOf(path+".capacityType", p.CapacityType, false, CapacityOnDemand, CapacitySpot)
		v.awsOnly(path+".capacityType", p.CapacityType != "" && p.CapacityType != CapacityOnDemand)
		v.intRange(path+".minSize", p.MinSize, 0, 1000)
		switch {
		case p.MaxSize == nil:
			v.errorf(path+".maxSize", "is required: how many nodes the pool may grow to (at least 1)")
		case *p.MaxSize < 1 || *p.MaxSize > 1000:
			v.errorf(path+".maxSize", "%d is out of range; allowed: 1 to 1000", *p.MaxSize)
		case p.MinSize != nil && *p.MaxSize < *p.MinSize:
			v.errorf(path+".maxSize", "%d is less than minSize (%d)", *p.MaxSize, *p.MinSize)
		}
		v.awsOnly(path+".diskSizeGiB", p.DiskSizeGiB != nil)
		v.intRange(path+".diskSizeGiB", p.DiskSizeGiB, 20, 16384)

		if g := p.GPU; g != nil {
			v.oneOf(path+".gpu.sharing", g.Sharing, false, SharingNone, SharingTimeSlicing, SharingMIG)
			if g.Replicas != nil && g.Sharing != SharingTimeSlicing {
				v.errorf(path+".gpu.replicas", "applies to sharing: timeSlicing only")
			} else {
				v.intRange(path+".gpu.replicas", g.Replicas, 2, 48)
			}
		}
		v.k8sLabels(path+".labels", p.Labels)
		type taintID struct{ key, effect string }
		taints := map[taintID]bool{}
		for j, t := range p.Taints {
			tp := fmt.Sprintf("%s.taints[%d]", path, j)
			if t.Key == "" {
				v.errorf(tp+".key", "is required, e.g. nvidia.com/gpu")
			} else if msg := checkQualifiedName(t.Key); msg != "" {
				v.errorf(tp+".key", "%q %s", t.Key, msg)
			}
			if t.Value != "" && (len(t.Value) > 63 || !labelName.MatchString(t.Value)) {
				v.errorf(tp+".value", "%q is not a valid taint value: at most 63 letters, digits, '-', '_' or '.'", t.Value)
			}
			v.oneOf(tp+".effect", t.Effect, true, EffectNoSchedule, EffectPreferNoSchedule, EffectNoExecute)
			id := taintID{t.Key, t.Effect}
			if taints[id] {
				v.errorf(tp, "taint %s:%s is given twice", t.Key, t.Effect)
			}
			taints[id] = true
		}
	}
}

func (v *validator) gpuInstanceType(path, t string, p GPUNodePool, region catalog.Region, regionOK bool) {
	spec, known := v.cat.GPUType(t)
	if !known {
		msg := fmt.Sprintf("%q is not an NVIDIA GPU instance type in the catalogue", t)
		all := make([]string, 0, len(v.cat.GPUInstanceTypes))
		for name := range v.cat.GPUInstanceTypes {
			all = append(all, name)
		}
		if s := suggest(t, all); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		v.errorf(path, "%s; GPU families: %s", msg, strings.Join(catalog.Families(all), ", "))
		return
	}
	if regionOK && !region.Offers(t) {
		if fams := region.GPUFamilies(); len(fams) == 0 {
			v.errorf(path, "%q (%d× %s) is not offered in %s, which offers no GPU instance type", t, spec.GPUs, spec.GPUModel, v.env.Spec.Region)
		} else {
			v.errorf(path, "%q (%d× %s) is not offered in %s; GPU families offered there: %s", t, spec.GPUs, spec.GPUModel, v.env.Spec.Region, strings.Join(fams, ", "))
		}
	}
	if p.GPU != nil && p.GPU.Sharing == SharingMIG && !spec.MIG {
		v.errorf(path, "%q has %s GPUs, which cannot be partitioned with MIG (gpu.sharing: mig needs A100, H100, H200 or B200); use timeSlicing or another type", t, spec.GPUModel)
	}
}

var bucketName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// bucketSuffixLength is the random suffix Pulumi adds to auto-named
// resources ("-" and 7 characters).
const bucketSuffixLength = 8

func (v *validator) storage() {
	st := v.env.Spec.Storage
	aws := v.env.Spec.Provider == ProviderAWS
	var trackingBuckets []string
	if st != nil {
		names := map[string]int{}
		for i, b := range st.Buckets {
			path := fmt.Sprintf("spec.storage.buckets[%d]", i)
			full := len(v.env.Metadata.Name) + 1 + len(b.Name) + bucketSuffixLength
			switch {
			case b.Name == "":
				v.errorf(path+".name", "is required: lowercase letters, digits and '-', e.g. artifacts")
			case !bucketName.MatchString(b.Name):
				v.errorf(path+".name", "%q is not allowed: lowercase letters, digits and '-', starting and ending with a letter or digit", b.Name)
			case full > 63:
				v.errorf(path+".name", "%q makes the bucket name %d characters (<metadata.name>-<name> plus an %d-character suffix); S3 allows 63: shorten it to at most %d", b.Name, full, bucketSuffixLength, len(b.Name)-(full-63))
			}
			if j, dup := names[b.Name]; dup && b.Name != "" {
				v.errorf(path+".name", "%q is already the name of spec.storage.buckets[%d]; bucket names must be unique", b.Name, j)
			}
			names[b.Name] = i
			v.oneOf(path+".purpose", b.Purpose, false, PurposeTracking, PurposeDatasets, PurposeModels, PurposeGeneral)
			if b.Purpose == PurposeTracking {
				trackingBuckets = append(trackingBuckets, path)
			}
			if b.ExpireNoncurrentAfterDays != nil {
				if b.Versioning != nil && !*b.Versioning {
					v.errorf(path+".expireNoncurrentAfterDays", "needs versioning: true (there are no noncurrent versions without it)")
				} else {
					v.intRange(path+".expireNoncurrentAfterDays", b.ExpireNoncurrentAfterDays, 1, 3650)
				}
			}
			v.oneOf(path+".encryption", b.Encryption, false, EncryptionKMS, EncryptionS3)
			v.awsOnly(path+".encryption", b.Encryption != "")
			if aws && v.env.Class() == ClassProd && b.Encryption == EncryptionS3 {
				v.errorf(path+".encryption", "\"s3\" is not allowed in prod; prod requires \"kms\"")
			}
		}
	}
	if v.env.Spec.Tracking.IsEnabled() {
		switch len(trackingBuckets) {
		case 0:
			v.errorf("spec.storage", "tracking is enabled, so one bucket must have purpose: tracking (for MLflow artifacts)")
		case 1:
		default:
			for _, p := range trackingBuckets[1:] {
				v.errorf(p+".purpose", "only one bucket may have purpose: tracking (%s has it already)", trackingBuckets[0])
			}
		}
	}
}

func (v *validator) registry() {
	r := v.env.Spec.Registry
	if r == nil {
		return
	}
	v.awsOnly("spec.registry", true)
	if v.env.Spec.Provider != ProviderAWS {
		return
	}
	seen := map[string]bool{}
	for i, name := range r.Repositories {
		p := fmt.Sprintf("spec.registry.repositories[%d]", i)
		if len(name) == 0 || len(name) > 200 || !ecrRepository.MatchString(name) {
			v.errorf(p, "%q is not an ECR repository name: lowercase letters and digits, separated by '.', '_', '-' or '/'", name)
		}
		if seen[name] {
			v.errorf(p, "%q is listed twice", name)
		}
		seen[name] = true
	}
	v.intRange("spec.registry.keepLastImages", r.KeepLastImages, 1, 10000)
}

func (v *validator) tracking() {
	t := v.env.Spec.Tracking
	if t == nil {
		return
	}
	aws := v.env.Spec.Provider == ProviderAWS
	v.oneOf("spec.tracking.server", t.Server, false, TrackingServerMLflow)
	if t.Version != "" && !semver.MatchString(t.Version) {
		v.errorf("spec.tracking.version", "%q is not a pinned x.y.z version such as %q", t.Version, versions.Get().MLflow.Default)
	}
	v.intRange("spec.tracking.replicas", t.Replicas, 1, 20)
	v.oneOf("spec.tracking.auth", t.Auth, false, AuthBasic, AuthNone)
	if t.Auth == AuthNone && v.env.Class() != ClassDev {
		v.errorf("spec.tracking.auth", "\"none\" is allowed in dev only (this environment is %s); use \"basic\"", v.env.Class())
	}
	if db := t.Database; db != nil {
		const path = "spec.tracking.database"
		v.awsOnly(path+".instanceClass", db.InstanceClass != "")
		v.awsOnly(path+".multiAz", db.MultiAZ != nil)
		v.awsOnly(path+".deletionProtection", db.DeletionProtection != nil)
		if aws && !dbClass.MatchString(db.InstanceClass) {
			v.errorf(path+".instanceClass", "%q is not an RDS instance class such as db.t4g.medium", db.InstanceClass)
		}
		v.intRange(path+".storageGiB", db.StorageGiB, 20, 65536)
		if aws && v.env.Class() == ClassProd && db.DeletionProtection != nil && !*db.DeletionProtection {
			v.errorf(path+".deletionProtection", "false is not allowed in prod; prod requires true")
		}
	}
	if in := t.Ingress; in != nil {
		if in.Host == "" || len(in.Host) > 253 || !dns1123Domain.MatchString(in.Host) {
			v.errorf("spec.tracking.ingress.host", "%q is not a DNS name such as mlflow.example.internal", in.Host)
		}
	}
}

func (v *validator) monitoring() {
	m := v.env.Spec.Monitoring
	if m == nil {
		return
	}
	const path = "spec.monitoring"
	if pr := m.Prometheus; pr != nil {
		if pr.Retention == "" || !promDuration.MatchString(pr.Retention) {
			v.errorf(path+".prometheus.retention", "%q is not a Prometheus duration such as 15d, 12h or 2w", pr.Retention)
		}
		v.intRange(path+".prometheus.storageGiB", pr.StorageGiB, 1, 65536)
	}
	v.oneOf(path+".gpuMetrics", m.GPUMetrics, false, GPUMetricsDCGM, GPUMetricsNone)
	if m.GPUMetrics == GPUMetricsDCGM && len(v.env.Spec.GPUNodePools) == 0 {
		v.errorf(path+".gpuMetrics", "dcgm needs at least one GPU node pool to run on; use \"none\"")
	}
	if g := m.Grafana; g != nil {
		seen := map[string]bool{}
		for i, d := range g.Dashboards {
			p := fmt.Sprintf("%s.grafana.dashboards[%d]", path, i)
			v.oneOf(p, d, true, DashboardGPU, DashboardTracking, DashboardModelDrift, DashboardCluster)
			if seen[d] {
				v.errorf(p, "%q is listed twice", d)
			}
			seen[d] = true
			if d == DashboardGPU && m.GPUMetrics != GPUMetricsDCGM {
				v.errorf(p, "the gpu dashboard shows DCGM metrics; it needs gpuMetrics: dcgm")
			}
			if d == DashboardTracking && !v.env.Spec.Tracking.IsEnabled() {
				v.errorf(p, "the tracking dashboard needs tracking enabled")
			}
		}
	}
	if a := m.Alerts; a != nil {
		if s := a.ModelDriftScore; s != nil && (*s <= 0 || *s > 1) {
			v.errorf(path+".alerts.modelDriftScore", "%g is out of range; allowed: above 0, up to 1", *s)
		}
		v.intRange(path+".alerts.inferenceLatencyP99Ms", a.InferenceLatencyP99Ms, 1, 600000)
		v.intRange(path+".alerts.gpuIdlePercent", a.GPUIdlePercent, 0, 100)
	}
}

func (v *validator) ciRunners() {
	names := map[string]int{}
	for i, r := range v.env.Spec.CIRunners {
		path := fmt.Sprintf("spec.ciRunners[%d]", i)
		switch {
		case r.Name == "":
			v.errorf(path+".name", "is required: a DNS-1123 label such as gh")
		case len(r.Name) > 30 || !dns1123Label.MatchString(r.Name):
			v.errorf(path+".name", "%q is not a DNS-1123 label of at most 30 characters", r.Name)
		}
		if j, dup := names[r.Name]; dup && r.Name != "" {
			v.errorf(path+".name", "%q is already the name of spec.ciRunners[%d]; runner names must be unique", r.Name, j)
		}
		names[r.Name] = i
		v.oneOf(path+".kind", r.Kind, true, RunnerGitHubActions, RunnerGitLab)
		v.httpsURL(path+".url", r.URL, true)
		switch {
		case r.TokenSecret == "":
			v.errorf(path+".tokenSecret", "is required: the name of a stack secret holding the token (pulumi config set --secret NAME)")
		case !configKey.MatchString(r.TokenSecret):
			v.errorf(path+".tokenSecret", "%q is not a stack config key name (letters, digits, '_' and '-', starting with a letter); it names the secret, it is not the token", r.TokenSecret)
		}
		v.intRange(path+".minRunners", r.MinRunners, 0, 1000)
		v.intRange(path+".maxRunners", r.MaxRunners, 1, 1000)
		if r.MinRunners != nil && r.MaxRunners != nil && *r.MaxRunners < *r.MinRunners {
			v.errorf(path+".maxRunners", "%d is less than minRunners (%d)", *r.MaxRunners, *r.MinRunners)
		}
		if r.GPU != nil && *r.GPU && len(v.env.Spec.GPUNodePools) == 0 {
			v.errorf(path+".gpu", "GPU runners need a GPU node pool to run on; spec.gpuNodePools is empty")
		}
	}
}

// httpsURL checks a URL: absolute https, with a host, and no credentials
// (a blueprint never holds a secret).
func (v *validator) httpsURL(path, raw string, required bool) {
	if raw == "" {
		if required {
			v.errorf(path, "is required: an https:// URL")
		}
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		v.errorf(path, "%q is not an absolute URL such as https://github.com/example-org", raw)
	case u.User != nil:
		v.errorf(path, "holds credentials; a blueprint never holds a secret: put the token in a stack secret and name it in tokenSecret")
	case u.Scheme != "https":
		v.errorf(path, "%q must use https", raw)
	}
}

func (v *validator) charts() {
	c := v.env.Spec.Charts
	if c == nil || c.Repository == "" {
		return
	}
	const path = "spec.charts.repository"
	u, err := url.Parse(c.Repository)
	switch {
	case err != nil || u.Host == "":
		v.errorf(path, "%q is not a chart repository URL such as oci://registry.example.internal/charts or https://charts.example.internal", c.Repository)
	case u.User != nil:
		v.errorf(path, "holds credentials; a blueprint never holds a secret: configure registry credentials outside the blueprint")
	case u.Scheme != "oci" && u.Scheme != "https" && u.Scheme != "http":
		v.errorf(path, "scheme %q is not allowed; allowed: \"oci\", \"https\" or \"http\"", u.Scheme)
	}
}
