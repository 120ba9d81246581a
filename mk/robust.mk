# robust.mk - robustness checks (issue 5): libFuzzer harnesses and the sanitized test run.
# Included by the Makefile (-include mk/*.mk); builds only into build-fuzz/ and build-san/.
#
#   make fuzz                  builds every harness (clang, ASan + UBSan + libFuzzer) and runs each
#                              for FUZZ_SECONDS (default 60); exits non-zero if any found something.
#                              make -j2 fuzz runs two at a time.
#   make fuzz-NAME             one harness: NAME is config, idx, csv, cifar, image or ckpt
#   make fuzz-build            only builds build-fuzz/fuzz_NAME
#   make fuzz-replay           runs every harness once over its seeds and tests/regress/NAME/ (no fuzzing)
#   make fuzz-minimize NAME=config INPUT=build-fuzz/artifacts/config/crash-...
#                              minimises a finding into tests/regress/NAME/ (replayed by tests/test_regress.c)
#   make test-sanitize         make test SANITIZE=1 (ASan + UBSan build in build-san/, run against
#                              build-san/cnn) with the sanitizer options the CI uses
#   make fuzz-clean            removes build-fuzz/ and the grown corpora fuzz/corpus-NAME/
#
# Findings land in build-fuzz/artifacts/NAME/, logs in build-fuzz/fuzz_NAME.log, new corpus
# entries in fuzz/corpus-NAME/ (not committed); the seeds are fuzz/corpus/NAME/.

ROBUST_GOAL_ := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := config idx csv cifar image ckpt
FUZZ_RSS_MB  ?= 2048
# Longest input per harness: config files of interest are a few KB; a CIFAR record is 3073
# bytes; image decoders slow down with size without reaching more code.
FUZZ_MAXLEN_config := 16384
FUZZ_MAXLEN_idx    := 8192
FUZZ_MAXLEN_csv    := 4096
FUZZ_MAXLEN_cifar  := 12300
FUZZ_MAXLEN_image  := 32768
FUZZ_MAXLEN_ckpt   := 32768
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   ?= -g -O1
FUZZ_CPPFLAGS := -Ilib -MMD -MP -D_DEFAULT_SOURCE
FUZZ_WARN     := -std=c11 -Wall -Wextra -Wno-unused-parameter
FUZZ_LIBS     := -lyaml -lz -lm -pthread
# One allocation above 256 MB returns NULL instead of aborting, so the library's
# out-of-memory paths are fuzzed too (and a legitimately huge network is not a finding).
FUZZ_ENV := ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=256:detect_leaks=1:symbolize=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FUZZ_FLAGS = -max_len=$(FUZZ_MAXLEN_$(1)) -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_RSS_MB) \
             -timeout=25 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$(1)/ \
             $(if $(wildcard fuzz/$(1).dict),-dict=fuzz/$(1).dict)

FUZZ_LIB_SRC := $(sort $(shell find lib -name '*.c' 2>/dev/null))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_WARN) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(FUZZ_ISA) -pthread -c $< -o $@
# As in the Makefile: SIMD units get their instruction set, stb_image no warnings.
$(FUZZ_BUILD)/%_avx2.o: FUZZ_ISA := -mavx2 -mfma
$(FUZZ_BUILD)/%_avx512.o: FUZZ_ISA := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma
$(FUZZ_BUILD)/lib/data/stb_unit.o: FUZZ_WARN := -std=c11 -w -ftrivial-auto-var-init=zero \
    -enable-trivial-auto-var-init-zero-knowing-it-will-be-removed-from-clang
$(FUZZ_BUILD)/lib/data/stb_unit.o: FUZZ_SAN += -fno-sanitize=shift

$(FUZZ_BUILD)/libcnn.a: $(FUZZ_LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FUZZ_BUILD)/libcnn.a
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) -Ifuzz $(FUZZ_WARN) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libcnn.a $(FUZZ_LIBS)

fuzz-build: $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_NAMES))

