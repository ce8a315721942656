/* rsum.c: reproducible sums over rows spread across ranks: fixed row blocks, a neighbour
 * exchange that puts every block on one rank, and the canonical pairwise tree over the block
 * indices (rsum.h explains the design and its costs). Used by the LASSO (src/lasso/stats.c,
 * fista.c) so that its results are bit-identical for every rank count. */
#include "core/rsum.h"

#include <stdlib.h>
#include <string.h>

#include "core/agree.h"

#define TAG_ROWS 7301
#define TAG_PIECE 7302

typedef struct node {
    int level;      /* the node covers blocks [index 2^level, (index + 1) 2^level) */
    uint64_t index;
} node;

struct gmr__rsum {
    MPI_Comm comm;
    int rank, size, m, mmax; /* m: this sum's length, at most mmax (the slots' size) */
    size_t R;
    uint64_t n, nb, row0, nlocal, b0, b1;
    uint64_t *rows;       /* size + 1 prefix sums of the ranks' row counts */
    size_t nhead, ntail;
    int cap, top;         /* stack capacity (levels) and depth */
    double **val;         /* cap vectors of m doubles, allocated when first used */
    node *tag;
    uint64_t next;        /* the block the next push is */
    int failed;           /* a push without memory, or out of order */
};

gmr_err gmr__rsum_create(MPI_Comm comm, size_t nlocal, size_t block_rows, int m, gmr__rsum **out)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    gmr__rsum *rs = NULL;
    uint64_t mine = nlocal, lev = 0, end;

    GMR_CHECK(out, GMR_ERR_ARG, "gmr__rsum_create: NULL output");
    *out = NULL;
    rs = calloc(1, sizeof *rs);
    if (rs) {
        rs->comm = comm;
        if (MPI_Comm_rank(comm, &rs->rank) != MPI_SUCCESS || MPI_Comm_size(comm, &rs->size) != MPI_SUCCESS)
            local = GMR_ERROR(GMR_ERR_MPI, "gmr__rsum_create: not a communicator");
        else
            rs->rows = calloc((size_t)rs->size + 1, sizeof *rs->rows);
    }
    if (!local && !(rs && rs->rows)) local = GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate a reproducible sum");
    if (!local && (block_rows < 1 || m < 1)) local = GMR_ERROR(GMR_ERR_ARG, "gmr__rsum_create: block_rows %zu, m %d", block_rows, m);
    GMR_CALL(gmr__agree(comm, local));
    rs->R = block_rows;
    rs->m = rs->mmax = m;
    GMR_CALL_MPI(MPI_Allgather(&mine, 1, MPI_UINT64_T, rs->rows + 1, 1, MPI_UINT64_T, comm));
    for (int r = 0; r < rs->size; r++) rs->rows[r + 1] += rs->rows[r];
    rs->n = rs->rows[rs->size];
    rs->nb = (rs->n + rs->R - 1) / rs->R;
    rs->row0 = rs->rows[rs->rank];
    rs->nlocal = nlocal;
    /* my blocks: those whose first row is mine */
    rs->b0 = (rs->row0 + rs->R - 1) / rs->R;
    rs->b1 = (rs->row0 + rs->nlocal + rs->R - 1) / rs->R;
    if (rs->b1 < rs->b0) rs->b1 = rs->b0;
    end = rs->b0 * rs->R; /* first row of my first block */
    rs->nhead = (size_t)(end - rs->row0 < rs->nlocal ? end - rs->row0 : rs->nlocal);
    if (rs->b1 > rs->b0) {
        end = rs->b1 * rs->R < rs->n ? rs->b1 * rs->R : rs->n;
        rs->ntail = (size_t)(end - (rs->row0 + rs->nlocal));
    }
    while (((uint64_t)1 << lev) < rs->nb + 1) lev++;
    rs->cap = 2 * (int)lev + 4;
    rs->val = calloc((size_t)rs->cap, sizeof *rs->val);
    rs->tag = calloc((size_t)rs->cap, sizeof *rs->tag);
    GMR_CALL(gmr__agree(comm, rs->val && rs->tag ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "cannot allocate a reproducible sum")));
    gmr__rsum_begin(rs, m);
    *out = rs;
    rs = NULL;
out:
    gmr__rsum_destroy(&rs);
    return err;
}

void gmr__rsum_destroy(gmr__rsum **rsp)
{
    gmr__rsum *rs;
    if (!rsp || !*rsp) return;
    rs = *rsp;
    if (rs->val)
        for (int i = 0; i < rs->cap; i++) free(rs->val[i]);
    free(rs->val);
    free(rs->tag);
    free(rs->rows);
    free(rs);
    *rsp = NULL;
}

