# hwrds — the two set-up commands are `make test` and `make demo` (see README.md).
.PHONY: test tools lint fmt build check-fmt clippy unit demo bench soak chaos fuzz docs release compat testacc

CARGO ?= cargo

## Installs Terraform (1.15.5 and 1.6.6) and the test tools under .tools/ when missing,
## and GnuPG (release signing and its test) when gpg is missing.
tools:
	bash scripts/install-terraform
	bash scripts/install-gnupg

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

## The resource's core suite (tests/compat.rs: plan with versions, apply, empty second
## plan, import, interrupt-and-resume) on every Terraform minor release from 1.6.6 to
## 1.15.5, each installed on demand into its own venv under .tools/compat/. `make test`
## runs the same suite on 1.6.6 and 1.15.5 only.
compat: tools
	@installed="$$(bash scripts/install-terraform --compat)" || exit 1; \
	echo "$$installed"; wrappers="$$(echo "$$installed" | tail -n 1)"; \
	started=$$(date +%s); \
	HWRDS_COMPAT_TERRAFORM="$$wrappers" $(CARGO) test --test compat -- --nocapture; status=$$?; \
	echo "make compat: $$(( $$(date +%s) - started )) s"; exit $$status

## Acceptance tests against the real Huawei Cloud (tests/acceptance.rs): TF_ACC=1 and
## HW_ACCESS_KEY, HW_SECRET_KEY, HW_REGION_NAME (optional HW_PROJECT_ID,
## HW_SECURITY_TOKEN); HWRDS_ACC_INSTANCE_ID names the one instance they may upgrade.
## Read-only otherwise. Without TF_ACC=1 they print what they would touch and do nothing.
testacc:
	TF_ACC=1 $(CARGO) test --test acceptance -- --nocapture --test-threads=1

## Benchmarks against a Go provider (hashicorp/null 2.1.2); prints tables, writes BENCHMARKS.md.
bench:
	$(CARGO) build --release --bins
	bash scripts/install-terraform
	bash scripts/install-null-provider
	$(CARGO) bench --bench bench

## The full fault matrix (tests/fault_matrix.rs): 4 fault kinds x 10/30/50 % on a fleet of
## 20 instances through real Terraform; one summary line per cell. `make test` runs a
## short version (each kind at 30 % on 8 instances).
soak: tools
	HWRDS_SOAK=1 $(CARGO) test --test fault_matrix -- --nocapture

## The randomized crash campaign under flow control (tests/chaos.rs): CHAOS_TRIALS
## (default 100) seeded trials, each an 8–12 instance fleet upgrade behind a quota of 4
## requests per 8 s or 4 s per API (every third split between 2–3 workspaces sharing the
## credential), hit by a provider or Terraform SIGKILL, Ctrl-C, an emulator restart or a
## fault burst at a random moment or at one of its submissions; then each workspace
## applies again, and the first re-apply must succeed. One line per trial, a summary,
## and RELIABILITY.md. HWRDS_CHAOS_SEED reruns a campaign, HWRDS_CHAOS_ONLY one trial;
## CHAOS_JOBS runs that many trials at a time (each its own emulator and workspaces).
## `make test` runs a short version (2 trials, fixed seed).
CHAOS_TRIALS ?= 100
CHAOS_JOBS ?= 1
chaos: tools
	HWRDS_CHAOS_TRIALS=$(CHAOS_TRIALS) HWRDS_CHAOS_JOBS=$(CHAOS_JOBS) HWRDS_CHAOS_WRITE=1 $(CARGO) test --test chaos -- --nocapture campaign

## Fuzzes the cty msgpack and JSON decoders (fuzz/, its own package) for FUZZ_SECONDS each
## with cargo-fuzz on nightly; without them, says so and runs the decoders' proptests
## with 20000 cases instead (they run with 256 in `make test`).
FUZZ_SECONDS ?= 60
fuzz:
	@if command -v cargo-fuzz >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; then \
		cd fuzz && for target in cty_msgpack cty_json; do \
			cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
		done; \
	else \
		echo "make fuzz: cargo-fuzz or the nightly toolchain is missing (cargo install cargo-fuzz; rustup toolchain install nightly);"; \
		echo "running the cty decoders' proptests with PROPTEST_CASES=20000 instead"; \
		PROPTEST_CASES=20000 $(CARGO) test --lib cty::; \
	fi

## Regenerates docs/ from the provider schema, examples/ and docs-src/ (tests/docs.rs
## fails when the committed docs differ from what this writes).
docs:
	HWRDS_WRITE_DOCS=1 $(CARGO) test --test docs -- --nocapture committed_docs_match_the_generator

## Release archive, SHA256SUMS and manifest under dist/ (scripts/release).
release:
	bash scripts/release
