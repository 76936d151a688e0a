/* Content-addressed small blobs: manifests and image configs in blobs/sha256/<hex>. */
#pragma once

#include "common/err.h"

struct store_blobs;

/* Opens (creating) <root>/blobs/sha256. */
int store_blobs_open(int root_fd, struct store_blobs **ret, struct iso_err *err);
struct store_blobs *store_blobs_close(struct store_blobs *b);

/* Writes data under its digest ("sha256:<hex>", which the caller has verified): temp file,
 * fsync, rename, fsync of the directory. Writing a blob that exists is a no-op. */
int store_blob_put(struct store_blobs *b, const char *digest, const void *data, size_t len,
                   struct iso_err *err);

/* Reads a whole blob of at most max bytes into a NUL-terminated malloc'd buffer. */
int store_blob_get(struct store_blobs *b, const char *digest, size_t max, char **ret,
                   size_t *ret_len, struct iso_err *err);

int store_blob_delete(struct store_blobs *b, const char *digest, struct iso_err *err);
