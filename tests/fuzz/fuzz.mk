# libFuzzer harnesses, tests/fuzz/fuzz_NAME.c -> build/fuzz/fuzz_NAME,
# built with clang under ASan and UBSan into build/fuzz (never build/obj).
# `make fuzz` builds them all and runs each for FUZZ_SECONDS over a copy
# of its seed corpus (tests/fuzz/corpus/NAME, grown in build/fuzz/corpus);
# it fails if any harness finds a crash, a leak or a hang.
# Included from the top Makefile.

FUZZ_CC      = clang
FUZZ_SECONDS ?= 300
FUZZ_PKGS    = clang libclang-rt-14-dev
FUZZ_OUT     = $(BUILD)/fuzz
FUZZ_SAN     = address,undefined
FUZZ_CFLAGS  = -g -O1 -std=c11 -Wall -Wextra -MMD -MP -fno-omit-frame-pointer \
	       -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -fno-sanitize-recover=all
FUZZ_LDFLAGS = -fsanitize=fuzzer,$(FUZZ_SAN)
FUZZ_CPPFLAGS = $(CPPFLAGS) -Iesp -Iisp -Isockhook

FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES = $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BIN   = $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_NAMES))
FUZZ_LIB_A = $(FUZZ_OUT)/libdynpass.a

fobj = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(1))

# Longest input each harness is given (FUZZ_MAXLEN if not named here).
FUZZ_MAXLEN                = 4096
FUZZ_MAXLEN_frame          = 1024
FUZZ_MAXLEN_session        = 8192
FUZZ_MAXLEN_socks          = 2048
FUZZ_MAXLEN_via            = 9000
FUZZ_MAXLEN_rules          = 8192
FUZZ_MAXLEN_config         = 8192
FUZZ_MAXLEN_sockhook_conf  = 4096
FUZZ_MAXLEN_scan           = 16384

# Every object depends on this file too: it holds the flags.
$(FUZZ_OUT)/obj/%.o: %.c tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB_A): $(call fobj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# Harnesses that drive code outside lib/ link it in (esp.c has main()).
$(FUZZ_OUT)/fuzz_socks: $(call fobj,esp/socks.c)
$(FUZZ_OUT)/fuzz_sockhook_conf: $(call fobj,sockhook/config.c)
$(FUZZ_OUT)/fuzz_agent: $(call fobj,sockhook/agentstate.c)
$(FUZZ_OUT)/fuzz_agentauth: $(call fobj,isp/agentauth.c isp/loginlimit.c)
$(FUZZ_OUT)/fuzz_config: $(call fobj,esp/keys.c isp/keys.c)

$(FUZZ_BIN): $(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/tests/fuzz/fuzz_%.o \
    $(FUZZ_LIB_A)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $(filter %.o,$^) $(FUZZ_LIB_A) \
	    $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

# Install clang if missing, build, then run every harness in turn.
fuzz:
	@EXTRA_PKGS="$(FUZZ_PKGS)" sh tests/deps.sh
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_OUT=$(FUZZ_OUT) sh tests/fuzz/run.sh \
	    $(foreach n,$(FUZZ_NAMES),$(n):$(or $(FUZZ_MAXLEN_$(n)),$(FUZZ_MAXLEN)))

.PHONY: fuzz fuzz-build

-include $(shell find $(FUZZ_OUT)/obj -name '*.d' 2>/dev/null)
