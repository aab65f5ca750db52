/*
 * Snapshot files: written so that a crash at any point leaves either the
 * old snapshot or the new one, complete, and read back only if every byte
 * checks.
 *
 * Writing follows the classic atomic-replace sequence: the whole file goes
 * to "snapshot-INDEX.snap.tmp", which is fsync'ed, then renamed to
 * "snapshot-INDEX.snap", then the directory is fsync'ed so the rename
 * itself is durable. Until the rename the new file does not exist under
 * its final name; after the directory sync it cannot disappear. A leftover
 * .tmp file is an unfinished snapshot: recovery removes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

int wal_snapshot_write(struct wal *w,
                       const struct storage_snapshot_meta *meta,
                       uint32_t flags,
                       const void *data,
                       size_t len)
{
    /* save_snapshot() checked the metadata and the data. */
    assert(meta != NULL && meta->index >= 1 && (len == 0 || data != NULL));
    struct storage_fs *fs = w->fs;
    char name[WAL_NAME_MAX];
    char tmp[WAL_NAME_MAX];
    wal_snapshot_name(name, meta->index);
    storage_msgf(tmp, sizeof tmp, "%s.tmp", name);

    struct common_vec head;
    common_vec_init(&head);
    int rv = snap_encode_head(&head, meta, flags, len);
    if (rv != 0) {
        return wal_errorf(w, rv, tmp, "cannot encode the snapshot header");
    }
    uint32_t crc = common_crc32c(0, head.data, head.len);
    if (len > 0) {
        crc = common_crc32c(crc, data, len);
    }
    uint8_t trailer[SNAP_TRAILER];
    snap_encode_trailer(trailer, crc);
    WAL_CHECK(
        wal_check_snapshot_encoding(&head, meta, flags, data, len, trailer));

    struct storage_file *f;
    rv = fs->vt->open(fs, tmp, true, &f);
    if (rv != 0) {
        goto err_head;
    }
    rv = fs->vt->truncate(fs, f, 0);
    if (rv == 0) {
        rv = fs->vt->append(fs, f, head.data, head.len);
    }
    if (rv == 0 && len > 0) {
        rv = fs->vt->append(fs, f, data, len);
    }
    if (rv == 0) {
        rv = fs->vt->append(fs, f, trailer, sizeof trailer);
    }
    if (rv == 0) {
        rv = fs->vt->sync(fs, f);
    }
    if (rv != 0) {
        goto err_close;
    }
    rv = fs->vt->close(fs, f);
    if (rv != 0) {
        goto err_head;
    }
    rv = fs->vt->rename(fs, tmp, name);
    if (rv == 0) {
        rv = fs->vt->sync_dir(fs);
    }
    if (rv != 0) {
        goto err_head;
    }
    common_vec_fini(&head);
    return 0;

err_close:
    fs->vt->close(fs, f);
err_head:
    common_vec_fini(&head);
    return wal_fail(w, rv);
}

int wal_snapshot_read(struct wal *w,
                      const char *name,
                      uint8_t **buf,
                      struct snap_decoded *out)
{
    uint8_t *data;
    size_t len;
    int rv = wal_read_file(w, name, &data, &len);
    if (rv != 0) {
        return rv;
    }
    uint64_t offset = 0;
    const char *why = NULL;
    rv = snap_decode(data, len, out, &offset, &why);
    if (rv != 0) {
        free(data);
        return wal_errorf(w, COMMON_ECORRUPT, name,
                          "offset %llu: %s (refusing to start on a damaged "
                          "snapshot)",
                          (unsigned long long)offset, why);
    }
    /* snap_decode() refuses index 0 and data past the file. */
    assert(out->meta.index >= 1 && out->data_len <= len);
    *buf = data;
    return 0;
}
