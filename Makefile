# cnn - build the engine library, the command and the tests.
#   make                 ./cnn and build/libcnn.a (-Wall -Wextra -Werror)
#   make test            build and run every test program (CNN_SIMD=portable forces the portable kernels)
#   make demo            install what is missing, train configs/fashion-cnn.yaml, predict sample PNGs
#   make SANITIZE=1      build with AddressSanitizer + UndefinedBehaviorSanitizer into build-san/
#   make NO_SIMD=1       portable kernels only
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
BUILD   ?= build
ifeq ($(SANITIZE),1)
BUILD   := build-san
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
# -O2's vectoriser only takes loops it needs no remainder code for; element-wise loops with
# selects (relu, masks) need the dynamic cost model. It never reorders float arithmetic.
WARN    += -fvect-cost-model=dynamic
CPPFLAGS += -Ilib -MMD -MP -D_DEFAULT_SOURCE
LDLIBS  += -lyaml -lz -lm -pthread

LIB_SRC := $(sort $(shell find lib -name '*.c'))
ifeq ($(NO_SIMD),1)
LIB_SRC := $(filter-out %_avx2.c %_avx512.c,$(LIB_SRC))
CPPFLAGS += -DCNN_NO_SIMD
endif
# Objects depend on the flags they were built with, through a stamp rewritten only when
# they change: `make NO_SIMD=1` then `make` in the same build directory used to keep the
# portable objects and give a ./cnn that never used its SIMD kernels.
FLAGS_NOW := $(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) $(LDLIBS)
FLAGS := $(BUILD)/flags
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(FLAGS) 2>/dev/null)" = '$(FLAGS_NOW)' ] || echo '$(FLAGS_NOW)' > $(FLAGS); })
CLI_SRC := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# ./cnn is always the normal build: a sanitized one stays in build-san/.
ifeq ($(SANITIZE),1)
all: $(BUILD)/cnn
else
all: cnn
endif

cnn: $(BUILD)/cnn
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/cnn: $(CLI_OBJ) $(BUILD)/libcnn.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libcnn.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^

$(BUILD)/%.o: %.c Makefile $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -pthread -c $< -o $@

# SIMD units are the only ones built for a wider instruction set; they are called only
# after cpuid says the CPU has it.
$(BUILD)/%_avx2.o: %_avx2.c Makefile $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -mavx2 -mfma -pthread -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c Makefile $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -pthread -c $< -o $@
# stb_image is third-party code: built with our limits but without our warning set, and
# with its stack variables zeroed: stb 2.27 reads a BMP's palette entries past the ones
# the file defines from an uninitialised array (robustness finding 7). Its JPEG bit reader
# shifts 0 by 32 or more once a corrupt stream has ended (finding 18: the value is 0 on
# any machine, nothing else depends on it), so the shift checks are off for it alone.
STB_FLAGS := -ftrivial-auto-var-init=zero $(if $(filter 1,$(SANITIZE)),-fno-sanitize=shift)
$(BUILD)/lib/data/stb_unit.o: lib/data/stb_unit.c $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(CFLAGS) $(STB_FLAGS) -w -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libcnn.a $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcnn.a $(LDLIBS)

# Benchmark programs in scripts/*.c link the library like tests do (make build/scripts/NAME).
$(BUILD)/scripts/%: scripts/%.c $(BUILD)/libcnn.a $(FLAGS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcnn.a $(LDLIBS)

# Tests run the binary of this build (build-san/cnn under SANITIZE=1), never ./cnn.
tests: $(TESTS) $(BUILD)/cnn

test: tests
	@CNN=$(BUILD)/cnn sh tests/run.sh $(TESTS)

demo:
	sh scripts/demo.sh

# cnn against PyTorch on N1/N2/N3 (scripts/compare-peers; needs python3-torch)
bench: cnn
	sh scripts/compare-peers

clean:
	rm -rf build build-san cnn

.PHONY: all test tests demo bench clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
# Robustness targets (make fuzz): mk/*.mk
-include mk/*.mk
