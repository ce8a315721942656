/* case.c: MATPOWER version-2 case files and the gmr_pf_case accessors.
 *
 * A case file is MATLAB text: `function mpc = NAME`, `mpc.version = '2';`, `mpc.baseMVA = 100;`
 * and the matrices `mpc.bus = [ ... ];`, `mpc.gen`, `mpc.branch`, rows ended by `;` or a new
 * line, values separated by blanks or commas, `%` comments. Other fields (gencost, bus_name, ...)
 * are skipped, whatever their brackets. Only what the power flow needs is kept: the first 13
 * bus columns, the first 10 gen columns and the first 11 branch columns; shorter rows are an
 * error naming the file and line. The parser reads the whole file (cases are small: case300 is
 * 40 kB stripped) in one pass over its lines. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pf_impl.h"

enum { M_BUS, M_GEN, M_BRANCH, M_SKIP, M_COUNT };
static const char *const mat_name[M_COUNT] = {"bus", "gen", "branch", "(skipped)"};
static const int mat_cols[M_COUNT] = {13, 10, 11, 0};

typedef struct mat {
    double *v;
    int *line;        /* the line of each row */
    int rows, cols, cap;
    int seen;
} mat;

static gmr_err mat_push(mat *m, const double *row, int ncols, int line, const char *name, int which)
{
    gmr_err err = GMR_OK;
    int need = mat_cols[which];
    GMR_CHECK(ncols >= need, GMR_ERR_DATA, "%s:%d: mpc.%s row has %d columns, expected at least %d", name, line,
              mat_name[which], ncols, need);
    if (m->rows == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        double *v = realloc(m->v, (size_t)cap * (size_t)need * sizeof *v);
        int *l;
        GMR_CHECK(v, GMR_ERR_NOMEM, "out of memory reading %s", name);
        m->v = v;
        l = realloc(m->line, (size_t)cap * sizeof *l);
        GMR_CHECK(l, GMR_ERR_NOMEM, "out of memory reading %s", name);
        m->line = l;
        m->cap = cap;
    }
    memcpy(m->v + (size_t)m->rows * (size_t)need, row, (size_t)need * sizeof *row);
    m->line[m->rows++] = line;
    m->cols = need;
out:
    return err;
}

typedef struct id_index {
    int id, index;
} id_index;

