/* Dispatch through a storage's vtable. */
#include <stdlib.h>

#include "storage/storage.h"

int storage_load(struct storage *s, struct storage_state *out)
{
    return s->vt->load(s, out);
}

int storage_write(struct storage *s, const struct storage_batch *b)
{
    return s->vt->write(s, b);
}

int storage_save_snapshot(struct storage *s,
                          const struct storage_snapshot_meta *meta,
                          const void *data,
                          size_t len)
{
    return s->vt->save_snapshot(s, meta, data, len);
}

const char *storage_error(const struct storage *s)
{
    return s->error[0] != '\0' ? s->error : "no error";
}

void storage_free(struct storage *s)
{
    if (s != NULL) {
        s->vt->destroy(s);
    }
}
