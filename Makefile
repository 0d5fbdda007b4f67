# gocompose — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
PKGS    := ./...

# Slow artefacts are cached outside the checkout, keyed by version.
CACHE   ?= $(HOME)/.cache/gocompose
BUILDKIT_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/moby/buildkit 2>/dev/null)
BUILDKITD_CACHED := $(CACHE)/buildkitd-$(BUILDKIT_VERSION)

.PHONY: all build buildkitd prereqs test unit lint demo clean bench

all: build buildkitd

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/gocompose ./cmd/gocompose

# buildkitd is pinned as a tool in go.mod, so client and daemon share one
# version; built once per version into the cache, copied beside gocompose.
buildkitd:
	@if [ ! -x "$(BUILDKITD_CACHED)" ]; then \
		echo "building buildkitd $(BUILDKIT_VERSION) (once; cached in $(CACHE))"; \
		mkdir -p "$(CACHE)" && \
		CGO_ENABLED=0 $(GO) build -tags "osusergo netgo static_build" -o "$(BUILDKITD_CACHED).tmp" github.com/moby/buildkit/cmd/buildkitd && \
		mv "$(BUILDKITD_CACHED).tmp" "$(BUILDKITD_CACHED)"; \
	fi
	@mkdir -p $(BIN) && cmp -s "$(BUILDKITD_CACHED)" $(BIN)/buildkitd || \
		{ cp "$(BUILDKITD_CACHED)" $(BIN)/buildkitd.tmp && mv $(BIN)/buildkitd.tmp $(BIN)/buildkitd; }

prereqs:
	./scripts/prereqs.sh

# The whole suite: unit tests and the integration tests against a real
# containerd (started for the run when none answers, and stopped after).
test: prereqs buildkitd
	./scripts/with-containerd.sh $(GO) test -count=1 -timeout 30m $(PKGS)

# Unit tests only: no root, no daemon.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

demo:
	@echo "make demo: the seed example (Flask frontend/backend) needs bridge networking and BuildKit builds,"
	@echo "which have not landed yet. Until then, try: make build && bin/gocompose --help"
	@exit 1

clean:
	rm -rf $(BIN)
