/* One layer, in one streaming pass: blob bytes -> sha256 and size of the blob -> decompress
 * (gzip, zstd or none) -> sha256 and size of the tar (the diff id) -> entries written under a
 * directory. Blocking; the daemon runs it on worker threads, fed by libcurl for pulls and by a
 * tar member for `docker load`. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "store/digest.h"

/* Where the blob bytes come from. read() fills up to len bytes and returns how many, 0 at the
 * end of the blob, or a negative errno (-EINTR is retried). It is not called again after it
 * returned 0 or an error. */
struct store_layer_source {
    ssize_t (*read)(void *userdata, void *buf, size_t len);
    void *userdata;
};

enum store_compression {
    STORE_COMPRESSION_DETECT, /* sniff the magic bytes: gzip, zstd, else an uncompressed tar */
    STORE_COMPRESSION_NONE,
    STORE_COMPRESSION_GZIP,
    STORE_COMPRESSION_ZSTD,
};

struct store_unpack_opts {
    /* DETECT is what Docker does whatever the media type says; an explicit value makes a blob
     * in another format fail. */
    enum store_compression compression;
    const char *expect_blob_digest; /* NULL = don't check */
    int64_t expect_blob_size;       /* -1 = unknown; more bytes than this fail early */
    const char *expect_diff_id;     /* NULL = don't check */
    /* Called after every read with the blob bytes so far, on the calling thread. */
    void (*progress)(void *userdata, uint64_t blob_bytes);
    void *progress_userdata;
};

struct store_unpack_result {
    char blob_digest[STORE_DIGEST_SIZE]; /* sha256 of the bytes read from the source */
    char diff_id[STORE_DIGEST_SIZE];     /* sha256 of the uncompressed tar, padding included */
    uint64_t blob_size;
    uint64_t tar_size;
    uint64_t disk_bytes; /* sum of regular file sizes, hardlinks counted once */
};

/* Reads the whole blob from src and unpacks it under dest_dirfd, which should be an empty
 * directory on a filesystem with xattr and device node support. Runs as root (chown, mknod,
 * trusted.overlay.opaque need it).
 *
 * Nothing is created, changed or followed outside dest_dirfd: names with ".." escapes or an
 * absolute path fail with EPERM, and symlinks planted by the layer resolve as if dest were "/".
 * Whiteouts become overlay whiteouts (char 0:0, trusted.overlay.opaque=y). The blob is read to
 * its end, and the compressed stream must end exactly there; then size, digest and diff id
 * are compared with opts. Finally the filesystem is synced once (syncfs), so the caller can
 * rename dest into place.
 *
 * Errors: a negative errno with err set. EPERM for escapes and refused xattrs, EBADMSG for
 * corrupt or mismatched content, EINVAL for what is not a valid layer tar, E2BIG or
 * ENAMETOOLONG past the caps, the source's or a syscall's errno otherwise. On error dest is
 * left half-written: the caller removes it. ret is written only on success. */
int store_layer_unpack(int dest_dirfd, const struct store_layer_source *src,
                       const struct store_unpack_opts *opts, struct store_unpack_result *ret,
                       struct iso_err *err);
