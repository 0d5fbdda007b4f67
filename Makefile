# gocompose — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin
PKGS    := ./...

.PHONY: all build prereqs test unit lint demo clean bench

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/gocompose ./cmd/gocompose

prereqs:
	./scripts/prereqs.sh

# The whole suite: unit tests and the integration tests against a real
# containerd (started for the run when none answers, and stopped after).
test: prereqs
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
