/* names.h: option lists and column names shared by the built-in jobs (private to src/apps). */
#ifndef GMR_APPS_NAMES_H
#define GMR_APPS_NAMES_H

/* Splits a comma-separated list into at most max malloc'ed names (*n of them; an empty list
 * gives none). Returns -1 on an empty item ("a,,b"), more than max items, or no memory; the
 * names made so far stay in names[] for the caller to free. Not collective. */
int gmr__names_split(const char *list, char **names, int max, int *n);

/* base + suffix, malloc'ed, with `/ , .` and control characters made `_`: column names become
 * HDF5 dataset names. NULL when out of memory. Not collective. */
char *gmr__column_name(const char *base, const char *suffix);

#endif
