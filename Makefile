# Thin wrapper: install what is missing (Debian packages, only when absent),
# then drive Meson. The real build is meson.build.
BUILD      ?= build
ASAN_BUILD ?= build-asan
SUDO       := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# Build and run-time: compiler, Meson, and the four libraries by pkg-config.
BUILD_DEPS := gcc pkg-config meson ninja-build libcurl4-openssl-dev libuv1-dev libpng-dev libstb-dev \
              libjpeg62-turbo-dev
# zlib: gzip-compressed URL lists, read streaming (io/listread.c).
BUILD_DEPS += zlib1g-dev
# libarchive: --output-format tar, the webdataset tar shards (io/tar.c).
BUILD_DEPS += libarchive-dev
BUILD_DEPS += libdeflate-dev   # imaging/encode.c: libdeflate_adler32 for the PNG's zlib trailer
BUILD_DEPS += libssl-dev   # io/sha256.c: libcrypto's SHA-256 of every body
# Tests: integration tests are Python (standard library only); openssl and
# nginx for the HTTPS tests; python3-opencv for the OpenCV comparison
# (tests/opencv, never used at run time).
TEST_DEPS  := python3 openssl nginx-light python3-opencv
# iproute2: `ip` brings loopback up in the network namespace of the
# unresolvable-host test (tests/integration/test_http_hostile.py).
TEST_DEPS  += iproute2
# nftables: drops SYNs to a port inside the network namespace of the
# dead-host test (tests/integration/test_scheduling.py).
TEST_DEPS  += nftables
TEST_DEPS  += strace   # test_names.py fsync_batched counts fdatasync/fsync calls
TEST_DEPS  += bsdutils   # script(1): test_progress.py and progress_tty drive a terminal
# The many-host test world (tests/world): its DNS server, the firewall rules
# of dead and refusing hosts, and djpeg/cjpeg for its small images.
TEST_DEPS  += dnsmasq-base nftables libjpeg-turbo-progs
# (libjpeg-turbo-progs above also gives jpegtran scan scripts: the many-scan
# progressive JPEG of tests/integration/test_decode_hostile.py.)
# WebP, GIF, AVIF and TIFF decoders (imaging/decode_*.c, issue 14).
BUILD_DEPS += libwebp-dev libgif-dev libavif-dev libtiff-dev
# Their encoders and reference decoders (tests/integration/test_formats.py):
# cwebp/dwebp/img2webp/webpmux, gifsicle, avifenc/avifdec, tiffcp/tiffset,
# ImageMagick for GIF, BMP and TIFF.
TEST_DEPS  += webp gifsicle libavif-bin libtiff-tools imagemagick
TEST_DEPS  += pngcheck   # tests/unit/test_png_rle.c checks the encoder's files with pngcheck
# A single-node Slurm cluster the Slurm test starts itself (tests/slurm).
TEST_DEPS  += slurm-wlm munge
# Valgrind for the suite 'valgrind' (tests/integration/valgrind_case.py);
# clang and its libFuzzer runtime for the fuzz smoke run (tests/fuzz).
FUZZ_DEPS  := clang libclang-rt-dev
TEST_DEPS  += valgrind $(FUZZ_DEPS)
# Benchmarks: the contenders edgefetch is measured against (tests/bench/
# contenders.py), their Python libraries, the input generator (OpenCV), the
# chart (matplotlib), GNU time for peak RSS, strace for the check that nothing
# leaves 127.0.0.1.
BENCH_DEPS := python3 aria2 curl wget2 libvips-tools python3-httpx python3-requests \
              python3-pil python3-numpy python3-opencv python3-matplotlib time strace
# The web-at-scale benchmark runs on the test world (tests/world/bench_world.py).
BENCH_DEPS += dnsmasq-base nftables nginx-light libjpeg-turbo-progs iproute2
# libspng and libjpeg-turbo's tools: the PNG decoder comparison
# (tests/bench/png_decoders.c, imaging/DECODE.md) and jpegtran scan scripts.
BENCH_DEPS += libspng-dev libjpeg-turbo-progs