static int cmp_id(const void *a, const void *b)
{
    const id_index *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int gmr_pf_case_bus_index(gmr_pf_case c, int id)
{
    int lo = 0, hi = c ? c->nbus - 1 : -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, mid_id = c->bus[c->sorted[mid]].id;
        if (mid_id == id) return c->sorted[mid];
        if (mid_id < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static gmr_err build_index(gmr_pf_case c)
{
    gmr_err err = GMR_OK;
    id_index *t = malloc((size_t)(c->nbus ? c->nbus : 1) * sizeof *t);
    free(c->sorted);
    c->sorted = malloc((size_t)(c->nbus ? c->nbus : 1) * sizeof *c->sorted);
    GMR_CHECK(t && c->sorted, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->nbus; i++) t[i] = (id_index){c->bus[i].id, i};
    qsort(t, (size_t)c->nbus, sizeof *t, cmp_id);
    for (int i = 0; i < c->nbus; i++) c->sorted[i] = t[i].index;
out:
    free(t);
    return err;
}

/* Integer-valued column: exactly an integer, within int range. */
static int as_int(double v, int *out)
{
    if (!(v == floor(v)) || fabs(v) > 2e9) return -1;
    *out = (int)v;
    return 0;
}

static gmr_err assemble(const char *name, double base_mva, mat *m, gmr_pf_case *out)
{
    gmr_err err = GMR_OK;
    gmr_pf_case c = calloc(1, sizeof *c);
    GMR_CHECK(c, GMR_ERR_NOMEM, "out of memory");
    c->base_mva = base_mva;
    c->nbus = m[M_BUS].rows;
    c->ngen = m[M_GEN].rows;
    c->nbranch = m[M_BRANCH].rows;
    c->bus = calloc((size_t)c->nbus + 1, sizeof *c->bus);
    c->gen = calloc((size_t)c->ngen + 1, sizeof *c->gen);
    c->br = calloc((size_t)c->nbranch + 1, sizeof *c->br);
    GMR_CHECK(c->bus && c->gen && c->br, GMR_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->nbus; i++) {
        const double *r = m[M_BUS].v + (size_t)i * 13;
        gmr_pf_bus *b = &c->bus[i];
        int line = m[M_BUS].line[i];
        GMR_CHECK(as_int(r[0], &b->id) == 0 && b->id > 0, GMR_ERR_DATA,
                  "%s:%d: bus number %g is not a positive integer", name, line, r[0]);
        GMR_CHECK(as_int(r[1], &b->type) == 0 && b->type >= 1 && b->type <= 4, GMR_ERR_DATA,
                  "%s:%d: bus %d has type %g, expected 1 (PQ), 2 (PV), 3 (slack) or 4 (isolated)", name, line, b->id,
                  r[1]);
        b->pd = r[2];
        b->qd = r[3];
        b->gs = r[4];
        b->bs = r[5];
        b->vm = r[7];
        b->va_deg = r[8];
        b->base_kv = r[9];
        b->vmax = r[11];
        b->vmin = r[12];
        for (int k = 2; k < 13; k++)
            GMR_CHECK(isfinite(r[k]), GMR_ERR_DATA, "%s:%d: bus %d column %d is not a finite number", name, line, b->id,
                      k + 1);
        GMR_CHECK(b->vm > 0, GMR_ERR_DATA, "%s:%d: bus %d has voltage magnitude %g, expected > 0", name, line, b->id,
                  b->vm);
    }
    GMR_CALL(build_index(c));
    for (int i = 1; i < c->nbus; i++)
        GMR_CHECK(c->bus[c->sorted[i]].id != c->bus[c->sorted[i - 1]].id, GMR_ERR_DATA,
                  "%s:%d: bus %d is defined twice (also on line %d)", name,
                  m[M_BUS].line[c->sorted[i] > c->sorted[i - 1] ? c->sorted[i] : c->sorted[i - 1]],
                  c->bus[c->sorted[i]].id,
                  m[M_BUS].line[c->sorted[i] > c->sorted[i - 1] ? c->sorted[i - 1] : c->sorted[i]]);
    for (int i = 0; i < c->ngen; i++) {
        const double *r = m[M_GEN].v + (size_t)i * 10;
        gmr_pf_gen *g = &c->gen[i];
        int line = m[M_GEN].line[i], id;
        GMR_CHECK(as_int(r[0], &id) == 0 && (g->bus = gmr_pf_case_bus_index(c, id)) >= 0, GMR_ERR_DATA,
                  "%s:%d: generator at bus %g: no such bus", name, line, r[0]);
        g->pg = r[1];
        g->qg = r[2];
        g->qmax = r[3];
        g->qmin = r[4];
        g->vg = r[5];
        g->status = r[7] > 0;
        g->pmax = r[8];
        g->pmin = r[9];
        GMR_CHECK(isfinite(g->pg) && isfinite(g->qg) && isfinite(g->vg) && !isnan(g->qmax) && !isnan(g->qmin),
                  GMR_ERR_DATA, "%s:%d: generator at bus %d has a value that is not a number", name, line, id);
        GMR_CHECK(!g->status || g->vg > 0, GMR_ERR_DATA, "%s:%d: generator at bus %d has voltage set point %g, expected > 0",
                  name, line, id, g->vg);
    }
    for (int i = 0; i < c->nbranch; i++) {
        const double *r = m[M_BRANCH].v + (size_t)i * 11;
        gmr_pf_branch *br = &c->br[i];
        int line = m[M_BRANCH].line[i], f, t;
        GMR_CHECK(as_int(r[0], &f) == 0 && (br->from = gmr_pf_case_bus_index(c, f)) >= 0, GMR_ERR_DATA,
                  "%s:%d: branch from bus %g: no such bus", name, line, r[0]);
        GMR_CHECK(as_int(r[1], &t) == 0 && (br->to = gmr_pf_case_bus_index(c, t)) >= 0, GMR_ERR_DATA,
                  "%s:%d: branch to bus %g: no such bus", name, line, r[1]);
        br->r = r[2];
        br->x = r[3];
        br->b = r[4];
        br->ratio = r[8];
        br->shift_deg = r[9];
        br->status = r[10] > 0;
        for (int k = 2; k < 11; k++)
            GMR_CHECK(isfinite(r[k]), GMR_ERR_DATA, "%s:%d: branch %d-%d column %d is not a finite number", name, line, f, t,
                      k + 1);
        GMR_CHECK(!br->status || br->r != 0 || br->x != 0, GMR_ERR_DATA,
                  "%s:%d: branch %d-%d has zero impedance (r = x = 0)", name, line, f, t);
        GMR_CHECK(br->from != br->to, GMR_ERR_DATA, "%s:%d: branch from bus %d to itself", name, line, f);
    }
    *out = c;
    c = NULL;
out:
    gmr_pf_case_destroy(&c);
    return err;
}

/* Skip blanks; true at end of line or comment. */
static const char *skip_blank(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == ',')) p++;
    return p;
}

gmr_err gmr_pf_case_parse(const char *text, size_t len, const char *name, gmr_pf_case *out)
{
    gmr_err err = GMR_OK;
    mat m[M_COUNT];
    const char *p = text, *end = text + len;
    int line = 0, in = -1, have_version = 0, have_base = 0, skip_depth = 0;
    double base_mva = 0, row[64];
    int ncols = 0, row_line = 0;
    char close = 0;
    memset(m, 0, sizeof m);
    *out = NULL;
    GMR_CHECK(text && name, GMR_ERR_ARG, "no case text");
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *q;
        if (!eol) eol = end;
        line++;
        q = skip_blank(p, eol);
        if (in < 0) {
            /* a statement: function header, mpc.FIELD = VALUE, or nothing */
            const char *eq, *v, *f;
            size_t flen;
            if (q == eol || *q == '%') goto next;
            if (strncmp(q, "function", 8) == 0) goto next;
            GMR_CHECK(strncmp(q, "mpc.", 4) == 0, GMR_ERR_DATA,
                      "%s:%d: expected `mpc.FIELD = ...` (a MATPOWER case file)", name, line);
            f = q + 4;
            for (flen = 0; f + flen < eol && (isalnum((unsigned char)f[flen]) || f[flen] == '_'); flen++) {}
            eq = skip_blank(f + flen, eol);
            GMR_CHECK(eq < eol && *eq == '=', GMR_ERR_DATA, "%s:%d: expected '=' after mpc.%.*s", name, line, (int)flen, f);
            v = skip_blank(eq + 1, eol);
            if (flen == 7 && strncmp(f, "version", 7) == 0) {
                GMR_CHECK(strncmp(v, "'2'", 3) == 0, GMR_ERR_DATA,
                          "%s:%d: mpc.version is not '2': only MATPOWER version-2 case files are supported", name, line);
                have_version = 1;
            } else if (flen == 7 && strncmp(f, "baseMVA", 7) == 0) {
                char *e;
                errno = 0;
                base_mva = strtod(v, &e);
                GMR_CHECK(e != v && errno == 0 && isfinite(base_mva) && base_mva > 0, GMR_ERR_DATA,
                          "%s:%d: mpc.baseMVA is not a positive number", name, line);
                have_base = 1;
            } else {
                int which = M_SKIP;
                if (flen == 3 && strncmp(f, "bus", 3) == 0) which = M_BUS;
                else if (flen == 3 && strncmp(f, "gen", 3) == 0) which = M_GEN;
                else if (flen == 6 && strncmp(f, "branch", 6) == 0) which = M_BRANCH;
                if (which != M_SKIP) {
                    GMR_CHECK(v < eol && *v == '[', GMR_ERR_DATA, "%s:%d: expected '[' after mpc.%s =", name, line,
                              mat_name[which]);
                    GMR_CHECK(!m[which].seen, GMR_ERR_DATA, "%s:%d: mpc.%s is defined twice", name, line, mat_name[which]);
                    m[which].seen = 1;
                } else if (v < eol && (*v == '[' || *v == '{')) {
                    close = *v == '[' ? ']' : '}';
                    skip_depth = 0;
                } else {
                    goto next; /* a one-line field we do not use */
                }
                in = which;
                ncols = 0;
                q = v + 1;
            }
            if (in < 0) goto next;
        }
        if (in == M_SKIP) {
            /* skip to the matching bracket, ignoring comments and quoted text */
            for (const char *c = q; c < eol; c++) {
                if (*c == '%') break;
                if (*c == '\'') {
                    for (c++; c < eol && *c != '\''; c++) {}
                    continue;
                }
                if (*c == '[' || *c == '{') skip_depth++;
                if (*c == close && skip_depth-- == 0) {
                    in = -1;
                    break;
                }
            }
            goto next;
        }
        /* matrix rows */
        while (q < eol) {
            q = skip_blank(q, eol);
            if (q == eol || *q == '%') break;
            if (*q == ';' || *q == ']') {
                if (ncols > 0) GMR_CALL(mat_push(&m[in], row, ncols, row_line, name, in));
                ncols = 0;
                if (*q == ']') {
                    in = -1;
                    break;
                }
                q++;
                continue;
            }
            {
                char *e;
                double v;
                errno = 0;
                v = strtod(q, &e);
                GMR_CHECK(e != q && (e == eol || strchr(" \t\r,;]%", *e)), GMR_ERR_DATA,
                          "%s:%d: mpc.%s: '%.*s' is not a number", name, line, mat_name[in],
                          (int)strcspn(q, " \t\r\n,;]%") < 40 ? (int)strcspn(q, " \t\r\n,;]%") : 40, q);
                GMR_CHECK(ncols < 64, GMR_ERR_DATA, "%s:%d: mpc.%s row has more than 64 columns", name, line,
                          mat_name[in]);
                if (ncols == 0) row_line = line;
                row[ncols++] = v;
                q = e;
            }
        }
        /* a new line ends a row too (MATLAB) */
        if (in >= 0 && ncols > 0) {
            GMR_CALL(mat_push(&m[in], row, ncols, row_line, name, in));
            ncols = 0;
        }
    next:
        p = eol < end ? eol + 1 : end;
    }
    GMR_CHECK(in < 0, GMR_ERR_DATA, "%s:%d: the file ends inside mpc.%s (no closing bracket)", name, line,
              in >= 0 && in < M_SKIP ? mat_name[in] : "field");
    GMR_CHECK(have_version, GMR_ERR_DATA,
              "%s: no mpc.version: only MATPOWER version-2 case files (mpc.version = '2') are supported", name);
    GMR_CHECK(have_base, GMR_ERR_DATA, "%s: no mpc.baseMVA", name);
    GMR_CHECK(m[M_BUS].rows > 0, GMR_ERR_DATA, "%s: no buses (mpc.bus is missing or empty)", name);
    GMR_CHECK(m[M_BRANCH].seen, GMR_ERR_DATA, "%s: no mpc.branch", name);
    GMR_CHECK(m[M_GEN].seen, GMR_ERR_DATA, "%s: no mpc.gen", name);
    GMR_CALL(assemble(name, base_mva, m, out));
    {
        int nref = 0;
        for (int i = 0; i < (*out)->nbus; i++) nref += (*out)->bus[i].type == GMR_PF_REF;
        if (nref == 0) {
            gmr_pf_case_destroy(out);
            GMR_FAIL(GMR_ERR_DATA, "%s: no slack bus (no bus of type 3)", name);
        }
    }
out:
    for (int k = 0; k < M_COUNT; k++) {
        free(m[k].v);
        free(m[k].line);
    }
    return err;
}

