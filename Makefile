# tapline: see README.md.  make, make check, make install, make fuzz.
VERSION = 0.1.0

PREFIX  = /usr/local
BINDIR  = $(PREFIX)/bin
MANDIR  = $(PREFIX)/share/man
DATADIR = $(PREFIX)/share/tapline
DESTDIR =

CC      = cc
CLANG   = clang
O       = build
OPT     = -O2 -g
SAN     =
CFLAGS  = $(OPT) $(SAN)
LDFLAGS = $(SAN)

PKG = pkg-config
LWS_LIBS     = $$($(PKG) --libs libwebsockets)
JANSSON_LIBS = $$($(PKG) --libs jansson)
CRYPTO_LIBS  = $$($(PKG) --libs libcrypto)
SNDFILE_LIBS = $$($(PKG) --libs sndfile)
GRPC_LIBS    = $$($(PKG) --libs grpc libprotobuf-c)
SPHINX_LIBS  = $$($(PKG) --libs pocketsphinx)
CMOCKA_LIBS  = $$($(PKG) --libs cmocka)
CURL_LIBS    = $$($(PKG) --libs libcurl)
PKG_CFLAGS  := $(shell $(PKG) --cflags libwebsockets jansson libcrypto sndfile \
		grpc libprotobuf-c pocketsphinx libcurl)

WARN = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wvla -Wformat=2
DEFS = -D_GNU_SOURCE -DTAPLINE_VERSION='"$(VERSION)"' \
       -DTAPLINE_DATADIR='"$(DATADIR)"'
ALL_CFLAGS = $(WARN) $(DEFS) -Ilib -I$(O)/gen $(PKG_CFLAGS) $(CFLAGS)

PROGS = tw-mediasrv mulaw-split tw-simcall gstt-stream gstt-serve ts-broadcast \
	ts-format tw-dial
SCRIPTS = tapline-live tapline-demo tapline-dial tapline-view tapline-batch

