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
