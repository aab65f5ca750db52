/* A growable byte vector with geometric growth. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

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
    size_t need = v->len + extra + 1; /* room for a NUL terminator */
    if (need <= v->cap) {
        return 0;
    }
    size_t cap = v->cap ? v->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    uint8_t *data = realloc(v->data, cap);
    if (data == NULL) {
        return COMMON_ENOMEM;
    }
    v->data = data;
    v->cap = cap;
    return 0;
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
