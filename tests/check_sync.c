/* check_sync.c: the store, the chunk and their contracts (src/sync/, docs/sync.md), without MPI:
 * loads make versions and tombstones exactly as specified, chunks round-trip, every single
 * flipped byte is caught by the checksum, applying a chunk twice or an older chunk after a newer
 * one changes nothing, a resumed transfer starts after the last key, and bad CSV input leaves
 * the store untouched with a FILE:LINE message, and a routed row reaches only its province. The protocol over MPI is tested in
 * tests/run.sh section 10. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include "gridmr/sync.h"
#include "sync/sync_impl.h"

static char dumpbuf[1 << 20];
static size_t dumplen;

static int collect(void *ctx, const char *line)
{
    size_t n = strlen(line);
    (void)ctx;
    if (dumplen + n + 2 > sizeof dumpbuf) return -1;
    memcpy(dumpbuf + dumplen, line, n);
    dumplen += n;
    dumpbuf[dumplen++] = '\n';
    dumpbuf[dumplen] = '\0';
    return 0;
}

/* The dump of store (whole, or one table) as a malloc'd string. */
static char *dump_of(const char *store, const char *table)
{
    dumplen = 0;
    dumpbuf[0] = '\0';
    gmr_err e = gmr_sync_dump(store, table, collect, NULL);
    ck_assert_msg(e == GMR_OK, "dump %s: %s", store, gmr_err_message());
    return strdup(dumpbuf);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void setup(void) { ck_assert(tmpdir_make("/tmp/check_sync_XXXXXX")); }
static void teardown(void) { tmpdir_remove(); }

START_TEST(test_load_versions_and_tombstones)
{
    char db[256], csv[256];
    gmr_sync_load_result r;
    char *d;
    tmp_path(db, sizeof db, "p.db");
    tmp_path(csv, sizeof csv, "c.csv");
    write_file(csv, "id,name,kwh\n1,\"Wang, Li\",10\n2,Zhao,20\n3,\"Qian \"\"Q\"\"\",30\n");
    ck_assert_int_eq(gmr_sync_load(db, "c", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_int_eq(r.version, 1);
    ck_assert_uint_eq(r.upserts, 3);
    /* the same rows, one quoted needlessly and with CRLF ends: nothing changed, no new version */
    write_file(csv, "id,name,kwh\r\n1,\"Wang, Li\",10\r\n\"2\",\"Zhao\",20\r\n3,\"Qian \"\"Q\"\"\",30\r\n");
    ck_assert_int_eq(gmr_sync_load(db, "c", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_int_eq(r.version, 1);
    ck_assert_uint_eq(r.unchanged, 3);
    ck_assert_uint_eq(r.upserts + r.deletes, 0);
    /* one changed, one gone, one new */
    write_file(csv, "id,name,kwh\n1,\"Wang, Li\",11\n3,\"Qian \"\"Q\"\"\",30\n4,Sun,40\n");
    ck_assert_int_eq(gmr_sync_load(db, "c", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_int_eq(r.version, 2);
    ck_assert_uint_eq(r.upserts, 2);
    ck_assert_uint_eq(r.deletes, 1);
    d = dump_of(db, NULL);
    ck_assert_str_eq(d, "version 2\n"
                        "table c origin '' key id header id,name,kwh\n"
                        "holds c origin '' live 3 deleted 1 newest v2\n"
                        "c\t\tv2\t1,\"Wang, Li\",11\n"
                        "c\t\tv2\tdeleted\t2\n"
                        "c\t\tv1\t3,\"Qian \"\"Q\"\"\",30\n"
                        "c\t\tv2\t4,Sun,40\n");
    free(d);
    d = dump_of(db, "c");
    ck_assert_str_eq(d, "id,name,kwh\n1,\"Wang, Li\",11\n3,\"Qian \"\"Q\"\"\",30\n4,Sun,40\n");
    free(d);
}
END_TEST

START_TEST(test_upsert_and_delete_modes)
{
    char db[256], csv[256];
    gmr_sync_load_result r;
    char *d;
    tmp_path(db, sizeof db, "p.db");
    tmp_path(csv, sizeof csv, "c.csv");
    write_file(csv, "k1,k2,v\na,1,x\na,2,y\nb,1,z\n");
    ck_assert_int_eq(gmr_sync_load(db, "t", "k1,k2", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    write_file(csv, "k1,k2,v\na,2,Y\nc,1,w\n");
    ck_assert_int_eq(gmr_sync_load(db, "t", "k1,k2", csv, GMR_SYNC_UPSERT, &r), GMR_OK);
    ck_assert_uint_eq(r.upserts, 2);
    ck_assert_uint_eq(r.deletes, 0); /* upsert mode keeps the rows it does not mention */
    write_file(csv, "k1,k2,v\na,1,ignored\nzz,9,absent\n");
    ck_assert_int_eq(gmr_sync_load(db, "t", "k1,k2", csv, GMR_SYNC_DELETE, &r), GMR_OK);
    ck_assert_uint_eq(r.deletes, 1);
    ck_assert_uint_eq(r.unchanged, 1);
    ck_assert_int_eq(r.version, 3);
    d = dump_of(db, "t");
    ck_assert_str_eq(d, "k1,k2,v\na,2,Y\nb,1,z\nc,1,w\n");
    free(d);
}
END_TEST

/* A store with n rows, keys k0000.. in order, loaded as version 1. */
static void make_store(const char *name, int n, const char *suffix, char *db, size_t cap)
{
    char csv[256];
    FILE *f;
    gmr_sync_load_result r;
    tmp_path(db, cap, name);
    tmp_path(csv, sizeof csv, "gen.csv");
    f = fopen(csv, "w");
    ck_assert(f != NULL);
    fprintf(f, "key,value\n");
    for (int i = 0; i < n; i++) fprintf(f, "k%04d,value of %d%s\n", i, i, suffix);
    fclose(f);
    ck_assert_int_eq(gmr_sync_load(db, "t", "key", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
}

/* Every chunk of store's table t for versions (from, to], key > after, budget bytes. */
static int chunks_of(gmr__store *s, uint64_t from, uint64_t to, const char *after, uint64_t budget, gmr__sbuf *out,
                     int max)
{
    gmr__chunker *c = NULL;
    uint64_t up = 0, del = 0;
    int n = 0, done = 0;
    const char *lk;
    ck_assert_int_eq(gmr__chunker_create(s, "P", "t", from, to, after, 0, budget, NULL, &c), GMR_OK);
    for (;;) {
        ck_assert_int_lt(n, max);
        ck_assert_int_eq(gmr__chunker_next(c, &out[n], &done, &lk, &up, &del), GMR_OK);
        if (done) break;
        n++;
    }
    gmr__chunker_destroy(&c);
    return n;
}

static uint64_t apply_all(gmr__store *s, gmr__sbuf *ch, int n)
{
    uint64_t stale = 0;
    for (int i = 0; i < n; i++) {
        gmr__chunk_info ci;
        ck_assert_int_eq(gmr__chunk_parse(ch[i].data, ch[i].len, &ci), GMR_OK);
        ck_assert_int_eq(gmr__store_exec(s, "BEGIN"), GMR_OK);
        ck_assert_int_eq(gmr__chunk_apply(s, &ci, ci.origin, &stale, NULL), GMR_OK);
        ck_assert_int_eq(gmr__store_exec(s, "COMMIT"), GMR_OK);
        gmr__chunk_info_free(&ci);
    }
    return stale;
}

START_TEST(test_chunks_round_trip_and_reapply)
{
    char a[256], b[256];
    gmr__store *sa = NULL, *sb = NULL;
    gmr__sbuf ch[64] = {{0}};
    uint32_t total = 0;
    int n;
    char *da, *db1, *db2;
    make_store("a.db", 200, "", a, sizeof a);
    tmp_path(b, sizeof b, "b.db");
    ck_assert_int_eq(gmr__store_open(a, &sa), GMR_OK);
    ck_assert_int_eq(gmr__store_open(b, &sb), GMR_OK);
    n = chunks_of(sa, 0, 1, "", 512, ch, 64);
    ck_assert_int_gt(n, 5);
    for (int i = 0; i < n; i++) {
        gmr__chunk_info ci;
        ck_assert_int_eq(gmr__chunk_verify(ch[i].data, ch[i].len), 0);
        ck_assert_int_eq(gmr__chunk_parse(ch[i].data, ch[i].len, &ci), GMR_OK);
        ck_assert_uint_eq(ci.chunk_no, (uint64_t)i);
        ck_assert_uint_eq(ci.from_v, 0);
        ck_assert_uint_eq(ci.to_v, 1);
        ck_assert_uint_eq(!!(ci.flags & GMR_CHUNK_LAST), i == n - 1);
        ck_assert_str_eq(ci.origin, "P");
        ck_assert_str_eq(ci.header, "key,value");
        ck_assert(ci.elems_len <= 512 || ci.count == 1);
        total += ci.count;
        gmr__chunk_info_free(&ci);
    }
    ck_assert_uint_eq(total, 200);
    ck_assert_uint_eq(apply_all(sb, ch, n), 0);
    gmr__store_close(&sb);
    da = dump_of(a, "t");
    db1 = dump_of(b, "t");
    ck_assert_str_eq(da, db1);
    /* the same chunks again: every element is stale, nothing changes */
    ck_assert_int_eq(gmr__store_open(b, &sb), GMR_OK);
    ck_assert_uint_eq(apply_all(sb, ch, n), 200);
    gmr__store_close(&sb);
    db2 = dump_of(b, NULL);
    free(db1);
    db1 = dump_of(b, NULL);
    ck_assert_str_eq(db1, db2);
    free(da);
    free(db1);
    free(db2);
    for (int i = 0; i < 64; i++) gmr__sbuf_free(&ch[i]);
    gmr__store_close(&sa);
}
END_TEST

START_TEST(test_every_flipped_byte_is_caught)
{
    char a[256];
    gmr__store *sa = NULL;
    gmr__sbuf ch[4] = {{0}};
    gmr__chunk_info ci;
    make_store("a.db", 5, "", a, sizeof a);
    ck_assert_int_eq(gmr__store_open(a, &sa), GMR_OK);
    ck_assert_int_eq(chunks_of(sa, 0, 1, "", 1 << 20, ch, 4), 1);
    for (size_t i = 0; i < ch[0].len; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            ch[0].data[i] ^= (uint8_t)(1u << bit);
            REQUIRE(gmr__chunk_verify(ch[0].data, ch[0].len) != 0, "flip of bit %d of byte %zu not caught", bit, i);
            ch[0].data[i] ^= (uint8_t)(1u << bit);
        }
    ck_assert_int_eq(gmr__chunk_verify(ch[0].data, ch[0].len), 0);
    ck_assert_int_ne(gmr__chunk_verify(ch[0].data, ch[0].len - 1), 0); /* truncated */
    ch[0].data[ch[0].len - 1] ^= 1;
    ck_assert_int_eq(gmr__chunk_parse(ch[0].data, ch[0].len, &ci), GMR_ERR_DATA);
    for (int i = 0; i < 4; i++) gmr__sbuf_free(&ch[i]);
    gmr__store_close(&sa);
}
END_TEST

START_TEST(test_older_chunk_after_newer_changes_nothing)
{
    char a[256], b[256], csv[256];
    gmr__store *sa = NULL, *sb = NULL;
    gmr__sbuf v1[8] = {{0}}, v2[8] = {{0}};
    gmr_sync_load_result r;
    int n1, n2;
    char *d;
    make_store("a.db", 3, "", a, sizeof a);
    ck_assert_int_eq(gmr__store_open(a, &sa), GMR_OK);
    n1 = chunks_of(sa, 0, 1, "", 1 << 20, v1, 8); /* version 1: k0000..k0002 */
    gmr__store_close(&sa);
    tmp_path(csv, sizeof csv, "v2.csv");
    write_file(csv, "key,value\nk0000,new\nk0002,value of 2\n");
    ck_assert_int_eq(gmr_sync_load(a, "t", "key", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_int_eq(r.version, 2);
    ck_assert_int_eq(gmr__store_open(a, &sa), GMR_OK);
    n2 = chunks_of(sa, 1, 2, "", 1 << 20, v2, 8); /* the changes: k0000 upserted, k0001 deleted */
    tmp_path(b, sizeof b, "b.db");
    ck_assert_int_eq(gmr__store_open(b, &sb), GMR_OK);
    ck_assert_uint_eq(apply_all(sb, v1, n1), 0);
    ck_assert_uint_eq(apply_all(sb, v2, n2), 0);
    ck_assert_uint_eq(apply_all(sb, v1, n1), 3); /* late and older: every element stale */
    ck_assert_uint_eq(apply_all(sb, v2, n2), 2);
    gmr__store_close(&sb);
    d = dump_of(b, NULL);
    ck_assert_str_eq(d, "version 0\n"
                        "table t origin 'P' key key header key,value\n"
                        "holds t origin 'P' live 2 deleted 1 newest v2\n"
                        "t\tP\tv2\tk0000,new\n"
                        "t\tP\tv2\tdeleted\tk0001\n"
                        "t\tP\tv1\tk0002,value of 2\n");
    free(d);
    for (int i = 0; i < 8; i++) {
        gmr__sbuf_free(&v1[i]);
        gmr__sbuf_free(&v2[i]);
    }
    gmr__store_close(&sa);
}
END_TEST

START_TEST(test_resume_starts_after_last_key)
{
    char a[256];
    gmr__store *sa = NULL;
    gmr__sbuf ch[4] = {{0}};
    gmr__chunk_info ci;
    gmr__scur c;
    make_store("a.db", 50, "", a, sizeof a);
    ck_assert_int_eq(gmr__store_open(a, &sa), GMR_OK);
    ck_assert_int_eq(chunks_of(sa, 0, 1, "k0041", 1 << 20, ch, 4), 1);
    ck_assert_int_eq(gmr__chunk_parse(ch[0].data, ch[0].len, &ci), GMR_OK);
    ck_assert_uint_eq(ci.count, 8);
    c = (gmr__scur){ci.elems, ci.elems_len, 0, 0};
    for (int i = 42; i < 50; i++) {
        uint32_t kl, vl;
        char want[16];
        ck_assert_uint_eq(gmr__scur_u8(&c), GMR_ELEM_UPSERT);
        ck_assert_uint_eq(gmr__scur_u64(&c), 1);
        kl = gmr__scur_u32(&c);
        vl = gmr__scur_u32(&c);
        snprintf(want, sizeof want, "k%04d", i);
        ck_assert_uint_eq(kl, 5);
        ck_assert(memcmp(ci.elems + c.at, want, 5) == 0);
        c.at += kl + vl;
    }
    ck_assert_uint_eq(c.at, c.len);
    gmr__chunk_info_free(&ci);
    for (int i = 0; i < 4; i++) gmr__sbuf_free(&ch[i]);
    gmr__store_close(&sa);
}
END_TEST

static void load_fails(const char *db, const char *csv, const char *text, const char *key, gmr_err want, const char *msg)
{
    gmr_sync_load_result r;
    write_file(csv, text);
    gmr_err e = gmr_sync_load(db, "c", key, csv, GMR_SYNC_SNAPSHOT, &r);
    ck_assert_msg(e == want, "expected %d, got %d (%s)", want, e, gmr_err_message());
    ck_assert_msg(strstr(gmr_err_message(), msg) != NULL, "message '%s' lacks '%s'", gmr_err_message(), msg);
}

START_TEST(test_bad_input_leaves_store_unchanged)
{
    char db[256], csv[256], want[512];
    gmr_sync_load_result r;
    char *before, *after;
    tmp_path(db, sizeof db, "p.db");
    tmp_path(csv, sizeof csv, "c.csv");
    write_file(csv, "id,v\n1,a\n2,b\n");
    ck_assert_int_eq(gmr_sync_load(db, "c", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    before = dump_of(db, NULL);
    snprintf(want, sizeof want, "%s:4: expected 2 fields as in the header, found 3", csv);
    load_fails(db, csv, "id,v\n1,A\n2,B\n3,c,extra\n", "id", GMR_ERR_DATA, want);
    snprintf(want, sizeof want, "%s:3: duplicate key 1", csv);
    load_fails(db, csv, "id,v\n1,A\n1,B\n", "id", GMR_ERR_DATA, want);
    snprintf(want, sizeof want, "%s:2: empty key field id", csv);
    load_fails(db, csv, "id,v\n,A\n", "id", GMR_ERR_DATA, want);
    snprintf(want, sizeof want, "%s:3: bad quoting", csv);
    load_fails(db, csv, "id,v\n1,A\n2,\"B\"x\n", "id", GMR_ERR_DATA, want);
    snprintf(want, sizeof want, "%s:3: unterminated quoted field", csv);
    load_fails(db, csv, "id,v\n1,A\n2,\"B\n", "id", GMR_ERR_DATA, want);
    load_fails(db, csv, "id,w\n1,A\n", "id", GMR_ERR_DATA, "header differs");
    load_fails(db, csv, "id,v\n1,A\n", "v", GMR_ERR_DATA, "keyed by id, not v");
    load_fails(db, csv, "", "id", GMR_ERR_DATA, "empty file");
    after = dump_of(db, NULL);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    /* a quoted field may hold a line break: one record over two lines */
    write_file(csv, "id,v\n1,\"two\nlines\"\n2,b\n");
    ck_assert_int_eq(gmr_sync_load(db, "c", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_uint_eq(r.rows, 2);
    ck_assert_uint_eq(r.upserts, 1);
}
END_TEST

START_TEST(test_routed_rows_reach_only_their_province)
{
    char hq[256], csv[256], pb[256];
    gmr__store *sh = NULL, *sb = NULL;
    gmr__chunker *c = NULL;
    gmr__sbuf ch = {0};
    gmr__chunk_info ci;
    gmr_sync_load_result r;
    uint64_t up = 0, del = 0, stale = 0, full_a = 0, full_all = 0;
    int done = 0;
    const char *lk;
    char *d;
    tmp_path(hq, sizeof hq, "hq.db");
    tmp_path(csv, sizeof csv, "assign.csv");
    tmp_path(pb, sizeof pb, "pB.db");
    write_file(csv, "id,store\na,pA\nb,pB\nc,pA\n");
    ck_assert_int_eq(gmr_sync_load_routed(hq, "assign", "id", "store", csv, GMR_SYNC_SNAPSHOT, &r), GMR_OK);
    ck_assert_int_eq(gmr__store_open(hq, &sh), GMR_OK);
    ck_assert_int_eq(gmr__chunker_create(sh, "HQ", "assign", 0, 1, "", 0, 1 << 20, "pB", &c), GMR_OK);
    ck_assert_int_eq(gmr__chunker_next(c, &ch, &done, &lk, &up, &del), GMR_OK);
    ck_assert_int_eq(done, 0);
    ck_assert_uint_eq(up, 1); /* b */
    ck_assert_uint_eq(del, 2); /* a and c are routed to pA */
    ck_assert_int_eq(gmr__chunk_parse(ch.data, ch.len, &ci), GMR_OK);
    ck_assert_int_eq(gmr__store_open(pb, &sb), GMR_OK);
    ck_assert_int_eq(gmr__chunk_apply(sb, &ci, "HQ", &stale, NULL), GMR_OK);
    ck_assert_uint_eq(stale, 2); /* deletes of keys pB never held: nothing kept */
    gmr__chunk_info_free(&ci);
    gmr__store_close(&sb);
    d = dump_of(pb, NULL);
    ck_assert_str_eq(d, "version 0\n"
                        "table assign origin 'HQ' key id header id,store\n"
                        "holds assign origin 'HQ' live 1 deleted 0 newest v1\n"
                        "assign\tHQ\tv1\tb,pB\n");
    free(d);
    ck_assert_int_eq(gmr__chunk_full_bytes(sh, "assign", "HQ", 1 << 20, "pA", &full_a), GMR_OK);
    ck_assert_int_eq(gmr__chunk_full_bytes(sh, "assign", "HQ", 1 << 20, NULL, &full_all), GMR_OK);
    ck_assert_uint_eq(full_all - full_a, GMR_ELEM_OVERHEAD + 1 + 4); /* b's element: key "b", value "b,pB" */
    /* the route column is fixed by the first load */
    ck_assert_int_eq(gmr_sync_load(hq, "assign", "id", csv, GMR_SYNC_SNAPSHOT, &r), GMR_ERR_DATA);
    gmr__sbuf_free(&ch);
    gmr__chunker_destroy(&c);
    gmr__store_close(&sh);
}
END_TEST

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_versions_and_tombstones);
    tcase_add_test(tc, test_upsert_and_delete_modes);
    tcase_add_test(tc, test_chunks_round_trip_and_reapply);
    tcase_add_test(tc, test_every_flipped_byte_is_caught);
    tcase_add_test(tc, test_older_chunk_after_newer_changes_nothing);
    tcase_add_test(tc, test_resume_starts_after_last_key);
    tcase_add_test(tc, test_bad_input_leaves_store_unchanged);
    tcase_add_test(tc, test_routed_rows_reach_only_their_province);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(sync_suite()); }
