GO ?= go

# Build information for build_info, --version and the landing page (prometheus/common/version).
# VERSION is the nearest v* tag (without the v), else the CHANGELOG's next release as -dev.
# Each may be given (make VERSION=…); given empty counts as not given.
override VERSION  := $(or $(VERSION),$(patsubst v%,%,$(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)),0.1.0-dev)
override REVISION := $(or $(REVISION),$(shell git rev-parse HEAD 2>/dev/null))
override BRANCH   := $(or $(BRANCH),$(shell git rev-parse --abbrev-ref HEAD 2>/dev/null))
BUILD_USER ?= $(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
EXTRA_LDFLAGS ?=
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := $(EXTRA_LDFLAGS) -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: build test test-short race e2e bench fuzz rules lint

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o cert_expiry_exporter .

# The README's test command: every package, with the race detector.
test:
	$(GO) test -race -count=1 -timeout 15m ./... ./e2e/...

test-short:
	$(GO) test -short ./... ./e2e/...

e2e:
	$(GO) test -tags e2e -count=1 -timeout 20m ./e2e/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Regenerate the shipped rule file after editing alerts/config.yml or the rule source.
rules:
	$(GO) run ./alerts/gen

# golangci-lint (v2, .golangci.yml) when installed: go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint:
	test -z "$$(gofmt -l .)"
	$(GO) vet ./... ./e2e/... && $(GO) vet -tags e2e ./e2e/...
	if command -v golangci-lint >/dev/null; then golangci-lint run ./... && golangci-lint run --build-tags e2e ./e2e/...; fi
