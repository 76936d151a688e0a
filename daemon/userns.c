#include "daemon/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define RANGE_MIN   65536u
#define SUBID_FIRST 100000u

/* The first range of name (or of its numeric id) in a subordinate id file; -ENOENT if none. */
static int find_range(const char *file, const char *name, unsigned long id, uint32_t *ret_start,
                      uint32_t *ret_count)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    char line[512], num[32];

    if (!f)
        return errno == ENOENT ? -ENOENT : -errno;
    snprintf(num, sizeof(num), "%lu", id);
    while (fgets(line, sizeof(line), f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b)
            continue;
        *a = '\0';
        if (!streq(line, name) && !streq(line, num))
            continue;
        int64_t start, count;
        b[strcspn(b, "\n")] = '\0';
        *b = '\0';
        if (iso_parse_int64(a + 1, 0, UINT32_MAX, &start) < 0 ||
            iso_parse_int64(b + 1, 1, UINT32_MAX, &count) < 0 || start + count > 1ll << 32)
            return -EINVAL;
        *ret_start = (uint32_t)start;
        *ret_count = (uint32_t)count;
        return 0;
    }
    return -ENOENT;
}

/* The first id past every range in file (at least SUBID_FIRST). */
static int64_t next_free(const char *file)
{
    _cleanup_fclose_ FILE *f = fopen(file, "re");
    char line[512];
    int64_t end = SUBID_FIRST;

    while (f && fgets(line, sizeof(line), f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        int64_t start, count;
        if (!b)
            continue;
        *b = '\0';
        b[1 + strcspn(b + 1, "\n")] = '\0';
        if (iso_parse_int64(a + 1, 0, UINT32_MAX, &start) >= 0 &&
            iso_parse_int64(b + 1, 1, UINT32_MAX, &count) >= 0 && start + count > end)
            end = start + count;
    }
    return end;
}

static int append_range(const char *file, const char *name, int64_t start, struct iso_err *err)
{
    _cleanup_close_ int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    char line[128];
    int n = snprintf(line, sizeof(line), "%s:%" PRId64 ":%u\n", name, start, RANGE_MIN);

    if (fd < 0 || iso_write_all(fd, line, (size_t)n) < 0)
        return iso_err_set_errno(err, errno, "userns-remap: add a range to '%s'", file);
    return 0;
}

/* Docker's dockremap, for isod: a system user, and 65536 ids past every existing range. */
static int create_default(struct iso_err *err)
{
    if (!getpwnam(ENG_USERNS_DEFAULT_USER)) {
        pid_t pid = fork();
        int status;
        if (pid < 0)
            return iso_err_set_errno(err, errno, "userns-remap: fork");
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null >= 0)
                (void)dup2(null, 1);
            execlp("useradd", "useradd", "-r", "-s", "/bin/false", ENG_USERNS_DEFAULT_USER,
                   (char *)NULL);
            _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return iso_err_set(err, EIO,
                               "userns-remap: cannot create user '" ENG_USERNS_DEFAULT_USER
                               "' (useradd -r failed)");
    }
    static const char *const files[] = {"/etc/subuid", "/etc/subgid"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        uint32_t s, c;
        if (find_range(files[i], ENG_USERNS_DEFAULT_USER, (unsigned long)-1, &s, &c) == 0)
            continue;
        int r = append_range(files[i], ENG_USERNS_DEFAULT_USER, next_free(files[i]), err);
        if (r < 0)
            return r;
    }
    return 0;
}

int eng_userns_resolve(const char *value, struct eng_userns *ret, struct iso_err *err)
{
    struct eng_userns u = {0};
    char user[64], group[64] = "";
    const char *colon = strchr(value, ':');
    int64_t num;
    int r;

    if (streq(value, "default")) {
        r = create_default(err);
        if (r < 0)
            return r;
        snprintf(user, sizeof(user), "%s", ENG_USERNS_DEFAULT_USER);
    } else {
        size_t n = colon ? (size_t)(colon - value) : strlen(value);
        if (n == 0 || n >= sizeof(user) || (colon && (!colon[1] || strlen(colon + 1) >= 64)))
            return iso_err_set(err, EINVAL, "userns-remap: invalid value '%s'", value);
        snprintf(user, sizeof(user), "%.*s", (int)n, value);
        if (colon)
            snprintf(group, sizeof(group), "%s", colon + 1);
    }

    struct passwd *pw =
        iso_parse_int64(user, 0, UINT32_MAX, &num) >= 0 ? getpwuid((uid_t)num) : getpwnam(user);
    if (!pw)
        return iso_err_set(err, ENOENT, "userns-remap: no such user '%s'", user);
    if (pw->pw_uid == 0)
        return iso_err_set(err, EINVAL, "userns-remap: cannot remap to root");
    snprintf(u.user, sizeof(u.user), "%s", pw->pw_name);
    uid_t uid = pw->pw_uid;
    /* Docker: the group defaults to the user's name. */
    struct group *gr = !*group                                            ? getgrnam(u.user)
                       : iso_parse_int64(group, 0, UINT32_MAX, &num) >= 0 ? getgrgid((gid_t)num)
                                                                          : getgrnam(group);
    if (!gr)
        return iso_err_set(err, ENOENT, "userns-remap: no such group '%s'",
                           *group ? group : u.user);
    snprintf(u.group, sizeof(u.group), "%s", gr->gr_name);

    r = find_range("/etc/subuid", u.user, uid, &u.uid_start, &u.uid_count);
    if (r < 0)
        return iso_err_set(
            err, -r, "userns-remap: no subordinate uid range for '%s' in /etc/subuid", u.user);
    r = find_range("/etc/subgid", u.group, gr->gr_gid, &u.gid_start, &u.gid_count);
    if (r < 0)
        return iso_err_set(
            err, -r, "userns-remap: no subordinate gid range for '%s' in /etc/subgid", u.group);
    if (u.uid_count < RANGE_MIN || u.gid_count < RANGE_MIN)
        return iso_err_set(err, EINVAL,
                           "userns-remap: the ranges of '%s' hold %u uids and %u gids; at least "
                           "%u needed",
                           u.user, u.uid_count, u.gid_count, RANGE_MIN);
    *ret = u;
    return 0;
}
