/* ref_json.h: the reference JSON parser of the independent test references (tests/ref_ingest.c,
 * tests/ref_supply.c): recursive descent over RFC 8259 with the choices gridmr documents (an
 * object per line, duplicate member names and raw control characters refused, "\u0000"
 * allowed, UTF-8 checked) and a dotted path lookup. Shares no code with gridmr or jansson;
 * header-only (static functions), included by each reference's single source file. */
#ifndef GMR_TESTS_REF_JSON_H
#define GMR_TESTS_REF_JSON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct jv {
    int t;
    char *s;          /* J_STR: decoded bytes; J_NUM: the text */
    size_t slen, n;
    double num;
    char **keys;      /* J_OBJ */
    size_t *klens;
    struct jv **kids; /* J_ARR, J_OBJ */
} jv;

typedef struct { const char *s, *end; int depth; } jp;

static void jfree(jv *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        jfree(v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->klens);
    free(v->s);
    free(v);
}

static void ws(jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n')) p->s++;
}

static void put_utf8(char *o, size_t *n, unsigned c)
{
    if (c < 0x80) o[(*n)++] = (char)c;
    else if (c < 0x800) { o[(*n)++] = (char)(0xc0 | c >> 6); o[(*n)++] = (char)(0x80 | (c & 63)); }
    else if (c < 0x10000) { o[(*n)++] = (char)(0xe0 | c >> 12); o[(*n)++] = (char)(0x80 | ((c >> 6) & 63)); o[(*n)++] = (char)(0x80 | (c & 63)); }
    else { o[(*n)++] = (char)(0xf0 | c >> 18); o[(*n)++] = (char)(0x80 | ((c >> 12) & 63)); o[(*n)++] = (char)(0x80 | ((c >> 6) & 63)); o[(*n)++] = (char)(0x80 | (c & 63)); }
}

static int hex4(const char *s, unsigned *c)
{
    *c = 0;
    for (int i = 0; i < 4; i++) {
        char h = s[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return 0;
        *c = *c * 16 + (unsigned)d;
    }
    return 1;
}

/* a UTF-8 sequence starting at s: its length, 0 when invalid */
static int utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], v;
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || end - s < n) return 0;
    v = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return n;
}

static int jstring(jp *p, char **out, size_t *olen)
{
    const char *s = p->s + 1;
    char *o = malloc((size_t)(p->end - p->s) + 4);
    size_t n = 0;
    while (s < p->end && *s != '"') {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) { free(o); return 0; }
        if (c == '\\') {
            unsigned u, u2;
            if (s + 1 >= p->end) { free(o); return 0; }
            switch (s[1]) {
            case '"': o[n++] = '"'; s += 2; break;
            case '\\': o[n++] = '\\'; s += 2; break;
            case '/': o[n++] = '/'; s += 2; break;
            case 'b': o[n++] = '\b'; s += 2; break;
            case 'f': o[n++] = '\f'; s += 2; break;
            case 'n': o[n++] = '\n'; s += 2; break;
            case 'r': o[n++] = '\r'; s += 2; break;
            case 't': o[n++] = '\t'; s += 2; break;
            case 'u':
                if (p->end - s < 6 || !hex4(s + 2, &u)) { free(o); return 0; }
                s += 6;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (p->end - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, &u2) || u2 < 0xdc00 || u2 > 0xdfff) { free(o); return 0; }
                    u = 0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00);
                    s += 6;
                } else if (u >= 0xdc00 && u <= 0xdfff) { free(o); return 0; }
                put_utf8(o, &n, u);
                break;
            default: free(o); return 0;
            }
            continue;
        }
        int k = utf8_len((const unsigned char *)s, (const unsigned char *)p->end);
        if (!k) { free(o); return 0; }
        memcpy(o + n, s, (size_t)k);
        n += (size_t)k;
        s += k;
    }
    if (s >= p->end) { free(o); return 0; }
    p->s = s + 1;
    o[n] = '\0';
    *out = o;
    *olen = n;
    return 1;
}

static jv *jvalue(jp *p);

static jv *jnew(int t)
{
    jv *v = calloc(1, sizeof *v);
    v->t = t;
    return v;
}