gmr_err gmr_pf_case_read(const char *path, gmr_pf_case *out)
{
    gmr_err err = GMR_OK;
    FILE *f = NULL;
    char *buf = NULL;
    long len;
    *out = NULL;
    GMR_CHECK(path, GMR_ERR_ARG, "no case file given");
    f = fopen(path, "rb");
    GMR_CHECK(f, GMR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    GMR_CHECK(fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0, GMR_ERR_IO,
              "%s: cannot read (not a regular file?)", path);
    GMR_CHECK(len <= (1L << 30), GMR_ERR_DATA, "%s: %ld bytes: too large for a case file", path, len);
    buf = malloc((size_t)len + 1);
    GMR_CHECK(buf, GMR_ERR_NOMEM, "out of memory reading %s", path);
    GMR_CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len, GMR_ERR_IO, "%s: read error", path);
    buf[len] = 0;
    GMR_CHECK(memchr(buf, 0, (size_t)len) == NULL, GMR_ERR_DATA, "%s: a binary file, not a MATPOWER case", path);
    GMR_CALL(gmr_pf_case_parse(buf, (size_t)len, path, out));
out:
    if (f) fclose(f);
    free(buf);
    return err;
}

gmr_err gmr_pf_case_copy(gmr_pf_case c, gmr_pf_case *out)
{
    gmr_err err = GMR_OK;
    gmr_pf_case d = NULL;
    *out = NULL;
    GMR_CHECK(c, GMR_ERR_ARG, "no case");
    d = calloc(1, sizeof *d);
    GMR_CHECK(d, GMR_ERR_NOMEM, "out of memory");
    *d = *c;
    d->bus = malloc(((size_t)c->nbus + 1) * sizeof *d->bus);
    d->gen = malloc(((size_t)c->ngen + 1) * sizeof *d->gen);
    d->br = malloc(((size_t)c->nbranch + 1) * sizeof *d->br);
    d->sorted = malloc(((size_t)c->nbus + 1) * sizeof *d->sorted);
    if (!d->bus || !d->gen || !d->br || !d->sorted) { /* each pointer is this copy's or NULL */
        gmr_pf_case_destroy(&d);
        GMR_FAIL(GMR_ERR_NOMEM, "out of memory copying a case");
    }
    memcpy(d->bus, c->bus, (size_t)c->nbus * sizeof *d->bus);
    memcpy(d->gen, c->gen, (size_t)c->ngen * sizeof *d->gen);
    memcpy(d->br, c->br, (size_t)c->nbranch * sizeof *d->br);
    memcpy(d->sorted, c->sorted, (size_t)c->nbus * sizeof *d->sorted);
    *out = d;
out:
    return err;
}

