/* names.c: the option lists (--key a,b --value c) and HDF5-safe column names that the
 * built-in group-by jobs (aggregate, events) share. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

int gmr__names_split(const char *list, char **names, int max, int *n)
{
    const char *p = list;
    *n = 0;
    while (p && *p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || *n >= max) return -1;
        names[*n] = malloc(len + 1);
        if (!names[*n]) return -1;
        memcpy(names[*n], p, len);
        names[*n][len] = '\0';
        (*n)++;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

char *gmr__column_name(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s%s", base, suffix);
    for (char *c = s; *c; c++)
        if (*c == '/' || *c == ',' || *c == '.' || iscntrl((unsigned char)*c)) *c = '_';
    return s;
}
