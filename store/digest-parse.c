/* store_digest_parse(), apart from the hashing in digest.c: it needs no libcrypto, and isod
 * itself only parses digests (isod-fetch hashes), so isod does not load libcrypto at all. */
#include "store/digest.h"

#include <string.h>

#include "common/util.h"

int store_digest_parse(const char *s, const char **ret_hex, struct iso_err *err)
{
    const char *colon;
    size_t alg_len;

    if (!s)
        return iso_err_set(err, EINVAL, "missing digest");
    colon = strchr(s, ':');
    if (!colon || colon == s)
        return iso_err_set(err, EINVAL, "invalid digest '%.100s': expected 'sha256:<hex>'", s);
    alg_len = (size_t)(colon - s);
    if (alg_len != strlen("sha256") || !strneq(s, "sha256", alg_len)) {
        /* The algorithm grammar of the OCI spec: [a-z0-9]+([+._-][a-z0-9]+)*. A well-formed
         * other algorithm gets a clearer message than a garbled string. */
        for (const char *p = s; p < colon; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+._-", *p)))
                return iso_err_set(err, EINVAL, "invalid digest '%.100s': expected 'sha256:<hex>'",
                                   s);
        return iso_err_set(err, ENOTSUP,
                           "unsupported digest algorithm '%.*s' in '%.100s': only sha256 is "
                           "supported",
                           (int)(alg_len > 32 ? 32 : alg_len), s, s);
    }
    const char *hex = colon + 1;
    size_t n = strlen(hex);
    if (n != 64)
        return iso_err_set(err, EINVAL,
                           "invalid digest '%.100s': a sha256 digest has 64 hex digits, not %zu", s,
                           n);
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return iso_err_set(err, EINVAL,
                               "invalid digest '%.100s': expected lowercase hex digits", s);
    if (ret_hex)
        *ret_hex = hex;
    return 0;
}
