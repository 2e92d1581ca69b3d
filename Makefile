# The targets that the README documents. meson and ninja do the real
# work; this file only names the steps.

BUILD ?= build
CHECK_BUILD ?= build-check
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_TARGETS = bencode wire metainfo announce

.PHONY: all deps build check unit style fuzz demo bench clean

all: build

deps:
	./tools/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Everything that CI runs: style, the whole test suite under ASan and
# UBSan, then each fuzzer for a bounded time.
check: deps style
	@[ -f $(CHECK_BUILD)/build.ninja ] || meson setup $(CHECK_BUILD) \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(CHECK_BUILD)
	meson test -C $(CHECK_BUILD) --print-errorlogs --num-processes 2 || true
	$(MAKE) fuzz
	./tools/test-summary $(CHECK_BUILD)/meson-logs/testlog.json

unit: $(BUILD)/build.ninja
	ninja -C $(BUILD)
	meson test -C $(BUILD) --suite unit --print-errorlogs

style:
	@files=$$(git ls-files '*.c' '*.h'); \
	clang-format --dry-run -Werror $$files && echo "style: ok"

fuzz:
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) \
		-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD) $(FUZZ_TARGETS:%=tests/fuzz/fuzz-%)
	./tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

demo: build
	./tools/demo $(BUILD)

bench: build
	./tools/install-deps --bench
	./bench/run $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)
