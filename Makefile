# dynpass: isp, esp and sockhook. `make`, `make check`, `make demo`.

VERSION   = 0.1.0
CC       ?= cc
PKGS      = libevent libevent_openssl openssl libpcre2-8
BUILD     = build
SANITIZE ?=

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -MMD -MP -fPIC
CPPFLAGS += -D_GNU_SOURCE -DDYNPASS_VERSION='"$(VERSION)"' -Ilib \
	    -I/usr/include/iniparser $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -liniparser -lpthread
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIB_SRC  = $(wildcard lib/*.c)
ESP_SRC  = $(wildcard esp/*.c)
ISP_SRC  = $(wildcard isp/*.c)
UNIT_SRC = $(wildcard tests/unit/*.c)
HOOK_SRC = $(filter-out sockhook/main.c,$(wildcard sockhook/*.c))
HOOK_LIB = $(call obj,lib/conf.c lib/allow.c lib/addr.c lib/xmalloc.c lib/log.c)
# Helper programs for scenario tests: tests/AREA/x.c -> build/tests/AREA/x
HELPER_SRC = $(filter-out tests/unit/%,$(wildcard tests/*/*.c))
HELPER_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(HELPER_SRC))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_A    = $(BUILD)/lib/libdynpass.a
BINS     = $(BUILD)/bin/esp $(BUILD)/bin/isp
ifneq ($(wildcard sockhook/main.c),)
BINS    += $(BUILD)/bin/sockhook $(BUILD)/lib/libsockhook.so
endif
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/esp: $(call obj,$(ESP_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/isp: $(call obj,$(ISP_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The preload library: no libevent, only libc, libdl and iniparser.
$(BUILD)/lib/libsockhook.so: $(call obj,$(HOOK_SRC)) $(HOOK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsockhook.so -o $@ $^ \
	    -liniparser -ldl -lpthread

$(BUILD)/bin/sockhook: $(call obj,sockhook/main.c) $(HOOK_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -liniparser

$(UNIT_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(HELPER_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(UNIT_BIN) $(HELPER_BIN)

# Install missing Debian build and test dependencies (only as root).
deps:
	@sh tests/deps.sh

check: deps
	@$(MAKE) --no-print-directory all tests
	@sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh etc/demo.sh

format:
	clang-format -i lib/*.[ch] esp/*.[ch] isp/*.[ch] tests/unit/*.[ch]

clean:
	rm -rf $(BUILD)

.PHONY: all tests deps check demo format clean

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
