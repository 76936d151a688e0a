#include "store/digest.h"

#include <string.h>

#include <openssl/evp.h>

#define SHA256_PREFIX "sha256:"

int store_digest_init(struct store_digest *d)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    d->ctx = NULL;
    d->failed = 0;
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -EIO;
    }
    d->ctx = ctx;
    return 0;
}

void store_digest_update(struct store_digest *d, const void *buf, size_t len)
{
    if (len == 0 || d->failed)
        return;
    if (EVP_DigestUpdate(d->ctx, buf, len) != 1)
        d->failed = 1;
}

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

int store_digest_final(struct store_digest *d, char ret[static STORE_DIGEST_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int r = 0;

    if (!d->ctx)
        return -EINVAL;
    if (d->failed || EVP_DigestFinal_ex(d->ctx, md, &mdlen) != 1 || mdlen != 32)
        r = -EIO;
    store_digest_done(d);
    if (r < 0)
        return r;
    memcpy(ret, SHA256_PREFIX, sizeof(SHA256_PREFIX));
    hex_encode(md, mdlen, ret + strlen(SHA256_PREFIX));
    return 0;
}

void store_digest_done(struct store_digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
}

int store_digest_buf(const void *buf, size_t len, char ret[static STORE_DIGEST_SIZE])
{
    _cleanup_digest_ struct store_digest d = {0};
    int r;

    r = store_digest_init(&d);
    if (r < 0)
        return r;
    store_digest_update(&d, buf, len);
    return store_digest_final(&d, ret);
}

int store_chain_id_next(const char *parent, const char *diff_id, char ret[static STORE_DIGEST_SIZE],
                        struct iso_err *err)
{
    _cleanup_digest_ struct store_digest d = {0};
    int r;

    r = store_digest_parse(diff_id, NULL, err);
    if (r < 0)
        return iso_err_prefix(err, "diff id");
    if (!parent) {
        memcpy(ret, diff_id, STORE_DIGEST_SIZE);
        return 0;
    }
    r = store_digest_parse(parent, NULL, err);
    if (r < 0)
        return iso_err_prefix(err, "parent chain id");

    r = store_digest_init(&d);
    if (r < 0)
        return iso_err_set_errno(err, r, "sha256");
    store_digest_update(&d, parent, STORE_DIGEST_LEN);
    store_digest_update(&d, " ", 1);
    store_digest_update(&d, diff_id, STORE_DIGEST_LEN);
    r = store_digest_final(&d, ret);
    if (r < 0)
        return iso_err_set_errno(err, r, "sha256");
    return 0;
}

int store_chain_id(const char *const *diff_ids, size_t n, char ret[static STORE_DIGEST_SIZE],
                   struct iso_err *err)
{
    char cur[STORE_DIGEST_SIZE] = "";
    int r;

    if (n == 0)
        return iso_err_set(err, EINVAL, "chain id of no layers");
    for (size_t i = 0; i < n; i++) {
        r = store_chain_id_next(i == 0 ? NULL : cur, diff_ids[i], cur, err);
        if (r < 0)
            return r;
    }
    memcpy(ret, cur, STORE_DIGEST_SIZE);
    return 0;
}