# One run: the fuzzer's exit status goes to build-fuzz/status/NAME and its output to a log;
# the summary line gives executions and time. Under `make fuzz` a finding does not stop the
# other harnesses (FUZZ_KEEP_GOING); the fuzz target then fails listing them.
define FUZZ_RUN_template
fuzz-$(1): $(FUZZ_BUILD)/fuzz_$(1)
	@mkdir -p fuzz/corpus-$(1) $(FUZZ_BUILD)/artifacts/$(1) $(FUZZ_BUILD)/status
	@rm -f $(FUZZ_BUILD)/status/$(1)
	@echo "fuzz-$(1): $(FUZZ_SECONDS) s, log in $(FUZZ_BUILD)/fuzz_$(1).log"
	@$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$(1) $(call FUZZ_FLAGS,$(1)) -max_total_time=$(FUZZ_SECONDS) \
	    fuzz/corpus-$(1) fuzz/corpus/$(1) > $(FUZZ_BUILD)/fuzz_$(1).log 2>&1; \
	rc=$$$$?; echo $$$$rc > $(FUZZ_BUILD)/status/$(1); \
	runs=$$$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$(1).log | tail -1); \
	secs=$$$$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' $(FUZZ_BUILD)/fuzz_$(1).log | tail -1); \
	cov=$$$$(grep -o 'cov: [0-9]*' $(FUZZ_BUILD)/fuzz_$(1).log | tail -1); \
	corp=$$$$(ls fuzz/corpus-$(1) | wc -l); \
	if [ $$$$rc -eq 0 ]; then echo "fuzz-$(1): $$$${runs:-?} executions in $$$${secs:-?} s, $$$$cov, $$$$corp new corpus files, no findings"; \
	else echo "fuzz-$(1): FINDING (exit $$$$rc) after $$$${runs:-?} executions:"; \
	    grep -E 'ERROR|SUMMARY|fuzz: |runtime error|Test unit written|Slowest unit|out-of-memory|timeout' $(FUZZ_BUILD)/fuzz_$(1).log | head -20; \
	    [ "$$(FUZZ_KEEP_GOING)" = 1 ]; fi
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call FUZZ_RUN_template,$(n))))

fuzz: FUZZ_KEEP_GOING := 1
fuzz: $(addprefix fuzz-,$(FUZZ_NAMES))
	@bad=""; for n in $(FUZZ_NAMES); do \
	    [ "$$(cat $(FUZZ_BUILD)/status/$$n 2>/dev/null)" = 0 ] || bad="$$bad $$n"; done; \
	if [ -n "$$bad" ]; then echo "fuzz: findings in:$$bad (inputs in $(FUZZ_BUILD)/artifacts/NAME/)"; exit 1; fi; \
	echo "fuzz: $(words $(FUZZ_NAMES)) harnesses, $(FUZZ_SECONDS) s each, no findings"

fuzz-replay: fuzz-build
	@mkdir -p $(addprefix $(FUZZ_BUILD)/artifacts/,$(FUZZ_NAMES))
	@bad=""; $(foreach n,$(FUZZ_NAMES),$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$(n) $(call FUZZ_FLAGS,$(n)) -runs=0 \
	    fuzz/corpus/$(n) $(wildcard tests/regress/$(n)) > $(FUZZ_BUILD)/replay_$(n).log 2>&1 && \
	    echo "fuzz-replay: $(n) ok" || { echo "fuzz-replay: $(n) fails, see $(FUZZ_BUILD)/replay_$(n).log"; bad=1; };) \
	[ -z "$$bad" ]

fuzz-minimize:
	@[ -n "$(NAME)" ] && [ -f "$(INPUT)" ] || { echo "usage: make fuzz-minimize NAME=config INPUT=FILE"; exit 2; }
	$(MAKE) $(FUZZ_BUILD)/fuzz_$(NAME)
	@mkdir -p tests/regress/$(NAME) $(FUZZ_BUILD)/artifacts/$(NAME)
	$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$(NAME) $(call FUZZ_FLAGS,$(NAME)) -minimize_crash=1 -max_total_time=120 \
	    -exact_artifact_path=tests/regress/$(NAME)/$(notdir $(INPUT)) $(INPUT)

fuzz-clean:
	rm -rf $(FUZZ_BUILD) $(addprefix fuzz/corpus-,$(FUZZ_NAMES))

# The whole suite with AddressSanitizer + UndefinedBehaviorSanitizer: the Makefile's
# SANITIZE=1 build (build-san/), whose test target runs build-san/cnn; leaks are errors.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-sanitize:
	$(SAN_ENV) $(MAKE) test SANITIZE=1

.PHONY: fuzz fuzz-build fuzz-replay fuzz-minimize fuzz-clean test-sanitize $(addprefix fuzz-,$(FUZZ_NAMES))
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

.DEFAULT_GOAL := $(ROBUST_GOAL_)
