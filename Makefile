GO ?= go

.PHONY: build test test-short race e2e bench fuzz rules lint

build:
	$(GO) build -o cert_expiry_exporter .

# The README's test command: every package, with the race detector.
test:
	$(GO) test -race -count=1 -timeout 15m ./...

test-short:
	$(GO) test -short ./...

e2e:
	$(GO) test -tags e2e -count=1 -timeout 20m ./e2e/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Regenerate the shipped rule file after editing alerts/config.yml or the rule source.
rules:
	$(GO) run ./alerts/gen

lint:
	gofmt -l . ; $(GO) vet ./...