.PHONY: all deps test-deps bench-deps build build-asan test demo bench clean
.PHONY: bench-world bench-world-quick
.PHONY: defences

all: build

# dpkg-query says which are missing; apt-get runs only if some are.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_DEPS))

test-deps: deps
	$(call install_missing,$(TEST_DEPS))

bench-deps: deps
	$(call install_missing,$(BENCH_DEPS))

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	meson compile -C $(ASAN_BUILD)

# The whole suite twice: a release build (with the suite 'valgrind': chosen
# integration cases with the binary under memcheck), then under ASan + UBSan;
# then the suite 'fuzz' in the libFuzzer build: corpus replays and a
# time-boxed fuzzing run per harness (tests/fuzz/meson.build), whose
# executions --verbose shows. Every run goes ahead when one fails, so that
# the log has all three summaries; make fails if any did.
test: test-deps build build-asan fuzz-build
	@status=0; \
	meson test -C $(BUILD) --print-errorlogs --num-processes 2 || status=1; \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
	  || status=1; \
	meson test -C $(FUZZ_BUILD) --suite fuzz --print-errorlogs --num-processes 2 --verbose \
	  || status=1; \
	exit $$status

demo: deps build
	@python3 samples/demo.py --build $(BUILD)

bench: bench-deps build
	@python3 tests/bench/bench.py --build $(BUILD)
	@python3 tests/bench/contenders.py --build $(BUILD)
	@python3 tests/bench/imaging_compare.py --build $(BUILD)
	@$(MAKE) --no-print-directory bench-world

# The web-at-scale benchmark (tests/world/bench_world.py; root, for its
# network namespace): 2,000 hosts / 100,000 URLs, or 200 / 2,000 quick.
# Results in tests/bench/results/world.{md,csv,png} (world-quick.*).
WORLD_BENCH = $(SUDO) env WORLD_CACHE=$(BUILD)/tests/world \
              python3 tests/world/bench_world.py --binary $(BUILD)/cmd/edgefetch
bench-world: bench-deps build
	@$(WORLD_BENCH)

bench-world-quick: bench-deps build
	@$(WORLD_BENCH) --quick

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# Fuzzing (tests/fuzz): clang's libFuzzer in a build of its own, the whole tree
# instrumented for coverage and under ASan + UBSan. `make fuzz` runs each
# harness for FUZZ_SECONDS, keeping what it finds in $(FUZZ_BUILD)/corpus-* and
# crash reproducers in $(FUZZ_BUILD)/findings-*; `make fuzz-smoke` (and
# `make test`) runs the meson suite 'fuzz' there (corpus replay, then 60 s of
# fuzzing for the decoders and 20 s for the URL list).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600

.PHONY: fuzz-deps fuzz-build fuzz fuzz-smoke

fuzz-deps: deps
	$(call install_missing,$(FUZZ_DEPS))

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized -Dfuzzing=true -Dwerror=false \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link

fuzz-build: fuzz-deps $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)

fuzz: fuzz-build
	@status=0; for harness in decode urls; do \
	  python3 tests/fuzz/run_fuzzer.py --keep-going --seconds $(FUZZ_SECONDS) \
	    --fuzzer $(FUZZ_BUILD)/tests/fuzz/fuzz_$$harness --corpus tests/fuzz/corpus/$$harness \
	    --work-corpus $(FUZZ_BUILD)/corpus-$$harness --artifacts $(FUZZ_BUILD)/findings-$$harness \
	    || status=1; \
	done; exit $$status

fuzz-smoke: fuzz-build
	meson test -C $(FUZZ_BUILD) --suite fuzz --print-errorlogs --num-processes 2 --verbose

# Take a defence out and check that its tests go red (tests/DEFENCES.md):
# `make defences ENTRY=name` (one entry), `make defences` (every entry; slow).
defences:
	python3 tests/defences.py $(if $(ENTRY),$(ENTRY),--all)
