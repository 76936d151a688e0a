#include "store/blob.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

struct store_blobs {
    int dirfd;
};

static int valid_name(const char *digest, const char **ret_hex)
{
    if (!strneq(digest, "sha256:", 7) || strlen(digest) != 71 ||
        strspn(digest + 7, "0123456789abcdef") != 64)
        return -EINVAL;
    *ret_hex = digest + 7;
    return 0;
}

int store_blobs_open(int root_fd, struct store_blobs **ret, struct iso_err *err)
{
    struct store_blobs *b;
    int fd;

    if ((mkdirat(root_fd, "blobs", 0700) < 0 && errno != EEXIST) ||
        (mkdirat(root_fd, "blobs/sha256", 0700) < 0 && errno != EEXIST))
        return iso_err_set_errno(err, errno, "create blobs/sha256");
    fd = openat(root_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "open blobs/sha256");
    b = malloc(sizeof(*b));
    if (!b) {
        close(fd);
        return iso_err_set(err, ENOMEM, "out of memory");
    }
    b->dirfd = fd;
    *ret = b;
    return 0;
}

struct store_blobs *store_blobs_close(struct store_blobs *b)
{
    if (b) {
        safe_close(b->dirfd);
        free(b);
    }
    return NULL;
}

int store_blob_put(struct store_blobs *b, const char *digest, const void *data, size_t len,
                   struct iso_err *err)
{
    const char *hex;
    char tmp[96];
    _cleanup_close_ int fd = -1;

    if (valid_name(digest, &hex) < 0)
        return iso_err_set(err, EINVAL, "invalid digest '%s'", digest);
    if (faccessat(b->dirfd, hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(tmp, sizeof(tmp), ".tmp-%s-%d", hex, (int)gettid());
    fd = openat(b->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return iso_err_set_errno(err, errno, "write blob %s", digest);
    int r = iso_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(b->dirfd, tmp, b->dirfd, hex) < 0)
        r = -errno;
    if (r == 0 && fsync(b->dirfd) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(b->dirfd, tmp, 0);
        return iso_err_set_errno(err, -r, "write blob %s", digest);
    }
    return 0;
}

int store_blob_get(struct store_blobs *b, const char *digest, size_t max, char **ret,
                   size_t *ret_len, struct iso_err *err)
{
    const char *hex;
    int r;

    if (valid_name(digest, &hex) < 0)
        return iso_err_set(err, EINVAL, "invalid digest '%s'", digest);
    r = iso_read_file_at(b->dirfd, hex, max, ret, ret_len);
    if (r < 0)
        return iso_err_set_errno(err, -r, "read blob %s", digest);
    return 0;
}

int store_blob_delete(struct store_blobs *b, const char *digest, struct iso_err *err)
{
    const char *hex;

    if (valid_name(digest, &hex) < 0)
        return iso_err_set(err, EINVAL, "invalid digest '%s'", digest);
    if (unlinkat(b->dirfd, hex, 0) < 0 && errno != ENOENT)
        return iso_err_set_errno(err, errno, "delete blob %s", digest);
    return 0;
}