void gmr_pf_case_destroy(gmr_pf_case *c)
{
    if (!c || !*c) return;
    free((*c)->bus);
    free((*c)->gen);
    free((*c)->br);
    free((*c)->sorted);
    free(*c);
    *c = NULL;
}

int gmr_pf_case_nbus(gmr_pf_case c) { return c ? c->nbus : 0; }
int gmr_pf_case_ngen(gmr_pf_case c) { return c ? c->ngen : 0; }
int gmr_pf_case_nbranch(gmr_pf_case c) { return c ? c->nbranch : 0; }
double gmr_pf_case_base_mva(gmr_pf_case c) { return c ? c->base_mva : 0; }

gmr_err gmr_pf_case_get_bus(gmr_pf_case c, int i, gmr_pf_bus *b)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && b && i >= 0 && i < c->nbus, GMR_ERR_ARG, "bus index %d out of range", i);
    *b = c->bus[i];
out:
    return err;
}

gmr_err gmr_pf_case_set_bus(gmr_pf_case c, int i, const gmr_pf_bus *b)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && b && i >= 0 && i < c->nbus, GMR_ERR_ARG, "bus index %d out of range", i);
    GMR_CHECK(b->id == c->bus[i].id, GMR_ERR_ARG, "bus %d: the bus number cannot change (to %d)", c->bus[i].id, b->id);
    GMR_CHECK(b->type >= 1 && b->type <= 4 && b->vm > 0, GMR_ERR_ARG, "bus %d: type %d or Vm %g out of range", b->id,
              b->type, b->vm);
    c->bus[i] = *b;
