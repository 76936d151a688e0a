/* Content digests as the OCI image spec writes them: "sha256:<64 lowercase hex>". Streaming
 * sha256 over libcrypto, parsing, and layer chain ids. Only sha256 exists: it is what Docker
 * and every registry use for layers, configs and manifests. */
#pragma once

#include <stddef.h>

#include "common/err.h"

/* "sha256:" and 64 hex digits. */
#define STORE_DIGEST_LEN 71
/* Room for a digest and its NUL. */
#define STORE_DIGEST_SIZE 72

/* A running sha256. A value type with one allocation inside: init it, update it, then either
 * final it or, on an error path, done it (_cleanup_digest_ does). */
struct store_digest {
    void *ctx; /* EVP_MD_CTX, kept opaque so that includers need no OpenSSL headers */
    int failed;
};

/* -ENOMEM, or -EIO if libcrypto has no sha256 (a broken FIPS setup). */
int store_digest_init(struct store_digest *d);

/* Adds bytes. A libcrypto failure is remembered and reported by store_digest_final(). */
void store_digest_update(struct store_digest *d, const void *buf, size_t len);

/* Writes "sha256:<hex>" into ret and frees the context; d may then be init'ed again. */
int store_digest_final(struct store_digest *d, char ret[static STORE_DIGEST_SIZE]);

/* Frees the context without a result. Idempotent; takes a digest that was never init'ed if it
 * was zeroed. */
void store_digest_done(struct store_digest *d);
#define _cleanup_digest_ _cleanup_(store_digest_done)

/* The digest of one buffer. */
int store_digest_buf(const void *buf, size_t len, char ret[static STORE_DIGEST_SIZE]);

/* Checks that s is "sha256:" and 64 lowercase hex digits. Another algorithm ("sha512:...")
 * fails with ENOTSUP and a message naming it; anything else malformed with EINVAL. On success
 * *ret_hex (optional) points at the hex part inside s. */
int store_digest_parse(const char *s, const char **ret_hex, struct iso_err *err);

/* One step of the OCI chain id: ChainID(L0) = DiffID(L0) and
 * ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). parent is NULL for the bottom layer.
 * Both inputs are parsed first (EINVAL/ENOTSUP as above). */
int store_chain_id_next(const char *parent, const char *diff_id, char ret[static STORE_DIGEST_SIZE],
                        struct iso_err *err);

/* The chain id of the top of a stack of n >= 1 diff ids, bottom first. */
int store_chain_id(const char *const *diff_ids, size_t n, char ret[static STORE_DIGEST_SIZE],
                   struct iso_err *err);
