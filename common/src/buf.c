/* Growth of arrays, and a growable byte vector built on it. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

int common_grown_cap(size_t cap,
                     size_t need,
                     size_t size,
                     size_t min_cap,
                     size_t *out)
{
    assert(size > 0 && min_cap > 0 && out != NULL);
    size_t n = cap > min_cap ? cap : min_cap;
    while (n < need) {
        if (n > SIZE_MAX / 2) {
            n = need;
            break;
        }
        n *= 2;
    }
    if (n > SIZE_MAX / size) {
        return COMMON_ENOMEM;
    }
    *out = n;
    return 0;
}

int common_grow(void *items,
                size_t *cap,
                size_t need,
                size_t size,
                size_t min_cap)
{
    assert(items != NULL && cap != NULL);
    if (need <= *cap) {
        return 0;
    }
    size_t n;
    if (common_grown_cap(*cap, need, size, min_cap, &n) != 0) {
        return COMMON_ENOMEM;
    }
    void *old;
    memcpy(&old, items, sizeof old);
    void *grown = realloc(old, n * size);
    if (grown == NULL) {
        return COMMON_ENOMEM;
    }
    memcpy(items, &grown, sizeof grown);
    *cap = n;
    assert(*cap >= need);
    return 0;
}

void common_vec_init(struct common_vec *v)
{
    v->data = NULL;
    v->len = 0;
    v->cap = 0;
}

void common_vec_fini(struct common_vec *v)
{
    free(v->data);
    common_vec_init(v);
}

int common_vec_reserve(struct common_vec *v, size_t extra)
{
    if (extra > SIZE_MAX - v->len - 1) {
        return COMMON_ENOMEM;
    }
    /* Room for a NUL terminator too. */
    return common_grow(&v->data, &v->cap, v->len + extra + 1, 1, 64);
}

int common_vec_append(struct common_vec *v, const void *src, size_t len)
{
    int rv = common_vec_reserve(v, len);
    if (rv != 0) {
        return rv;
    }
    if (len > 0) {
        memcpy(v->data + v->len, src, len);
    }
    v->len += len;
    v->data[v->len] = 0;
    return 0;
}

int common_vec_appendf(struct common_vec *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return COMMON_EINVAL;
    }
    int rv = common_vec_reserve(v, (size_t)n);
    if (rv != 0) {
        return rv;
    }
    va_start(ap, fmt);
    vsnprintf((char *)v->data + v->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    v->len += (size_t)n;
    return 0;
}

int common_vec_append_json(struct common_vec *v, const char *s)
{
    assert(s != NULL);
    int rv = common_vec_append(v, "\"", 1);
    for (const char *p = s; rv == 0 && *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            rv = common_vec_append(v, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            rv = common_vec_appendf(v, "\\u%04x", ch);
        } else {
            rv = common_vec_append(v, p, 1);
        }
    }
    if (rv == 0) {
        rv = common_vec_appendf(v, "\"");
    }
    return rv;
}
