# gridmr: GNU Make build, out of tree in build/.
#   make            library (build/lib), command (build/bin/gridmr), examples
#   make demo       install missing packages, build, run the demo job on generated data
#   make check      install missing packages, build, run every test
#   make bench      benchmarks (bench/), not tests
#   make experiments  the paper's tables and figures beside gridmr's (docs/results.md; FULL=1: full size)
#   make install    PREFIX=/usr/local
#   SANITIZE=address,undefined   sanitizer build;  WERROR=1 (default under CI) adds -Werror
BUILD    ?= build
PREFIX   ?= /usr/local
CC       := mpicc
SANITIZE ?=
WERROR   ?= $(if $(CI),1,)

PKGS     := hdf5-openmpi jansson openblas sqlite3
CPPFLAGS += -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# SuiteSparse KLU (the power flow's sparse LU): Debian's libsuitesparse-dev ships no .pc file
CPPFLAGS += -I/usr/include/suitesparse
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Wpedantic -fPIC -MMD -MP
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llapacke -lxxhash -lklu -lamd -lcolamd -lbtf -lsuitesparseconfig -lm
ifneq ($(WERROR),)
CFLAGS   += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(wildcard src/core/*.c src/topo/*.c src/sched/*.c src/io/*.c src/mr/*.c src/stage/*.c src/gen/*.c src/lasso/*.c src/sync/*.c src/pf/*.c src/apps/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/check_*.c)

TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
BENCHES  := $(BUILD)/bench/hashcount $(BUILD)/bench/jsonparse $(BUILD)/bench/stagebw $(BUILD)/bench/lasso_bench \
            $(BUILD)/bench/vsm_bench

LIBA     := $(BUILD)/lib/libgridmr.a
LIBSO    := $(BUILD)/lib/libgridmr.so
GRIDMR   := $(BUILD)/bin/gridmr

.PHONY: all deps demo check tests bench experiments install clean
# objects are not intermediate files: keep them, so a second make rebuilds nothing
.SECONDARY:
all: $(LIBA) $(LIBSO) $(GRIDMR) $(EXAMPLES) $(BUILD)/gridmr.pc

deps:
	@sh scripts/install-deps.sh

# demo and check install first, then build in a second make so that pkg-config and mpicc are
# looked up after the packages exist.
demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory all tests
	@sh tests/run.sh $(BUILD)

tests: $(TESTS) $(BENCHES) $(BUILD)/tests/ref_aggregate $(BUILD)/tests/gen_verify $(BUILD)/tests/ref_ingest $(BUILD)/tests/ref_lasso $(BUILD)/tests/ref_supply

bench: deps
	@sh scripts/install-deps.sh gnuplot-nox
	@$(MAKE) --no-print-directory all $(BENCHES)
	@sh bench/run-all $(BUILD)

# the paper's experiments (bench/experiments): quick by default, FULL=1 for the full sizes
experiments: deps
	@$(MAKE) --no-print-directory all $(BENCHES)
	@sh bench/experiments $(BUILD) $(if $(FULL),--full,)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBSO): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(GRIDMR): $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(filter-out $(BUILD)/obj/src/cli/main.o,$(CLI_OBJ)) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LDLIBS) $(shell pkg-config --libs check 2>/dev/null)

$(BUILD)/obj/tests/%.o: CPPFLAGS += $(shell pkg-config --cflags check 2>/dev/null) -Isrc/cli

# the independent reference of tests/run.sh: plain gcc, none of gridmr's code
$(BUILD)/tests/ref_aggregate: tests/ref_aggregate.c
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -O2 -Wall -Wextra -o $@ $< -lm

# the independent checker of generated power data sets: plain gcc and libxxhash, no gridmr code
$(BUILD)/tests/gen_verify: tests/gen_verify.c
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -O2 -Wall -Wextra -o $@ $< -lxxhash

# the independent reference of gridmr events and blobs: plain gcc and libxxhash, no gridmr code
$(BUILD)/tests/ref_ingest: tests/ref_ingest.c tests/ref_json.h
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -O2 -Wall -Wextra -o $@ $< -lxxhash -lm

# the independent certificate of gridmr lasso: plain gcc and LAPACK, no gridmr code
$(BUILD)/tests/ref_lasso: tests/ref_lasso.c
	@mkdir -p $(dir $@)
	gcc -std=gnu11 -O2 -Wall -Wextra $(shell pkg-config --cflags openblas 2>/dev/null) -o $@ $< -llapacke $(shell pkg-config --libs openblas 2>/dev/null) -lm

# the independent reference of gridmr supply: no gridmr code; reads the models with the HDF5 C
# API (mpicc only because the parallel HDF5 headers include mpi.h)
$(BUILD)/tests/ref_supply: tests/ref_supply.c tests/ref_json.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra $(shell pkg-config --cflags hdf5-openmpi 2>/dev/null) -o $@ $< $(shell pkg-config --libs hdf5-openmpi 2>/dev/null) -lm

$(BUILD)/bench/hashcount: bench/hashcount.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lxxhash

$(BUILD)/bench/jsonparse: bench/jsonparse.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(shell pkg-config --libs jansson 2>/dev/null)

# stage bandwidth (bench/staging): in-tree, so it uses the private headers and links like a test
$(BUILD)/bench/stagebw: $(BUILD)/obj/bench/stagebw.o $(filter-out $(BUILD)/obj/src/cli/main.o,$(CLI_OBJ)) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBA) $(LDLIBS)

# the LASSO benchmark driver: rows generated per rank in memory, gmr_lasso_* timed (bench/lasso)
$(BUILD)/bench/lasso_bench: $(BUILD)/obj/bench/lasso_bench.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# the voltage-stability point benchmark driver: one PF + CPF per point, timed (bench/vsm)
$(BUILD)/bench/vsm_bench: $(BUILD)/obj/bench/vsm_bench.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# gridmr.pc for PREFIX $(1), written to $(2); `make install` writes it again with its PREFIX.
# Libs.private: what the static library needs beyond the Requires.private packages
# (pkg-config --static); the shared library carries its own dependencies.
write_pc = printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: gridmr\nDescription: MapReduce over MPI for headquarters + provinces clusters\nVersion: 0.1.0\nRequires.private: hdf5-openmpi jansson openblas sqlite3\nCflags: -I$${includedir}\nLibs: -L$${libdir} -lgridmr\nLibs.private: -llapacke -lxxhash -lklu -lamd -lcolamd -lbtf -lsuitesparseconfig -lpthread -lm\n' '$(1)' > $(2)

$(BUILD)/gridmr.pc: Makefile
	@mkdir -p $(dir $@)
	@$(call write_pc,$(PREFIX),$@)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/gridmr $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/share/gridmr/slurm
	install -m 755 slurm/*.sbatch $(DESTDIR)$(PREFIX)/share/gridmr/slurm/
	install -m 644 $(LIBA) $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/gridmr/*.h $(DESTDIR)$(PREFIX)/include/gridmr/
	install -m 755 $(GRIDMR) $(DESTDIR)$(PREFIX)/bin/
	@$(call write_pc,$(PREFIX),$(DESTDIR)$(PREFIX)/lib/pkgconfig/gridmr.pc)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
