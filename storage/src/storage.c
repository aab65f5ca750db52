/* Dispatch through a storage's vtable, and small shared helpers. */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "storage/storage.h"

void storage_msgf(char *dst, size_t cap, const char *fmt, ...)
{
    assert(dst != NULL && cap > 0 && fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

int storage_load(struct storage *s, struct storage_state *out)
{
    assert(s != NULL && s->vt != NULL && out != NULL);
    return s->vt->load(s, out);
}

int storage_write(struct storage *s, const struct storage_batch *b)
{
    assert(s != NULL && s->vt != NULL && b != NULL);
    return s->vt->write(s, b);
}

int storage_save_snapshot(struct storage *s,
                          const struct storage_snapshot_meta *meta,
                          const void *data,
                          size_t len)
{
    assert(s != NULL && s->vt != NULL);
    return s->vt->save_snapshot(s, meta, data, len);
}

const char *storage_error(const struct storage *s)
{
    /* Messages are cut to fit: the buffer always ends in a NUL. */
    assert(s != NULL && memchr(s->error, '\0', sizeof s->error) != NULL);
    return s->error[0] != '\0' ? s->error : "no error";
}

void storage_free(struct storage *s)
{
    if (s != NULL) {
        assert(s->vt != NULL);
        s->vt->destroy(s);
    }
}

void storage_fs_free(struct storage_fs *fs)
{
    if (fs != NULL) {
        assert(fs->vt != NULL);
        fs->vt->destroy(fs);
    }
}
