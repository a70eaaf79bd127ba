# dynpass: isp, esp and sockhook. `make`, `make check`, `make demo`.

VERSION   = 0.1.0
CC       ?= cc
PKGS      = libevent libevent_openssl libevent_pthreads openssl libpcre2-8
BUILD     = build
SANITIZE ?=

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -MMD -MP -fPIC
CPPFLAGS += -D_GNU_SOURCE -DDYNPASS_VERSION='"$(VERSION)"' -Ilib \
	    -I/usr/include/iniparser $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -liniparser -lpthread
# The preload library goes into arbitrary programs, so it is never built
# with sanitizers (their runtime must come first in a process).
HOOK_CFLAGS  := $(CFLAGS)
HOOK_LDFLAGS := $(LDFLAGS)
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIB_SRC  = $(wildcard lib/*.c)
ESP_SRC  = $(wildcard esp/*.c)
ISP_SRC  = $(wildcard isp/*.c)
UNIT_SRC = $(wildcard tests/unit/*.c)
# The agent (sockhook/agent*.c, not agentstate.c) runs in the launcher.
AGENT_SRC = sockhook/agent.c $(wildcard sockhook/agent_*.c)
HOOK_SRC = $(filter-out sockhook/main.c $(AGENT_SRC),$(wildcard sockhook/*.c))
HOOK_DEP = lib/conf.c lib/allow.c lib/addr.c lib/xmalloc.c lib/log.c lib/escape.c \
	   lib/monotime.c lib/sockdiag.c
# Helper programs for scenario tests: tests/AREA/x.c -> build/tests/AREA/x
HELPER_SRC = $(filter-out tests/unit/% tests/fuzz/%,$(wildcard tests/*/*.c))
HELPER_BIN = $(patsubst tests/%.c,$(BUILD)/tests/%,$(HELPER_SRC))

obj  = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
hobj = $(patsubst %.c,$(BUILD)/hook/%.o,$(1))

LIB_A    = $(BUILD)/lib/libdynpass.a
PLAIN_A  = $(BUILD)/lib/libdynpass-plain.a
BINS     = $(BUILD)/bin/esp $(BUILD)/bin/isp
ifneq ($(wildcard sockhook/main.c),)
BINS    += $(BUILD)/bin/sockhook $(BUILD)/lib/libsockhook.so
endif
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Rebuild everything when the compiler flags change (e.g. SANITIZE=).
STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $(STAMP) || \
	echo '$(CC) $(CFLAGS) $(LDFLAGS)' >$(STAMP))

all: $(BINS)

