# skiff — build, run and test.
#
#   make dev    install what is missing (Debian), build, start an all-in-one cluster
#   make test   unit, conformance and end-to-end tests (root; real containerd)

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
DATA_DIR ?= /var/lib/skiff
VERSION ?= v0.1.0-dev
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/skiffhq/skiff/core/version.Version=$(VERSION) -X github.com/skiffhq/skiff/core/version.GitCommit=$(COMMIT)

PLUGINS := scheduler-binpack runtime-containerd net-overlay probes volumes
# Example plugins (examples/, see docs/plugins.md), built beside the shipped
# ones so that a profile can select them.
EXAMPLES := scheduler-spread runtime-rawexec
BINARIES := skiffd skiffctl skiff-log-driver $(addprefix skiff-,$(PLUGINS))

.PHONY: all build deps dev test test-unit test-e2e bench proto vet lint clean

all: build

# Static binaries without cgo: nothing needs it, and the processes start
# smaller (skiffd runs six of them on every node).
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/skiffd ./cmd/skiffctl
	@for p in $(PLUGINS); do \
		CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/skiff-$$p ./plugins/$$p || exit 1; \
	done
	@for p in $(EXAMPLES); do \
		CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/skiff-$$p ./examples/$$p || exit 1; \
	done
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/skiff-log-driver ./plugins/runtime-containerd/logdriver

# deps installs the Debian packages skiff needs at run time and for its tests.
deps:
	@scripts/install-deps.sh

dev: deps build
	$(BIN)/skiffd dev --data-dir $(DATA_DIR)

# test runs everything: unit tests, the SDK conformance suites against the
# shipped plugins, and the end-to-end tests on real containerd.
test: build
	$(GO) vet ./...
	SKIFF_BIN_DIR=$(BIN) $(GO) test -count=1 -p 1 -timeout 30m ./...

test-unit:
	$(GO) test -count=1 -short ./...

test-e2e: build
	SKIFF_BIN_DIR=$(BIN) $(GO) test -count=1 -v -timeout 30m ./test/e2e/...

bench: build
	SKIFF_BIN_DIR=$(BIN) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./bench/...

proto:
	@for k in scheduler runtime network probes volumes; do \
		protoc -I sdk/$$k/proto --go_out=paths=source_relative:sdk/$$k/$${k}pb \
			--go-grpc_out=paths=source_relative:sdk/$$k/$${k}pb sdk/$$k/proto/$$k.proto || exit 1; \
	done
	protoc -I sdk/base/proto --go_out=paths=source_relative:sdk/base/basepb --go-grpc_out=paths=source_relative:sdk/base/basepb sdk/base/proto/base.proto
	protoc -I core/api/proto --go_out=paths=source_relative:core/api/apipb --go-grpc_out=paths=source_relative:core/api/apipb core/api/proto/api.proto

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
