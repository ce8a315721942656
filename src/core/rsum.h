/* rsum.h: reproducible sums over rows spread across ranks (private).
 *
 * The LASSO's statistics and FISTA's gradients are sums over rows. Summed per rank and then
 * with MPI_Allreduce, their rounding depends on where the rank boundaries fall, so the results
 * change in the last bits with the rank count. gmr__rsum makes them independent of it:
 *
 *   1. Fixed blocks. The global rows (numbered in rank order) are cut into blocks of
 *      block_rows rows (GMR__RSUM_BLOCK_ROWS by default), a cut fixed by the row count only.
 *      Block b belongs to the rank holding its first row; the rows of that block held by the
 *      next rank(s) (at most block_rows - 1 of them) are sent to it once
 *      (gmr__rsum_exchange: one message per rank boundary). The caller computes each block's
 *      contribution (an m-vector) from the block's rows in a fixed order, the same on any
 *      rank.
 *   2. A canonical tree. The block contributions are added along the dyadic ("pairwise")
 *      binary tree over the block indices 0 .. nblocks-1, fixed by nblocks only: node (k, j)
 *      covers blocks [j 2^k, (j + 1) 2^k) and is its left child plus its right child (a node
 *      cut short by nblocks is its left part plus what is left of its right part). Each rank
 *      pushes its blocks in order onto a binary-counter stack (gmr__rsum_push), which adds two
 *      nodes as soon as they are siblings, so it holds the complete subtrees of its block
 *      range: at most 2 log2(nblocks) + 2 partial sums. gmr__rsum_finish sends them to rank 0,
 *      which pushes them, rank by rank in order, onto the same kind of stack (whose merges are
 *      then exactly the canonical tree's), folds what is left from the right (the cut-short
 *      nodes of the right edge) and broadcasts the m sums.
 *
 * Result: the same bits for any partition of the rows among ranks, and pairwise accuracy (an
 * error of O(log2(nblocks) eps) on top of each block's own). Costs: the exchange moves at most
 * block_rows - 1 rows per rank boundary, once; each push adds m doubles (n / block_rows pushes,
 * about one merge per push); finish sends a rank's pieces (at most 2 log2(nblocks) + 2 times m
 * doubles) to rank 0 and broadcasts m doubles. Memory: the stack, allocated as it grows (m
 * doubles per level).
 *
 * gmr__xsum_allreduce sums exact accumulators (src/core/xsum.h) across ranks: for per-row terms
 * that are cheap to add exactly one by one (validation errors, gamma_locRMSE), which then need
 * no blocks at all. */
#ifndef GMR_CORE_RSUM_H
#define GMR_CORE_RSUM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xsum.h"
#include "gridmr/err.h"

/* Rows per block unless the caller says otherwise: the rows of a block are summed in order
 * (or by one BLAS call), so this is the size of the unit of work whose rounding is fixed. A
 * multiple of 8, independent of the rank count by design (changing it changes the last bits). */
#define GMR__RSUM_BLOCK_ROWS 512

typedef struct gmr__rsum gmr__rsum;

/* Collective on comm (which is not duplicated: it must outlive rs). nlocal: this rank's rows,
 * which are the global rows [row0, row0 + nlocal) with row0 the sum of nlocal over the lower
 * ranks. m >= 1: the largest length of the summed vectors (each sum says its own). */
gmr_err gmr__rsum_create(MPI_Comm comm, size_t nlocal, size_t block_rows, int m, gmr__rsum **out);
void gmr__rsum_destroy(gmr__rsum **rs);

/* Not collective. The shape: global rows and blocks, the blocks this rank owns [*b0, *b1),
 * nhead (the first local rows, which belong to a lower rank's block and are sent away) and
 * ntail (rows received from higher ranks, which follow this rank's own rows). The rows of this
 * rank's blocks are its local rows nhead .. nlocal - 1, then the ntail received rows: block b
 * is owned rows (b - b0) block_rows .. (owned row k is global row b0 block_rows + k). */
void gmr__rsum_shape(const gmr__rsum *rs, uint64_t *nrows, uint64_t *nblocks, uint64_t *b0, uint64_t *b1,
                     size_t *nhead, size_t *ntail);
size_t gmr__rsum_block_rows(const gmr__rsum *rs);

/* Collective: sends this rank's nhead head rows (head: nhead x width doubles, row-major) to the
 * owner of their block and receives the ntail rows that complete this rank's last block into
 * tail (ntail x width doubles). Same width on every rank. */
gmr_err gmr__rsum_exchange(gmr__rsum *rs, const double *head, int width, double *tail);

/* Not collective. Starts a sum of m doubles per block (1 <= m <= the m of create; out of
 * range: that one); the next push is block b0. Same m on every rank. */
void gmr__rsum_begin(gmr__rsum *rs, int m);
/* The m doubles to fill with the next block's contribution (valid until the push); NULL when
 * out of memory (the push then records the error, which finish agrees). */
double *gmr__rsum_slot(gmr__rsum *rs);
/* Pushes the slot as the next block's contribution (call once per block, b0 .. b1 - 1). */
void gmr__rsum_push(gmr__rsum *rs);
/* Collective: the m sums, the same bits on every rank and for every partition (zeros when
 * there are no rows). Errors (a missing push, out of memory) are agreed. */
gmr_err gmr__rsum_finish(gmr__rsum *rs, double *sum);

/* Collective on comm: out[i] = the exact sum over ranks of in[i] (n accumulators), in and out
 * may be the same. Exact, so the order does not matter. */
gmr_err gmr__xsum_allreduce(MPI_Comm comm, const gmr__xsum *in, gmr__xsum *out, int n);

#endif