out:
    return err;
}

gmr_err gmr_pf_case_get_gen(gmr_pf_case c, int i, gmr_pf_gen *g)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && g && i >= 0 && i < c->ngen, GMR_ERR_ARG, "generator index %d out of range", i);
    *g = c->gen[i];
out:
    return err;
}

gmr_err gmr_pf_case_set_gen(gmr_pf_case c, int i, const gmr_pf_gen *g)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && g && i >= 0 && i < c->ngen, GMR_ERR_ARG, "generator index %d out of range", i);
    GMR_CHECK(g->bus >= 0 && g->bus < c->nbus, GMR_ERR_ARG, "generator %d: bus index %d out of range", i, g->bus);
    c->gen[i] = *g;
out:
    return err;
}

gmr_err gmr_pf_case_get_branch(gmr_pf_case c, int i, gmr_pf_branch *br)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && br && i >= 0 && i < c->nbranch, GMR_ERR_ARG, "branch index %d out of range", i);
    *br = c->br[i];
out:
    return err;
}

gmr_err gmr_pf_case_set_branch(gmr_pf_case c, int i, const gmr_pf_branch *br)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && br && i >= 0 && i < c->nbranch, GMR_ERR_ARG, "branch index %d out of range", i);
    GMR_CHECK(br->from >= 0 && br->from < c->nbus && br->to >= 0 && br->to < c->nbus && br->from != br->to, GMR_ERR_ARG,
              "branch %d: bus indices %d-%d out of range", i, br->from, br->to);
    GMR_CHECK(!br->status || br->r != 0 || br->x != 0, GMR_ERR_ARG, "branch %d: zero impedance", i);
    c->br[i] = *br;
out:
    return err;
}

gmr_err gmr_pf_case_scale(gmr_pf_case c, double f)
{
    gmr_err err = GMR_OK;
    GMR_CHECK(c && isfinite(f), GMR_ERR_ARG, "scale factor %g is not finite", f);
    for (int i = 0; i < c->nbus; i++) {
        c->bus[i].pd *= f;
        c->bus[i].qd *= f;
    }
    for (int g = 0; g < c->ngen; g++) {
        c->gen[g].pg *= f;
        c->gen[g].qg *= f;
    }
out:
    return err;
}