void gmr__rsum_shape(const gmr__rsum *rs, uint64_t *nrows, uint64_t *nblocks, uint64_t *b0, uint64_t *b1,
                     size_t *nhead, size_t *ntail)
{
    if (nrows) *nrows = rs->n;
    if (nblocks) *nblocks = rs->nb;
    if (b0) *b0 = rs->b0;
    if (b1) *b1 = rs->b1;
    if (nhead) *nhead = rs->nhead;
    if (ntail) *ntail = rs->ntail;
}

size_t gmr__rsum_block_rows(const gmr__rsum *rs) { return rs->R; }

/* The rank holding global row g < n: the last r with rows[r] <= g (it is not empty). */
static int owner_of(const gmr__rsum *rs, uint64_t g)
{
    int lo = 0, hi = rs->size - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (rs->rows[mid] <= g) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

gmr_err gmr__rsum_exchange(gmr__rsum *rs, const double *head, int width, double *tail)
{
    gmr_err err = GMR_OK;
    MPI_Request *req = NULL;
    int nreq = 0;

    GMR_CHECK(width >= 1, GMR_ERR_ARG, "gmr__rsum_exchange: width %d", width);
    req = malloc(((size_t)rs->size + 1) * sizeof *req);
    GMR_CALL(gmr__agree(rs->comm, req ? GMR_OK : GMR_ERROR(GMR_ERR_NOMEM, "out of memory")));
    if (rs->ntail) { /* from the ranks after me, in order, until my last block is complete */
        uint64_t g = rs->row0 + rs->nlocal, end = g + rs->ntail;
        for (int r = rs->rank + 1; r < rs->size && g < end; r++) {
            uint64_t k = (rs->rows[r + 1] < end ? rs->rows[r + 1] : end) - rs->rows[r];
            if (!k) continue;
            GMR_CALL_MPI(MPI_Irecv(tail + (size_t)(g - (rs->row0 + rs->nlocal)) * (size_t)width, (int)(k * (uint64_t)width),
                                   MPI_DOUBLE, r, TAG_ROWS, rs->comm, &req[nreq++]));
            g += k;
        }
    }
    if (rs->nhead) {
        int dest = owner_of(rs, (rs->row0 / rs->R) * rs->R);
        GMR_CALL_MPI(MPI_Isend(head, (int)(rs->nhead * (size_t)width), MPI_DOUBLE, dest, TAG_ROWS, rs->comm, &req[nreq++]));
    }
    GMR_CALL_MPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
out:
    free(req);
    return err;
}

void gmr__rsum_begin(gmr__rsum *rs, int m)
{
    rs->m = m >= 1 && m <= rs->mmax ? m : rs->mmax;
    rs->top = 0;
    rs->next = rs->b0;
    rs->failed = 0;
}

double *gmr__rsum_slot(gmr__rsum *rs)
{
    if (rs->top >= rs->cap) return NULL;
    if (!rs->val[rs->top]) rs->val[rs->top] = malloc((size_t)rs->mmax * sizeof **rs->val);
    return rs->val[rs->top];
}

/* The slot (tagged t) goes on the stack and is added to its left siblings while it has one
 * there: exactly the additions of the canonical tree. */
static void push_node(gmr__rsum *rs, node t)
{
    rs->tag[rs->top] = t;
    while (rs->top > 0) {
        node *l = &rs->tag[rs->top - 1], *r = &rs->tag[rs->top];
        double *a, *b;
        if (l->level != r->level || (l->index & 1) || r->index != l->index + 1) break;
        a = rs->val[rs->top - 1];
        b = rs->val[rs->top];
        for (int i = 0; i < rs->m; i++) a[i] += b[i];
        l->level++;
        l->index >>= 1;
        rs->top--;
    }
    rs->top++;
}

void gmr__rsum_push(gmr__rsum *rs)
{
    if (rs->failed) return;
    if (rs->top >= rs->cap || !rs->val[rs->top] || rs->next >= rs->b1) {
        rs->failed = 1;
        return;
    }
    push_node(rs, (node){0, rs->next++});
}

gmr_err gmr__rsum_finish(gmr__rsum *rs, double *sum)
{
    gmr_err err = GMR_OK, local = GMR_OK;
    long long *hdr = NULL, *all = NULL;
    int H = 1 + 2 * rs->cap;

    if (rs->failed || rs->next != rs->b1)
        local = GMR_ERROR(rs->failed ? GMR_ERR_NOMEM : GMR_ERR_STATE,
                          rs->failed ? "reproducible sum: out of memory for its partial sums"
                                     : "reproducible sum: %llu of %llu blocks pushed",
                          (unsigned long long)(rs->next - rs->b0), (unsigned long long)(rs->b1 - rs->b0));
    hdr = malloc((size_t)H * sizeof *hdr);
    if (rs->rank == 0) all = malloc((size_t)H * (size_t)rs->size * sizeof *all);
    if (!local && !(hdr && (rs->rank != 0 || all))) local = GMR_ERROR(GMR_ERR_NOMEM, "out of memory");
    GMR_CALL(gmr__agree(rs->comm, local));
    /* my pieces' tags, to rank 0 */
    hdr[0] = rs->top;
    for (int i = 0; i < rs->top; i++) {
        hdr[1 + 2 * i] = rs->tag[i].level;
        hdr[2 + 2 * i] = (long long)rs->tag[i].index;
    }
    GMR_CALL_MPI(MPI_Gather(hdr, H, MPI_LONG_LONG, all, H, MPI_LONG_LONG, 0, rs->comm));
    if (rs->rank == 0) { /* every slot rank 0 may need, before anything is sent */
        long long need = rs->top;
        for (int r = 1; r < rs->size; r++) need += all[(size_t)r * (size_t)H];
        for (int i = 0; i < rs->cap && i < need + 1; i++)
            if (!rs->val[i] && !(rs->val[i] = malloc((size_t)rs->mmax * sizeof **rs->val)))
                local = GMR_ERROR(GMR_ERR_NOMEM, "reproducible sum: out of memory for its partial sums");
    }
    GMR_CALL(gmr__agree(rs->comm, local));
    if (rs->rank == 0) {
        /* rank 0's own pieces are on its stack; the others' follow in rank order, and the
         * stack's merges are then the canonical tree's */
        for (int r = 1; r < rs->size; r++) {
            const long long *h = all + (size_t)r * (size_t)H;
            for (long long i = 0; i < h[0]; i++) {
                GMR_CHECK(rs->top < rs->cap, GMR_ERR_STATE, "reproducible sum: stack overflow");
                GMR_CALL_MPI(MPI_Recv(rs->val[rs->top], rs->m, MPI_DOUBLE, r, TAG_PIECE, rs->comm, MPI_STATUS_IGNORE));
                push_node(rs, (node){(int)h[1 + 2 * i], (uint64_t)h[2 + 2 * i]});
            }
        }
        if (rs->top == 0) {
            memset(sum, 0, (size_t)rs->m * sizeof *sum);
        } else {
            /* the right edge: what is left are complete subtrees of decreasing size; a node cut
             * short by nblocks is its complete left part plus the rest, so fold from the right */
            for (int t = rs->top - 2; t >= 0; t--)
                for (int i = 0; i < rs->m; i++) rs->val[t][i] += rs->val[t + 1][i];
            memcpy(sum, rs->val[0], (size_t)rs->m * sizeof *sum);
        }
    } else {
        for (int i = 0; i < rs->top; i++)
            GMR_CALL_MPI(MPI_Send(rs->val[i], rs->m, MPI_DOUBLE, 0, TAG_PIECE, rs->comm));
    }
    GMR_CALL_MPI(MPI_Bcast(sum, rs->m, MPI_DOUBLE, 0, rs->comm));
    gmr__rsum_begin(rs, rs->m);
out:
    free(hdr);
    free(all);
    return err;
}

/* MPI reduction of exact accumulators: an integer addition, so any order gives the same. */
static void xsum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
    const gmr__xsum *a = in;
    gmr__xsum *b = inout;
    (void)type;
    for (int i = 0; i < *len; i++) gmr__xsum_merge(&b[i], &a[i]);
}

gmr_err gmr__xsum_allreduce(MPI_Comm comm, const gmr__xsum *in, gmr__xsum *out, int n)
{
    gmr_err err = GMR_OK;
    MPI_Datatype t = MPI_DATATYPE_NULL;
    MPI_Op op = MPI_OP_NULL;
    GMR_CALL_MPI(MPI_Type_contiguous((int)(sizeof(gmr__xsum) / sizeof(uint64_t)), MPI_UINT64_T, &t));
    GMR_CALL_MPI(MPI_Type_commit(&t));
    GMR_CALL_MPI(MPI_Op_create(xsum_op, 1, &op));
    GMR_CALL_MPI(MPI_Allreduce(in == out ? MPI_IN_PLACE : (const void *)in, out, n, t, op, comm));
out:
    if (op != MPI_OP_NULL) MPI_Op_free(&op);
    if (t != MPI_DATATYPE_NULL) MPI_Type_free(&t);
    return err;
}
