# gocompose — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
PKGS    := ./...

# Slow artefacts are cached outside the checkout, keyed by version.
CACHE   ?= $(HOME)/.cache/gocompose
BUILDKIT_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/moby/buildkit 2>/dev/null)
BUILDKITD_CACHED := $(CACHE)/buildkitd-$(BUILDKIT_VERSION)

.PHONY: all build buildkitd cross kube-bins prereqs base-image test unit lint demo clean bench

all: build buildkitd

# gocompose, gocompose-logger (the small log driver the containerd shim runs
# beside each container), gocompose-supervisor (the per-host supervisor,
# small too), gocompose-build (the BuildKit client gocompose runs for
# builds) and gocompose-bridge (bridge convert's Kubernetes conversion):
# found next to gocompose, keep them together.
CMDS := ./cmd/gocompose ./cmd/gocompose-logger ./cmd/gocompose-supervisor ./cmd/gocompose-build ./cmd/gocompose-bridge
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ $(CMDS)

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

# Edge boxes are mostly ARM: gocompose and buildkitd for linux/arm64 and
# linux/arm/v7 in bin/linux-<arch>/ (buildkitd cached per version and arch).
CROSS := arm64 arm-v7
cross:
	@for a in $(CROSS); do \
		arch=$${a%%-*}; arm=$${a#arm-v}; [ "$$arch" = arm ] || arm=; \
		echo "cross-building for linux/$$a"; \
		mkdir -p $(BIN)/linux-$$a "$(CACHE)" && \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm $(GO) build -o $(BIN)/linux-$$a/ $(CMDS) || exit 1; \
		cached="$(CACHE)/buildkitd-$(BUILDKIT_VERSION)-linux-$$a"; \
		if [ ! -x "$$cached" ]; then \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm $(GO) build -tags "osusergo netgo static_build" -o "$$cached.tmp" github.com/moby/buildkit/cmd/buildkitd && \
			mv "$$cached.tmp" "$$cached" || exit 1; \
		fi; \
		cp "$$cached" $(BIN)/linux-$$a/buildkitd || exit 1; \
	done

# etcd, kube-apiserver and kubectl for the bridge convert tests (a real API
# server on 127.0.0.1): built once per version into the cache.
kube-bins:
	@GO=$(GO) GOCOMPOSE_CACHE=$(CACHE) ./scripts/kube-bins.sh >/dev/null

prereqs:
	GOCOMPOSE_NEED_MMDEBSTRAP=1 ./scripts/prereqs.sh

# The offline Python base image archive for the seed example (cached in
# $(CACHE); the e2e test loads it into its own namespace).
base-image: prereqs
	GOCOMPOSE_CACHE=$(CACHE) ./examples/base/make-base.sh --archive-only

# The whole suite: unit tests and the integration tests against a real
# containerd (started for the run when none answers, and stopped after).
test: prereqs buildkitd base-image kube-bins
	GOCOMPOSE_KUBE_BIN=$$(GO=$(GO) GOCOMPOSE_CACHE=$(CACHE) ./scripts/kube-bins.sh) \
		./scripts/with-containerd.sh $(GO) test -count=1 -timeout 30m $(PKGS)

# Unit tests only: no root, no daemon.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

# The seed example end to end: a Flask frontend on port 8000 that shows the
# message a Flask backend serves. Idempotent; a second run is quick.
demo: prereqs build buildkitd
	GOCOMPOSE=$(BIN)/gocompose GOCOMPOSE_CACHE=$(CACHE) ./examples/base/make-base.sh
	$(BIN)/gocompose -f examples/seed/compose.yaml up -d --build --wait
	@echo
	@curl -s --max-time 10 http://localhost:8000/
	@echo
	@echo "The seed example is running: open http://localhost:8000/ (the page above)."
	@echo "Look at it:   $(BIN)/gocompose -f examples/seed/compose.yaml ps   (and: logs -f)"
	@echo "Stop it:      $(BIN)/gocompose -f examples/seed/compose.yaml down"

# Speed against bare containerd in the same run (not part of make test).
bench: prereqs build buildkitd
	./scripts/with-containerd.sh $(GO) run ./bench -gocompose $(BIN)/gocompose

clean:
	rm -rf $(BIN)
