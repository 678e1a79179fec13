package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// thing is a stand-in custom resource with one output the cloud decides.
type thing struct {
	pulumi.CustomResourceState
	Arn  pulumi.StringOutput `pulumi:"arn"`
	Name pulumi.StringOutput `pulumi:"name"`
}

type box struct{ pulumi.ResourceState }

func program(ctx *pulumi.Context) error {
	comp := &box{}
	if err := ctx.RegisterComponentResource("test:index:Box", "box", comp); err != nil {
		return err
	}
	first := &thing{}
	if err := ctx.RegisterResource("test:index:Thing", "first", pulumi.Map{
		"name":     pulumi.String("first"),
		"password": pulumi.ToSecret(pulumi.String("hunter2")),
	}, first, pulumi.Parent(comp)); err != nil {
		return err
	}
	second := &thing{}
	return ctx.RegisterResource("test:index:Thing", "second", pulumi.Map{
		"name":     first.Name.ApplyT(func(n string) string { return n + "-2" }),
		"firstArn": first.Arn,
		"firstId":  first.ID(),
	}, second, pulumi.Parent(comp), pulumi.IgnoreChanges([]string{"name"}))
}

func TestRunRecordsTheGraphWithoutInventingValues(t *testing.T) {
	g, err := Run(program, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(g.Resources); n != 3 {
		t.Fatalf("recorded %d resources, want 3", n)
	}
	box := g.Find("test:index:Box", "box")
	first := g.Find("test:index:Thing", "first")
	second := g.Find("test:index:Thing", "second")
	if box == nil || first == nil || second == nil {
		t.Fatalf("missing resources: %+v", g.Resources)
	}
	if box.Custom || !first.Custom {
		t.Errorf("custom flags wrong: box %v first %v", box.Custom, first.Custom)
	}
	if first.Parent != box.URN || second.Parent != box.URN {
		t.Errorf("parents: first %q second %q, want %q", first.Parent, second.Parent, box.URN)
	}
	if got := len(g.Children(box.URN)); got != 2 {
		t.Errorf("box has %d children, want 2", got)
	}
	// Known inputs are kept, computed ones stay unknown, secrets masked.
	checks := map[string]any{
		"first.name":      first.Input("name"),
		"first.password":  first.Input("password"),
		"second.name":     second.Input("name"),
		"second.firstArn": second.Input("firstArn"),
		"second.firstId":  second.Input("firstId"),
	}
	want := map[string]any{
		"first.name":      "first",
		"first.password":  Secret,
		"second.name":     "first-2",
		"second.firstArn": Unknown,
		"second.firstId":  Unknown,
	}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %v, want %v", k, checks[k], v)
		}
	}
	if strings.Contains(resource.NewObjectProperty(first.Raw).String(), "hunter2") && first.Input("password") != Secret {
		t.Error("secret rendered in clear")
	}
	if len(second.IgnoreChanges) != 1 || second.IgnoreChanges[0] != "name" {
		t.Errorf("ignoreChanges = %v", second.IgnoreChanges)
	}
	if counts := g.CountByType(); counts["test:index:Thing"] != 2 {
		t.Errorf("counts = %v", counts)
	}
}

func TestRunAnswersInvokesOrFails(t *testing.T) {
	invoking := func(ctx *pulumi.Context) error {
		var out struct {
			Names []string `pulumi:"names"`
		}
		if err := ctx.Invoke("test:index:getNames", nil, &out); err != nil {
			return err
		}
		if len(out.Names) != 2 {
			return errors.New("wrong answer")
		}
		return nil
	}
	answer := func(token string, args resource.PropertyMap) (resource.PropertyMap, error) {
		if token != "test:index:getNames" {
			return nil, ErrNoAnswer
		}
		return resource.NewPropertyMapFromMap(map[string]any{"names": []any{"a", "b"}}), nil
	}
	g, err := Run(invoking, Options{Invoke: answer})
	if err != nil {
		t.Fatal(err)
	}
	if g.Invokes["test:index:getNames"] != 1 {
		t.Errorf("invokes = %v", g.Invokes)
	}
	if _, err := Run(invoking, Options{}); err == nil || !strings.Contains(err.Error(), "no offline answer") {
		t.Errorf("unanswered invoke: %v", err)
	}
}

func TestRunPassesConfig(t *testing.T) {
	var got string
	_, err := Run(func(ctx *pulumi.Context) error {
		got = ctx.Stack() + "/" + ctx.Project()
		v, ok := ctx.GetConfig("plinth:blueprint")
		if !ok {
			return errors.New("config not passed")
		}
		got += "/" + v
		return nil
	}, Options{Stack: "s", Project: "p", Config: map[string]string{"plinth:blueprint": "x.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if got != "s/p/x.yaml" {
		t.Errorf("got %q", got)
	}
}
