GO ?= go

.PHONY: build test test-short race e2e bench fuzz rules lint

build:
	$(GO) build -o cert_expiry_exporter .

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
