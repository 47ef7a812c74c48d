# Thin wrapper: install what is missing (Debian packages, only when absent),
# then drive Meson. The real build is meson.build.
BUILD      ?= build
ASAN_BUILD ?= build-asan
SUDO       := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

# Build and run-time: compiler, Meson, and the four libraries by pkg-config.
BUILD_DEPS := gcc pkg-config meson ninja-build libcurl4-openssl-dev libuv1-dev libpng-dev libstb-dev
# Tests: integration tests are Python (standard library only); openssl and
# nginx for the HTTPS tests.
TEST_DEPS  := python3 openssl nginx-light
BENCH_DEPS := python3

.PHONY: all deps test-deps bench-deps build build-asan test demo bench clean

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

# The whole suite twice: a release build, then under ASan + UBSan.
test: test-deps build build-asan
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 3

demo: deps build
	@python3 samples/demo.py --build $(BUILD)

bench: bench-deps build
	@python3 tests/bench/bench.py --build $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
