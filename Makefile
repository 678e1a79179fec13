# Plinth. `make demo` runs the main job offline on the shipped blueprints;
# `make test` runs every test. Both set up what they need themselves.

SHELL := /bin/bash
GO    ?= go
BIN   := bin
PLINTH := $(BIN)/plinth
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# moto_server (AWS API emulator) ships under pyenv on these machines; the
# catalogue refresh test uses it when it is on PATH and says so when not.
export PATH := $(PATH):$(HOME)/.pyenv/shims

.PHONY: all build demo test unit vet fmt-check fuzz schema clean

all: build

## build: the plinth CLI into bin/plinth
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(PLINTH) ./cmd/plinth

## demo: validate the shipped blueprints, plan one offline, check policies, copy to two regions (one refused)
demo: build
	@echo "== plinth validate: the three shipped blueprints"
	$(PLINTH) validate local gpu-training production
	@echo
	@echo "== plinth plan: every resource gpu-training would create, offline (Pulumi mocks)"
	$(PLINTH) plan blueprints/gpu-training.yaml
	@echo
	@echo "== plinth policy check: the production blueprint against the four policy packs"
	$(PLINTH) policy check blueprints/production.yaml
	@echo
	@echo "== plinth blueprint copy: gpu-training to eu-west-1 (fits) and af-south-1 (refused: no p4d there)"
	@tmp=$$(mktemp -d) && \
	  $(PLINTH) blueprint copy blueprints/gpu-training.yaml --region eu-west-1 --out $$tmp/Pulumi.gpu-training-eu-west-1.yaml && \
	  cat $$tmp/Pulumi.gpu-training-eu-west-1.yaml && \
	  if $(PLINTH) blueprint copy blueprints/gpu-training.yaml --region af-south-1 --out $$tmp/af.yaml; then \
	    echo "expected the copy to af-south-1 to be refused"; exit 1; \
	  else echo "(refused as expected)"; fi; \
	  rm -rf $$tmp

## test: every test (vet, formatting, unit, CLI, schema, moto-backed catalogue refresh,
## the local control plane and the real Pulumi engine); builds the toolchain first (cached)
test: tools vet fmt-check unit

unit:
	$(GO) test -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz: fuzz the blueprint loader (FUZZTIME=5m by default)
FUZZTIME ?= 5m
fuzz:
	$(GO) test ./blueprints -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME)

## schema: regenerate blueprints/schema.json from the Go types
schema:
	$(GO) test ./blueprints -run TestSchemaUpToDate -update

clean:
	rm -rf $(BIN)

.PHONY: tools cluster

## tools: build the pinned test toolchain (test/toolchain/versions.env: pulumi, its kubernetes
## provider, kube-apiserver & co, etcd, kwok, terraform) from the Go module proxy into
## ~/.cache/plinth/tools; cold ~2,000 CPU-s (~21 min on 2 cores), then ~1 s. Use: . ~/.cache/plinth/tools/env.sh
tools:
	bash test/toolchain/build.sh

## cluster: a local control plane with fake nodes for blueprints/local.yaml's pools, in the foreground (Ctrl-C stops it)
cluster: tools
	$(GO) run ./test/localcluster/cmd/localcluster -blueprint blueprints/local.yaml

.PHONY: bench

## bench: what a plan, a policy check, an apply and a build cost, and how it grows (test/bench;
## not part of make test). Writes test/bench/out/bench-results.{md,json}; see docs/performance.md.
## BENCH_RUNS=5, BENCH_PARTS=plan,policy,engine,build, BENCH_BUILD_RUNS=3, BENCH_ENGINE_RUNS=3;
## BENCH_BASELINE=COMMIT adds a before/after table against that commit (cold builds of both: slow)
BENCH_RUNS ?= 5
BENCH_PARTS ?= plan,policy,engine,build
BENCH_BUILD_RUNS ?= 3
BENCH_ENGINE_RUNS ?= 3
BENCH_BASELINE ?=
bench: tools
	PLINTH_BENCH=1 BENCH_RUNS=$(BENCH_RUNS) BENCH_PARTS=$(BENCH_PARTS) BENCH_BUILD_RUNS=$(BENCH_BUILD_RUNS) \
	  BENCH_ENGINE_RUNS=$(BENCH_ENGINE_RUNS) BENCH_BASELINE=$(BENCH_BASELINE) BENCH_OUT=$(CURDIR)/test/bench/out \
	  $(GO) test ./test/bench -run '^TestReport$$' -count=1 -v -timeout 120m
	@echo "results: test/bench/out/bench-results.md (publish in docs/performance.md)"