# What each program links besides lib/.
LIBS_tw-mediasrv = $(LWS_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
LIBS_mulaw-split = $(JANSSON_LIBS) $(SNDFILE_LIBS)
LIBS_tw-simcall  = $(LWS_LIBS) $(JANSSON_LIBS) $(SNDFILE_LIBS) $(CRYPTO_LIBS)
LIBS_gstt-stream = $(GRPC_LIBS) $(JANSSON_LIBS) $(SNDFILE_LIBS)
LIBS_gstt-serve  = $(GRPC_LIBS) $(SPHINX_LIBS) $(JANSSON_LIBS)
LIBS_ts-broadcast = $(LWS_LIBS) $(JANSSON_LIBS) $(CRYPTO_LIBS)
LIBS_ts-format   = $(JANSSON_LIBS)
LIBS_tw-dial     = $(CURL_LIBS) $(JANSSON_LIBS)
EXTRA_gstt-stream = $(PBLIB)
EXTRA_gstt-serve  = $(PBLIB)
ALL_LIBS = $(LWS_LIBS) $(JANSSON_LIBS) $(SNDFILE_LIBS) $(CRYPTO_LIBS) \
	   $(GRPC_LIBS) -lm

# Google Speech v1 messages: protoc-c generates C into $(O)/gen at build
# time (never committed), with the well-known types it imports, which
# protobuf-c does not ship compiled.
PROTOS   = google/cloud/speech/v1/cloud_speech.proto google/rpc/status.proto
WKT      = google/protobuf/duration.proto google/protobuf/any.proto \
	   google/protobuf/wrappers.proto
PB_C     = $(patsubst %.proto,$(O)/gen/%.pb-c.c,$(PROTOS) $(WKT))
PB_OBJ   = $(PB_C:.c=.o)
PBLIB    = $(O)/libspeechpb.a

LIB_SRC  = $(wildcard lib/*.c)
LIB_OBJ  = $(LIB_SRC:lib/%.c=$(O)/lib/%.o)
LIBA     = $(O)/libtapline.a
BINS     = $(PROGS:%=$(O)/bin/%)
UNIT_SRC = $(wildcard tests/unit/t-*.c)
UNITS    = $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)
HELP_SRC = $(wildcard tests/helpers/*.c)
HELPERS  = $(HELP_SRC:tests/helpers/%.c=$(O)/tests/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz-*.c)
FUZZERS  = $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

all: $(BINS)

$(O)/lib/%.o: lib/%.c lib/*.h $(O)/gen/.stamp
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/gen/.stamp: $(PROTOS:%=proto/%)
	@mkdir -p $(@D)
	protoc-c -Iproto -I/usr/include --c_out=$(O)/gen $(PROTOS) $(WKT)
	touch $@

$(PB_C): $(O)/gen/.stamp

# Generated code is not ours to fix: only the warning it trips is off.
$(O)/gen/%.pb-c.o: $(O)/gen/%.pb-c.c
	$(CC) $(ALL_CFLAGS) -Wno-missing-braces -c -o $@ $<

$(PBLIB): $(PB_OBJ)
	rm -f $@
	ar rcs $@ $(PB_OBJ)

$(LIBA): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

# A program is cmd/NAME.c, or cmd/NAME/*.c when it outgrew one file.
.SECONDEXPANSION:
$(O)/bin/%: $$(wildcard cmd/$$*.c cmd/$$*/*.c cmd/$$*/*.h) $$(EXTRA_$$*) $(LIBA) \
	    lib/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Icmd/$* -o $@ $(filter %.c,$^) $(EXTRA_$*) \
		$(LIBA) $(LDFLAGS) $(LIBS_$*) -lm

$(O)/tests/t-%: tests/unit/t-%.c $(LIBA) $(PBLIB) lib/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(PBLIB) $(LIBA) \
		$(LDFLAGS) $(CMOCKA_LIBS) $(ALL_LIBS)

$(O)/tests/%: tests/helpers/%.c $(LIBA) $(PBLIB) lib/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(PBLIB) $(LIBA) $(LDFLAGS) $(ALL_LIBS)

# libFuzzer targets: clang, with ASan and UBSan, lib/ compiled in.
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	     -fno-sanitize-recover=undefined
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) lib/*.h $(PB_C)
	@mkdir -p $(@D)
	$(CLANG) $(WARN) -Wno-missing-prototypes -Wno-missing-braces $(DEFS) \
		-Ilib -I$(O)/gen $(PKG_CFLAGS) $(FUZZ_FLAGS) -o $@ $< \
		$(LIB_SRC) $(PB_C) $(ALL_LIBS)

# Targets that compile a program's own source in.
build/fuzz/fuzz-speechreq: cmd/gstt-serve/request.c cmd/gstt-serve/gstt-serve.h
build/fuzz/fuzz-speechresp: cmd/gstt-stream/events.c cmd/gstt-stream/gstt.h
build/fuzz/fuzz-splitline: $(wildcard cmd/mulaw-split/*.c cmd/mulaw-split/*.h)
build/fuzz/fuzz-tsformat: cmd/ts-format.c
build/fuzz/fuzz-events: $(wildcard cmd/ts-broadcast/*.c cmd/ts-broadcast/*.h)

fuzz: $(FUZZERS)

# Benchmark helpers (bench/*.c); the benchmarks are the scripts beside them.
BENCH_SRC = $(wildcard bench/*.c)
BENCH     = $(BENCH_SRC:bench/%.c=$(O)/bench/%)
$(O)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDFLAGS) $(CRYPTO_LIBS)

bench: all $(BENCH)

tests: $(BINS) $(UNITS) $(HELPERS) $(BENCH)

# The suite once with the normal build, then again under ASan and UBSan.
check: tests fuzz
	$(MAKE) check-run EXTRA_TESTS=tests/fuzz/run.sh
	$(MAKE) O=build-san OPT='-O1 -g -fno-omit-frame-pointer' \
		SAN='-fsanitize=address,undefined -fno-sanitize-recover=all' \
		check-run

# The offline demo: a call played through the live pipeline, transcribed
# by gstt-serve, shown in the page and the terminal.
demo: all
	scripts/tapline-demo

check-run: tests
	TAPLINE_BUILD=$(CURDIR)/$(O) CMOCKA_MESSAGE_OUTPUT=TAP \
		TAPLINE_FUZZ=$(CURDIR)/build/fuzz \
		prove --exec 'timeout 900' $(UNITS) tests/t[0-9]*.sh $(EXTRA_TESTS)

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(DATADIR)/web
	for p in $(PROGS); do cp -f $(O)/bin/$$p $(DESTDIR)$(BINDIR)/; done
	for s in $(SCRIPTS); do \
		cp -f scripts/$$s $(DESTDIR)$(BINDIR)/ && \
		chmod 755 $(DESTDIR)$(BINDIR)/$$s; done
	cp -f scripts/tapline-common.sh scripts/tapline.env.example \
		$(DESTDIR)$(DATADIR)/
	mkdir -p $(DESTDIR)$(DATADIR)/systemd
	cp -f scripts/systemd/*.service $(DESTDIR)$(DATADIR)/systemd/
	cp -f man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	cp -f man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/
	if [ -n "$$(ls web 2>/dev/null)" ]; then cp -Rf web/. $(DESTDIR)$(DATADIR)/web/; fi

uninstall:
	for p in $(PROGS) $(SCRIPTS); do rm -f $(DESTDIR)$(BINDIR)/$$p; done
	for m in man/man1/*.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$${m##*/}; done
	rm -f $(DESTDIR)$(MANDIR)/man7/tapline.7
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-san

.PHONY: all bench check check-run clean demo fuzz install tests uninstall
.SECONDARY:
