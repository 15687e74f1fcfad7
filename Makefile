# Haven — one plain Makefile.
#
#   make            build bin/haven, bin/haven-broker, bin/haven-agent
#   make test       install missing packages, build with ASan+UBSan, run all tests
#   make e2e        the same, end-to-end tests only
#   make fuzz       build the libFuzzer harnesses (clang); make fuzz-run
#                   FUZZ_SECONDS=N runs each for N seconds over its corpus
#   make format-check  list the files clang-format would change
#   make demo       a whole partnership on loopback (SPEC §12)
#   make bench      throughput, latency and memory figures (SPEC §11)
#   make bench-deps the peers the bench runs beside Haven (Mosquitto, NATS)
#   make bench-profile  where the daemons' CPU goes a message (perf, root)
#   make install    PREFIX=/usr/local DESTDIR= (MANDIR=PREFIX/share/man)
#
# BUILD and BIN may be overridden so that several builds (for instance a
# sanitizer build beside a release build) can live side by side.

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
BIN      ?= bin
SAN      ?= 0
V        ?= 0

PKGS     := libzmq libsodium libprotobuf-c lmdb libmicrohttpd jansson inih libcurl
DEB_PKGS := libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler \
            liblmdb-dev libcriterion-dev libmicrohttpd-dev libjansson-dev \
            libinih-dev libcurl4-openssl-dev libsystemd-dev pkg-config curl \
            groff-base clang clang-format xxd openssl chromium \
            chromium-driver python3-selenium
# Wanted as commands: a machine may have them from elsewhere (Node.js's
# own packages conflict with Debian's npm), so only a missing one is added.
DEB_CMDS := npm
# The peers `make bench` runs beside Haven (never needed to build or test).
BENCH_DEB_PKGS := mosquitto libmosquitto-dev nats-server libnats-dev

CC       ?= cc
WARN     := -Wall -Wextra -Wformat=2 -Werror
OPT      ?= -O2 -g
CFLAGS   := $(OPT) $(EXTRA_CFLAGS) -std=c11 -D_GNU_SOURCE -fno-strict-aliasing $(WARN) -MMD -MP \
            -Ilib -Icli -I$(BUILD)/proto
LDFLAGS  ?=
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) libsystemd 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) libsystemd 2>/dev/null)
CRIT_LIBS  = $(shell pkg-config --libs criterion 2>/dev/null)
CFLAGS    += $(PKG_CFLAGS)
LIBS       = $(PKG_LIBS) -lpthread

ifeq ($(V),0)
Q = @
E = @printf '  %-6s %s\n'
else
Q =
E = @true
endif

PROTO_C   := $(BUILD)/proto/haven.pb-c.c
PROTO_H   := $(BUILD)/proto/haven.pb-c.h
LIB_SRC   := $(sort $(wildcard lib/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/proto/haven.pb-c.o
LIBHAVEN  := $(BUILD)/libhaven.a

BROKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard broker/*.c)))
AGENT_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard agent/*.c))) \
              $(BUILD)/agent/console_assets.o
CONSOLE_ASSETS := $(sort $(wildcard agent/console/*))
CLI_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard cli/*.c keys/*.c)))

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_LIBOBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))
E2E_SRC    := $(sort $(wildcard tests/e2e/test_*.c))
E2E_BIN    := $(E2E_SRC:tests/e2e/%.c=$(BUILD)/tests/e2e/%)
LONG_SRC   := $(sort $(wildcard tests/long/test_*.c))
LONG_BIN   := $(LONG_SRC:tests/long/%.c=$(BUILD)/tests/long/%)
E2E_LIBOBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(E2E_SRC),$(wildcard tests/e2e/*.c)))
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
# The peer benches link the peers' client libraries, so they are built
# only once `make bench-deps` has installed them.
PEER_BIN   := $(if $(shell pkg-config --exists libmosquitto 2>/dev/null && echo y),$(BUILD)/bench/mqtt_bench) \
              $(if $(shell pkg-config --exists libnats 2>/dev/null && echo y),$(BUILD)/bench/nats_bench)

PROGRAMS  := $(BIN)/haven $(BIN)/haven-broker $(BIN)/haven-agent

.PHONY: all deps bench-deps bench-profile test test-long unit e2e browser demo bench install \
        clean format format-check check check-e2e check-long check-deps fuzz \
        fuzz-bins fuzz-run fuzz-corpus install-debs
.SECONDARY:

all: $(PROGRAMS)

# ---- dependencies ---------------------------------------------------------

# Installs the Debian packages Haven builds against, only when one is missing.
deps:
	$(Q)$(MAKE) --no-print-directory install-debs DEBS="$(DEB_PKGS)"

bench-deps:
	$(Q)$(MAKE) --no-print-directory install-debs DEBS="$(BENCH_DEB_PKGS)"

install-debs:
	@missing=""; for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
			|| missing="$$missing $$p"; \
	done; \
	for c in $(DEB_CMDS); do \
		command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ---- code generation ------------------------------------------------------

$(PROTO_C) $(PROTO_H) &: proto/haven.proto
	@mkdir -p $(BUILD)/proto
	$(E) PROTOC $<
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

# Everything that includes lib headers may include the generated header.
$(LIB_OBJ) $(BROKER_OBJ) $(AGENT_OBJ) $(CLI_OBJ) $(E2E_LIBOBJ): | $(PROTO_H)

$(BUILD)/proto/haven.pb-c.o: $(PROTO_C)
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The console's pages, script and style sheet (agent/console/*) become
# byte arrays in the agent, with a table console.c looks names up in: the
# agent serves them from memory and needs no files at run time.
$(BUILD)/agent/console_assets.c: $(CONSOLE_ASSETS) Makefile
	@mkdir -p $(dir $@)
	$(E) GEN $@
	$(Q)( echo '#include <stddef.h>'; \
	  echo 'struct console_asset { const char *name; const unsigned char *data; size_t len; };'; \
	  cd agent/console && for f in $(notdir $(CONSOLE_ASSETS)); do \
		xxd -i $$f | grep -v '_len = ' | sed 's/^unsigned char/static const unsigned char/'; \
	  done; \
	  echo 'extern const struct console_asset console_assets[];'; \
	  echo 'const struct console_asset console_assets[] = {'; \
	  for f in $(notdir $(CONSOLE_ASSETS)); do \
		v=$$(echo $$f | tr '.-' '__'); echo "	{ \"$$f\", $$v, sizeof($$v) },"; \
	  done; \
	  echo '	{ NULL, NULL, 0 },'; echo '};' ) >$@.tmp && mv $@.tmp $@

$(BUILD)/agent/console_assets.o: $(BUILD)/agent/console_assets.c
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# ---- library and programs -------------------------------------------------

$(LIBHAVEN): $(LIB_OBJ)
	$(E) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN)/haven-broker: $(BROKER_OBJ) $(LIBHAVEN)
	@mkdir -p $(BIN)
	$(E) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(BROKER_OBJ) $(LIBHAVEN) $(LIBS)

$(BIN)/haven-agent: $(AGENT_OBJ) $(LIBHAVEN)
	@mkdir -p $(BIN)
	$(E) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(AGENT_OBJ) $(LIBHAVEN) $(LIBS)

$(BIN)/haven: $(CLI_OBJ) $(LIBHAVEN)
	@mkdir -p $(BIN)
	$(E) LD $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBHAVEN) $(LIBS)

# ---- tests ----------------------------------------------------------------

$(BUILD)/tests/unit/%: tests/unit/%.c $(UNIT_LIBOBJ) $(LIBHAVEN)
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(UNIT_LIBOBJ) $(LIBHAVEN) $(LIBS) \
		$(CRIT_LIBS)

$(BUILD)/tests/e2e/%: tests/e2e/%.c $(E2E_LIBOBJ) $(LIBHAVEN)
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(E2E_LIBOBJ) $(LIBHAVEN) $(LIBS) $(CRIT_LIBS)

$(BUILD)/tests/long/%: tests/long/%.c $(E2E_LIBOBJ) $(LIBHAVEN)
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(E2E_LIBOBJ) $(LIBHAVEN) $(LIBS) $(CRIT_LIBS)

# Bench programs reuse the e2e harness (partnerships of real daemons).
$(BUILD)/bench/%: bench/%.c $(E2E_LIBOBJ) $(LIBHAVEN)
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(E2E_LIBOBJ) $(LIBHAVEN) $(LIBS)

$(BUILD)/bench/mqtt_bench: bench/peers/mqtt_bench.c bench/peers/peer.h bench/bench.h
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libmosquitto) -lpthread

$(BUILD)/bench/nats_bench: bench/peers/nats_bench.c bench/peers/peer.h bench/bench.h
	@mkdir -p $(dir $@)
	$(E) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libnats) -lpthread

# `make test` is the whole gate: packages, a sanitizer build, unit, e2e
# (with the long kill -9 stream of tests/long) and the browser test.
test: deps
	$(Q)$(MAKE) --no-print-directory -j2 SAN=1 BUILD=build/san BIN=build/san/bin check

# `make e2e` is the end-to-end half alone, in the same sanitizer build.
e2e: deps
	$(Q)$(MAKE) --no-print-directory -j2 SAN=1 BUILD=build/san BIN=build/san/bin check-e2e

TEST_ENV = HAVEN_BIN=$(abspath $(BIN)) HAVEN_SRC=$(CURDIR) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Runs every test binary of the current build; a failing one fails the run
# but the others still run, so one report shows everything that is broken.
check: $(PROGRAMS) $(UNIT_BIN) $(E2E_BIN) $(LONG_BIN)
	$(Q)$(TEST_ENV) tests/run-tests $(UNIT_BIN) -- $(E2E_BIN) $(LONG_BIN)
	$(Q)$(MAKE) --no-print-directory browser

check-e2e: $(PROGRAMS) $(E2E_BIN)
	$(Q)$(TEST_ENV) tests/run-tests -- $(E2E_BIN)

# The long fault test (tests/long/) alone: 40 kill -9s during a 10,000
# message stream, about a minute with the sanitizers; `make test` runs it
# too. HAVEN_LONG_MESSAGES changes the stream's length.
test-long: deps
	$(Q)$(MAKE) --no-print-directory -j2 SAN=1 BUILD=build/san BIN=build/san/bin check-long

check-long: $(PROGRAMS) $(LONG_BIN)
	$(Q)$(TEST_ENV) tests/run-tests -- $(LONG_BIN)

# The console in headless Chromium against real daemons (tests/browser),
# with axe-core from the npm registry checking each page's accessibility.
AXE_VERSION := 4.14.1
AXE_JS := $(BUILD)/npm/node_modules/axe-core/axe.min.js
$(AXE_JS):
	$(E) NPM axe-core@$(AXE_VERSION)
	$(Q)npm install --silent --no-audit --no-fund --prefix $(BUILD)/npm \
		axe-core@$(AXE_VERSION) >/dev/null

browser: $(PROGRAMS) $(AXE_JS)
	$(Q)HAVEN_BIN=$(abspath $(BIN)) HAVEN_AXE=$(abspath $(AXE_JS)) \
		ASAN_OPTIONS=detect_leaks=1 \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		/usr/bin/python3 tests/browser/test_console.py

unit: $(UNIT_BIN)
	$(Q)tests/run-tests $(UNIT_BIN)

demo: deps all
	$(Q)HAVEN_BIN=$(abspath $(BIN)) ./demo/run

bench: deps all $(BENCH_BIN) $(PEER_BIN)
	$(Q)HAVEN_BIN=$(abspath $(BIN)) HAVEN_BENCH_BIN=$(abspath $(BUILD)/bench) ./bench/run

# Where the daemons' CPU goes a message, by kind of work (perf, as root).
bench-profile: deps all $(BUILD)/bench/e2e_bench
	$(Q)HAVEN_BIN=$(abspath $(BIN)) HAVEN_BENCH_BIN=$(abspath $(BUILD)/bench) ./bench/profile

# ---- install --------------------------------------------------------------

BINDIR  := $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR  := $(PREFIX)/share/doc/haven
DATADIR := $(PREFIX)/share/haven
MANDIR  ?= $(PREFIX)/share/man

# Binaries, sandboxed systemd units (pointing at BINDIR), the example
# agreement and configs, the manual pages and the documentation.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	for u in dist/*.service.in; do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' $$u \
			>$(DESTDIR)$(UNITDIR)/$$(basename $$u .in) && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u .in) || exit 1; \
	done
	install -m 0644 dist/agreement.example dist/broker.conf.example \
		dist/agent.conf.example $(DESTDIR)$(DATADIR)/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/man/haven.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 docs/man/haven-broker.8 docs/man/haven-agent.8 \
		$(DESTDIR)$(MANDIR)/man8/

# ---- fuzzing -------------------------------------------------------------

# One libFuzzer harness per parser of outside input (tests/fuzz/fuzz_*.c),
# built with clang into build/fuzz/ with sanitizers that stop at the first
# report. `make fuzz-run FUZZ_SECONDS=N` runs each for N seconds over a
# temporary copy of its seed corpus (tests/fuzz/corpus/NAME/), so runs never
# grow the repository, and fails on the first finding, which it keeps in
# build/fuzz/findings/. `make fuzz-corpus` writes the seeds again.
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 20

fuzz: deps
	$(Q)$(MAKE) --no-print-directory CC=clang SAN=0 BUILD=build/fuzz \
		OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		fuzz-bins

fuzz-bins: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
	@:

# Used by the sub-make above (BUILD=build/fuzz). The request harness links
# the agent's objects; its main() is renamed so that libFuzzer's runs.
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_keys.h $(LIBHAVEN)
	$(E) FUZZ $@
	$(Q)$(CC) $(CFLAGS) -Iagent -Itests/fuzz -fsanitize=fuzzer $(FUZZ_SAN) \
		-o $@ $< $(FUZZ_LINK) $(LIBHAVEN) $(LIBS)
build/fuzz/fuzz_request: $(AGENT_OBJ)
build/fuzz/fuzz_request: FUZZ_LINK = $(AGENT_OBJ)
build/fuzz/agent/main.o: CFLAGS += -Dmain=haven_agent_main

fuzz-run: fuzz
	$(Q)mkdir -p build/fuzz/findings; \
	for n in $(FUZZ_NAMES); do \
		tmp=$$(mktemp -d) || exit 1; \
		cp tests/fuzz/corpus/$$n/* $$tmp/ 2>/dev/null; \
		printf '  FUZZ   %s for %s s\n' $$n $(FUZZ_SECONDS); \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/findings/$$n- $$tmp \
			>build/fuzz/$$n.log 2>&1; rc=$$?; \
		rm -rf $$tmp; \
		if [ $$rc -ne 0 ]; then \
			tail -n 60 build/fuzz/$$n.log; \
			echo "fuzz_$$n found a problem: build/fuzz/$$n.log, build/fuzz/findings/"; \
			exit 1; \
		fi; \
		grep -E '^stat::number_of_executed_units|^Done' build/fuzz/$$n.log | tail -n 1; \
	done

fuzz-corpus: $(LIBHAVEN)
	@mkdir -p $(BUILD)/tests/fuzz
	$(E) LD $(BUILD)/tests/fuzz/corpus
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Itests/fuzz -o $(BUILD)/tests/fuzz/corpus \
		tests/fuzz/corpus.c $(LIBHAVEN) $(LIBS)
	$(Q)$(BUILD)/tests/fuzz/corpus tests/fuzz/corpus

# ---- formatting -------------------------------------------------------------

FORMAT_FILES = $(sort $(wildcard lib/*.[ch] broker/*.[ch] agent/*.[ch] cli/*.[ch] \
               keys/*.[ch] tests/*/*.[ch] bench/*.[ch] bench/peers/*.[ch]))

format:
	clang-format -i $(FORMAT_FILES)

# Lists each file `make format` would change, with the number of lines, and
# fails if there is any; changes nothing.
format-check:
	@n=0; for f in $(FORMAT_FILES); do \
		d=$$(clang-format "$$f" | diff "$$f" - | grep -c '^<'); \
		if [ "$$d" -ne 0 ]; then echo "$$f: $$d lines"; n=$$((n + d)); fi; \
	done; \
	echo "clang-format would change $$n lines (make format)"; [ "$$n" -eq 0 ]

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