static int jpush(jv *v, jv *kid, char *key, size_t klen)
{
    v->kids = realloc(v->kids, (v->n + 1) * sizeof *v->kids);
    if (v->t == J_OBJ) {
        for (size_t i = 0; i < v->n; i++)
            if (v->klens[i] == klen && memcmp(v->keys[i], key, klen) == 0) return 0; /* duplicate member */
        v->keys = realloc(v->keys, (v->n + 1) * sizeof *v->keys);
        v->klens = realloc(v->klens, (v->n + 1) * sizeof *v->klens);
        v->keys[v->n] = key;
        v->klens[v->n] = klen;
    }
    v->kids[v->n++] = kid;
    return 1;
}

static jv *jvalue(jp *p)
{
    jv *v = NULL;
    ws(p);
    if (p->s >= p->end || ++p->depth > 200) return NULL;
    char c = *p->s;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        v = jnew(c == '{' ? J_OBJ : J_ARR);
        p->s++;
        ws(p);
        if (p->s < p->end && *p->s == close) {
            p->s++;
            p->depth--;
            return v;
        }
        for (;;) {
            char *key = NULL;
            size_t klen = 0;
            jv *kid;
            ws(p);
            if (v->t == J_OBJ) {
                if (p->s >= p->end || *p->s != '"' || !jstring(p, &key, &klen)) goto bad;
                ws(p);
                if (p->s >= p->end || *p->s != ':') { free(key); goto bad; }
                p->s++;
            }
            kid = jvalue(p);
            if (!kid) { free(key); goto bad; }
            if (!jpush(v, kid, key, klen)) { free(key); jfree(kid); goto bad; }
            ws(p);
            if (p->s < p->end && *p->s == ',') { p->s++; continue; }
            if (p->s < p->end && *p->s == close) { p->s++; break; }
            goto bad;
        }
    } else if (c == '"') {
        v = jnew(J_STR);
        if (!jstring(p, &v->s, &v->slen)) goto bad;
    } else if (c == 't' || c == 'f' || c == 'n') {
        const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t n = strlen(w);
        if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0) return NULL;
        p->s += n;
        v = jnew(c == 't' ? J_TRUE : c == 'f' ? J_FALSE : J_NULL);
    } else {
        const char *s = p->s, *b = s;
        if (s < p->end && *s == '-') s++;
        if (s >= p->end) return NULL;
        if (*s == '0') s++;
        else if (*s >= '1' && *s <= '9') while (s < p->end && *s >= '0' && *s <= '9') s++;
        else return NULL;
        int frac = 0;
        if (s < p->end && *s == '.') {
            s++;
            frac = 1;
            if (s >= p->end || *s < '0' || *s > '9') return NULL;
            while (s < p->end && *s >= '0' && *s <= '9') s++;
        }
        if (s < p->end && (*s == 'e' || *s == 'E')) {
            s++;
            frac = 1;
            if (s < p->end && (*s == '+' || *s == '-')) s++;
            if (s >= p->end || *s < '0' || *s > '9') return NULL;
            while (s < p->end && *s >= '0' && *s <= '9') s++;
        }
        (void)frac;
        v = jnew(J_NUM);
        v->s = strndup(b, (size_t)(s - b));
        v->num = strtod(v->s, NULL);
        p->s = s;
    }
    p->depth--;
    return v;
bad:
    jfree(v);
    return NULL;
}

/* the value at a dotted path ("a.b.0"), or NULL */
static const jv *jpath(const jv *v, const char *path)
{
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        const jv *next = NULL;
        if (v->t == J_OBJ) {
            for (size_t i = 0; i < v->n; i++)
                if (v->klens[i] == n && memcmp(v->keys[i], path, n) == 0) next = v->kids[i];
        } else if (v->t == J_ARR && n > 0 && strspn(path, "0123456789") >= n) {
            size_t idx = strtoul(path, NULL, 10);
            if (idx < v->n) next = v->kids[idx];
        }
        v = next;
        path += n;
        if (dot) {
            path++;
            if (!*path) return NULL;
        }
    }
    return v;
}

#endif