$(BUILD)/obj/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/hook/%.o: %.c $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HOOK_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/esp: $(call obj,$(ESP_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/isp: $(call obj,$(ISP_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The preload library: no libevent, only libc, libdl, pthreads, iniparser.
# Only the hooks are exported (sockhook/libsockhook.map), so the helpers
# linked in cannot clash with a program's own symbols.
$(BUILD)/lib/libsockhook.so: $(call hobj,$(HOOK_SRC) $(HOOK_DEP)) sockhook/libsockhook.map
	@mkdir -p $(dir $@)
	$(CC) $(HOOK_LDFLAGS) -shared -Wl,-soname,libsockhook.so \
	    -Wl,--version-script=sockhook/libsockhook.map -o $@ \
	    $(filter %.o,$^) -liniparser -ldl -lpthread

# The launcher and the agent: libevent and OpenSSL, like the daemons.
$(BUILD)/bin/sockhook: $(call obj,sockhook/main.c sockhook/config.c \
    sockhook/agentstate.c $(AGENT_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Scenario helpers run under the preload library, so like it they are
# never sanitized.
$(PLAIN_A): $(call hobj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(HELPER_BIN): $(BUILD)/tests/%: $(BUILD)/hook/tests/%.o $(PLAIN_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(PKG_LIBS) -liniparser -lpthread

tests: $(UNIT_BIN) $(HELPER_BIN)

# make install [PREFIX=/usr/local] [DESTDIR=]: programs, the preload
# library, manual pages, rule files, systemd units, example configs (an
# existing config is never overwritten), a logrotate snippet.
PREFIX     ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/systemd,$(PREFIX)/lib/systemd)
D = $(DESTDIR)

install: all
	install -d $(D)$(PREFIX)/bin $(D)$(PREFIX)/sbin $(D)$(PREFIX)/lib/dynpass \
	    $(D)$(PREFIX)/share/man/man1 $(D)$(PREFIX)/share/man/man5 \
	    $(D)$(PREFIX)/share/man/man8 $(D)$(PREFIX)/share/dynpass/rules \
	    $(D)$(SYSCONFDIR)/dynpass $(D)$(SYSCONFDIR)/logrotate.d
	install -m 755 $(BUILD)/bin/sockhook $(D)$(PREFIX)/bin/sockhook
	install -m 755 $(BUILD)/bin/esp $(BUILD)/bin/isp $(D)$(PREFIX)/sbin/
	install -m 644 $(BUILD)/lib/libsockhook.so $(D)$(PREFIX)/lib/dynpass/
	install -m 644 docs/sockhook.1 $(D)$(PREFIX)/share/man/man1/
	install -m 644 docs/esp.conf.5 docs/isp.conf.5 docs/dynpass-rules.5 \
	    $(D)$(PREFIX)/share/man/man5/
	install -m 644 docs/esp.8 docs/isp.8 $(D)$(PREFIX)/share/man/man8/
	install -m 644 rules/*.ini $(D)$(PREFIX)/share/dynpass/rules/
	for f in etc/systemd/*.service; do \
		case $$f in *agent*) d=user ;; *) d=system ;; esac; \
		install -d $(D)$(UNITDIR)/$$d; \
		sed -e 's#/usr/bin/#$(PREFIX)/bin/#g' -e 's#/usr/sbin/#$(PREFIX)/sbin/#g' \
		    -e 's#/etc/dynpass#$(SYSCONFDIR)/dynpass#g' $$f \
		    >$(D)$(UNITDIR)/$$d/$$(basename $$f); \
	done
	for f in esp isp sockhook; do \
		[ -e $(D)$(SYSCONFDIR)/dynpass/$$f.conf ] || \
		    sed -e 's#/usr/share/dynpass#$(PREFIX)/share/dynpass#g' \
		    etc/$$f.conf >$(D)$(SYSCONFDIR)/dynpass/$$f.conf; \
	done
	# isp.conf holds password hashes: not for everyone to read.
	chmod 640 $(D)$(SYSCONFDIR)/dynpass/isp.conf
	[ -e $(D)$(SYSCONFDIR)/logrotate.d/dynpass ] || \
	    install -m 644 etc/logrotate.d/dynpass $(D)$(SYSCONFDIR)/logrotate.d/

# Remove what install put there; configs (maybe edited) stay.
uninstall:
	rm -f $(D)$(PREFIX)/bin/sockhook $(D)$(PREFIX)/sbin/esp $(D)$(PREFIX)/sbin/isp
	rm -f $(D)$(PREFIX)/lib/dynpass/libsockhook.so
	rm -f $(D)$(PREFIX)/share/man/man1/sockhook.1 \
	    $(D)$(PREFIX)/share/man/man5/esp.conf.5 \
	    $(D)$(PREFIX)/share/man/man5/isp.conf.5 \
	    $(D)$(PREFIX)/share/man/man5/dynpass-rules.5 \
	    $(D)$(PREFIX)/share/man/man8/esp.8 $(D)$(PREFIX)/share/man/man8/isp.8
	rm -f $(patsubst rules/%,$(D)$(PREFIX)/share/dynpass/rules/%,$(wildcard rules/*.ini))
	for f in etc/systemd/*.service; do \
		case $$f in *agent*) d=user ;; *) d=system ;; esac; \
		rm -f $(D)$(UNITDIR)/$$d/$$(basename $$f); \
	done
	-rmdir $(D)$(PREFIX)/lib/dynpass $(D)$(PREFIX)/share/dynpass/rules \
	    $(D)$(PREFIX)/share/dynpass 2>/dev/null

# Install missing Debian build and test dependencies (only as root).
deps:
	@sh tests/deps.sh

check: deps
	@$(MAKE) --no-print-directory all tests
	@sh tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh etc/demo.sh

# Benchmarks against socat, ssh -L and stunnel (installs them if missing),
# on loopback (bench/run), then connection setup across an emulated WAN
# (bench/wan), then a routed path with MTU 1500 through a firewall, against
# ssh -R and -L, stunnel and two relays (bench/path).
bench: deps
	@$(MAKE) --no-print-directory all tests
	@sh bench/run
	@sh bench/wan
	@sh bench/path


format:
	clang-format -i lib/*.[ch] esp/*.[ch] isp/*.[ch] sockhook/*.[ch] \
	    tests/unit/*.[ch] tests/*/*.c

clean:
	rm -rf $(BUILD)

.PHONY: all tests deps check demo bench format clean install uninstall

-include $(shell find $(BUILD)/obj $(BUILD)/hook -name '*.d' 2>/dev/null)
-include tests/fuzz/fuzz.mk
