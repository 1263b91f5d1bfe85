# imsfeed — see README.md. `make demo` and `make test` are the whole set-up on a fresh machine.
GO ?= go
BIN := bin/imsfeed

.PHONY: help build demo test test-short bench fuzz vet fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

build: ## build bin/imsfeed
	$(GO) build -o $(BIN) ./cmd/imsfeed

demo: ## the nightly story on the embedded default (no server, nothing left in the checkout)
	$(GO) run ./cmd/imsfeed demo

test: ## the whole suite: vet, gofmt, unit, race, PostgreSQL, SFTP, SMTP (starts what it needs)
	./scripts/test.sh

bench: ## the large benchmarks; prints MB/s, peak RSS and ratios
	./scripts/bench.sh

fuzz: ## long fuzzing of the reader (FUZZTIME=5m by default)
	$(GO) test ./importer/ims -run '^$$' -fuzz FuzzRead -fuzztime $${FUZZTIME:-5m}

vet: ## go vet and gofmt
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

clean: ## remove build output
	rm -rf bin
