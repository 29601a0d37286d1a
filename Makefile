# hwrds — the two set-up commands are `make test` and `make demo` (see README.md).
.PHONY: test tools lint fmt build check-fmt clippy unit demo bench docs release

CARGO ?= cargo

## Installs Terraform (1.15.5 and 1.6.6) and the test tools under .tools/ when missing.
tools:
	bash scripts/install-terraform

check-fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

## Everything CI runs: tools, formatting, lints, and every test (real Terraform included).
test: tools check-fmt clippy
	$(CARGO) test --all-targets

lint: check-fmt clippy

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --release --bins

## The quickstart (examples/quickstart) against the local emulator: plan, apply, result.
demo:
	bash scripts/demo

## Benchmarks against a Go provider (hashicorp/null 2.1.2); prints tables, writes BENCHMARKS.md.
bench:
	$(CARGO) build --release --bins
	bash scripts/install-terraform
	bash scripts/install-null-provider
	$(CARGO) bench --bench bench

## Regenerates docs/ from the provider schema, examples/ and docs-src/ (tests/docs.rs
## fails when the committed docs differ from what this writes).
docs:
	HWRDS_WRITE_DOCS=1 $(CARGO) test --test docs -- --nocapture committed_docs_match_the_generator

## Release archive, SHA256SUMS and manifest under dist/ (scripts/release).
release:
	bash scripts/release
