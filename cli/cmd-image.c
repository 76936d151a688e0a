/* isoctl pull, images, rmi, load, save, tag and image inspect/history/prune: the /images
 * endpoints, printed like the docker CLI does. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/auth.h"
#include "cli/format.h"
#include "cli/isoctl-internal.h"
#include "cli/progress.h"
#include "cli/reference.h"
#include "common/json.h"
#include "common/util.h"

/* A string field for display: "" when missing or not a string. */
/* The columns of the terminal on fd, 0 when unknown. */
static unsigned term_width(int fd)
{
    struct winsize ws;

    if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
        return 0;
    return ws.ws_col;
}

/* "/images/<name><suffix>", name path-escaped. NULL on OOM. */
static char *image_target(const char *name, const char *suffix)
{
    _cleanup_free_ char *esc = ctl_path_escape(name);

    return esc ? iso_strprintf("/images/%s%s", esc, suffix) : NULL;
}

static void print_json_line(json_t *obj)
{
    _cleanup_free_ char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

    if (text)
        printf("%s\n", text);
}

/* Runs a request whose answer is a JSON progress stream, rendered on out. */
static int run_progress(struct ctl_client *cl, const struct ctl_http_request *req,
                        enum ctl_progress_mode mode, FILE *out, struct iso_err *err)
{
    _cleanup_progress_ struct ctl_progress *p =
        ctl_progress_new(out, mode, term_width(fileno(out)));
    int r;

    if (!p)
        return iso_err_set(err, ENOMEM, "out of memory");
    r = ctl_client_stream(cl, req, ctl_progress_feed, p, err);
    if (r >= 0)
        r = ctl_progress_finish(p, err);
    return r;
}

/* ---- pull ---- */

int ctl_image_pull(struct ctl_client *cl, const struct ctl_ref *ref, const char *platform,
                   enum ctl_progress_mode mode, FILE *out, struct iso_err *err)
{
    _cleanup_free_ char *target = strdup("/images/create"), *auth = NULL;
    char name[CTL_REF_STR_MAX];
    int r;

    /* As docker's client: the full name, and the digest in "tag" when there is one. */
    if (!target ||
        ctl_target_add(&target, "fromImage", ctl_ref_name(ref, name, sizeof(name))) < 0 ||
        ctl_target_add(&target, "tag", *ref->digest ? ref->digest : ref->tag) < 0 ||
        (platform && ctl_target_add(&target, "platform", platform) < 0))
        return iso_err_set(err, ENOMEM, "out of memory");

    r = ctl_auth_registry_header(ref->domain, &auth, err);
    if (r < 0)
        return r;
    const char *headers[] = {auth, NULL};
    const struct ctl_http_request req = {
        .method = "POST", .target = target, .headers = auth ? headers : NULL};
    r = run_progress(cl, &req, mode, out, err);
    fflush(out);
    return r;
}

int ctl_cmd_pull(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"platform", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *platform = NULL;
    char full[CTL_REF_STR_MAX];
    struct iso_err err = {0};
    struct ctl_ref ref;
    bool quiet = false;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'P':
            platform = optarg;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_error(cmd, "requires exactly 1 argument");

    if (ctl_ref_parse(argv[optind], &ref, &err) < 0)
        return ctl_report(&err);
    if (!*ref.tag && !*ref.digest) {
        snprintf(ref.tag, sizeof(ref.tag), "latest");
        if (!quiet)
            printf("Using default tag: latest\n");
    }

    if (ctl_image_pull(cl, &ref, platform,
                       quiet                       ? CTL_PROGRESS_QUIET
                       : ctl_isatty(STDOUT_FILENO) ? CTL_PROGRESS_TTY
                                                   : CTL_PROGRESS_PLAIN,
                       stdout, &err) < 0)
        return ctl_report(&err);
    printf("%s\n", ctl_ref_string(&ref, full, sizeof(full)));
    return CTL_EXIT_OK;
}

/* ---- images ---- */

static int rows_add(struct ctl_image_rows *rows, json_t *img, const char *repo, const char *tag,
                    const char *digest)
{
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 32;
        struct ctl_image_row *v = reallocarray(rows->v, cap, sizeof(*v));
        if (!v)
            return -ENOMEM;
        rows->v = v;
        rows->cap = cap;
    }
    struct ctl_image_row *row = &rows->v[rows->n++];
    row->img = img;
    snprintf(row->repo, sizeof(row->repo), "%s", repo);
    snprintf(row->tag, sizeof(row->tag), "%s", tag);
    snprintf(row->digest, sizeof(row->digest), "%s", digest);
    return 0;
}

/* A familiar repository and the tag or digest of a RepoTags or RepoDigests entry. */
struct named {
    char repo[CTL_REF_STR_MAX];
    char what[CTL_REF_TAG_MAX + 8];
    bool used;
};

static size_t parse_named(json_t *list, bool digests, struct named *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < json_array_size(list) && n < max; i++) {
        const char *s = json_string_value(json_array_get(list, i));
        struct ctl_ref ref;
        if (!s || ctl_ref_parse(s, &ref, NULL) < 0)
            continue;
        if (digests ? !*ref.digest : !*ref.tag)
            continue;
        ctl_ref_familiar_name(&ref, out[n].repo, sizeof(out[n].repo));
        snprintf(out[n].what, sizeof(out[n].what), "%s", digests ? ref.digest : ref.tag);
        out[n].used = false;
        n++;
    }
    return n;
}

/* Old daemons list an untagged image with the placeholders "<none>:<none>", "<none>@<none>". */
static bool is_dangling(json_t *img)
{
    json_t *tags = json_object_get(img, "RepoTags"), *digests = json_object_get(img, "RepoDigests");
    const char *t = json_string_value(json_array_get(tags, 0));
    const char *d = json_string_value(json_array_get(digests, 0));

    return json_array_size(tags) == 1 && json_array_size(digests) == 1 && t && d &&
           streq(t, "<none>:<none>") && streq(d, "<none>@<none>");
}

/* docker's imageFormatTaggedAndDigest(): a row per repository and tag (times each digest of the
 * repository with --digests), then a row per repository known only by digest. */
static int image_rows_of(json_t *img, bool show_digests, struct ctl_image_rows *rows)
{
    enum { MAX_REFS = 256 };
    _cleanup_free_ struct named *tags = calloc(MAX_REFS, sizeof(*tags));
    _cleanup_free_ struct named *digests = calloc(MAX_REFS, sizeof(*digests));
    size_t n_tags, n_digests;

    if (!tags || !digests)
        return -ENOMEM;
    n_tags = parse_named(json_object_get(img, "RepoTags"), false, tags, MAX_REFS);
    n_digests = parse_named(json_object_get(img, "RepoDigests"), true, digests, MAX_REFS);
    if (n_tags == 0 && n_digests == 0)
        return rows_add(rows, img, "<none>", "<none>", "<none>");

    for (size_t i = 0; i < n_tags; i++) {
        bool any = false;

        if (tags[i].used)
            continue;
        /* All tags of this repository, in order, each with the repository's digests. */
        for (size_t j = 0; j < n_digests; j++)
            if (streq(digests[j].repo, tags[i].repo)) {
                digests[j].used = true;
                any = true;
            }
        for (size_t t = i; t < n_tags; t++) {
            if (tags[t].used || !streq(tags[t].repo, tags[i].repo))
                continue;
            tags[t].used = true;
            if (!show_digests || !any) {
                if (rows_add(rows, img, tags[t].repo, tags[t].what, "<none>") < 0)
                    return -ENOMEM;
                continue;
            }
            for (size_t j = 0; j < n_digests; j++)
                if (streq(digests[j].repo, tags[t].repo) &&
                    rows_add(rows, img, tags[t].repo, tags[t].what, digests[j].what) < 0)
                    return -ENOMEM;
        }
    }
    for (size_t j = 0; j < n_digests; j++) {
        if (digests[j].used)
            continue;
        if (show_digests) {
            if (rows_add(rows, img, digests[j].repo, "<none>", digests[j].what) < 0)
                return -ENOMEM;
            continue;
        }
        for (size_t k = j; k < n_digests; k++)
            if (streq(digests[k].repo, digests[j].repo))
                digests[k].used = true;
        if (rows_add(rows, img, digests[j].repo, "<none>", "<none>") < 0)
            return -ENOMEM;
    }
    return 0;
}

int ctl_image_rows_add(struct ctl_image_rows *rows, json_t *img, bool show_digests)
{
    if (is_dangling(img))
        return rows_add(rows, img, "<none>", "<none>", "<none>");
    return image_rows_of(img, show_digests, rows);
}

static void format_id(const char *id, bool no_trunc, char *buf, size_t size)
{
    if (no_trunc)
        snprintf(buf, size, "%s", id);
    else
        ctl_short_id(id, buf, size);
}

static json_t *image_row_json(const struct ctl_image_row *row, bool no_trunc, int64_t now)
{
    char id[160], created[64], since[64], size[32], shared[32], unique[32], virt[32], ctrs[32];
    json_int_t sz = ctl_num(row->img, "Size"), sh = ctl_num(row->img, "SharedSize");
    json_t *cnt = json_object_get(row->img, "Containers");

    format_id(ctl_str(row->img, "Id"), no_trunc, id, sizeof(id));
    ctl_format_time(ctl_num(row->img, "Created"), created, sizeof(created));
    ctl_format_since(ctl_num(row->img, "Created"), now, since, sizeof(since));
    ctl_format_size(sz, 3, size, sizeof(size));
    ctl_format_size(sz, 4, virt, sizeof(virt));
    if (sh == -1 || !json_is_integer(json_object_get(row->img, "SharedSize"))) {
        snprintf(shared, sizeof(shared), "N/A");
        snprintf(unique, sizeof(unique), "N/A");
    } else {
        ctl_format_size(sh, 3, shared, sizeof(shared));
        ctl_format_size(sz - sh, 3, unique, sizeof(unique));
    }
    if (!json_is_integer(cnt) || json_integer_value(cnt) < 0)
        snprintf(ctrs, sizeof(ctrs), "N/A");
    else
        snprintf(ctrs, sizeof(ctrs), "%" JSON_INTEGER_FORMAT, json_integer_value(cnt));

    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Containers", ctrs,
                     "CreatedAt", created, "CreatedSince", since, "Digest", row->digest, "ID", id,
                     "Repository", row->repo, "SharedSize", shared, "Size", size, "Tag", row->tag,
                     "UniqueSize", unique, "VirtualSize", virt);
}

int ctl_cmd_images(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},          {"quiet", no_argument, NULL, 'q'},
        {"digests", no_argument, NULL, 'D'},      {"no-trunc", no_argument, NULL, 'N'},
        {"format", required_argument, NULL, 'F'}, {"filter", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {0},
    };
    _cleanup_json_ json_t *filters = json_object(), *images = NULL;
    _cleanup_free_ char *target = strdup("/images/json");
    _cleanup_table_ struct ctl_table *table = NULL;
    struct ctl_image_rows rows = {0};
    struct iso_err err = {0};
    bool all = false, quiet = false, digests = false, no_trunc = false, json = false;
    int64_t now = (int64_t)time(NULL);
    int c, r;

    if (!filters || !target)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:aqf:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'D':
            digests = true;
            break;
        case 'N':
            no_trunc = true;
            break;
        case 'F':
            if (ctl_parse_format(cmd, optarg, &json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'f':
            r = ctl_filter_opt(cmd, filters, optarg);
            if (r != CTL_EXIT_OK)
                return r;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind > 1)
        return ctl_usage_error(cmd, "requires at most 1 argument");
    if (optind < argc) {
        /* The REPOSITORY[:TAG] argument is one more reference filter. */
        _cleanup_free_ char *f = iso_strprintf("reference=%s", argv[optind]);
        if (!f || ctl_filter_add(cmd, filters, f) < 0)
            return ctl_oom();
    }

    if ((all && ctl_target_add(&target, "all", "1") < 0) ||
        ctl_target_add_filters(&target, filters) < 0)
        return ctl_oom();
    r = ctl_client_get_json(cl, target, &images, &err);
    if (r >= 0 && !json_is_array(images))
        r = iso_err_set(&err, EBADMSG, "GET %s: expected a JSON array", target);
    if (r < 0)
        return ctl_report(&err);

    for (size_t i = 0; i < json_array_size(images); i++) {
        json_t *img = json_array_get(images, i);
        if (ctl_image_rows_add(&rows, img, digests) < 0) {
            free(rows.v);
            return ctl_oom();
        }
    }

    table = ctl_table_new(digests ? 6 : 5);
    r = table ? 0 : -ENOMEM;
    if (r >= 0 && !quiet && !json)
        r = ctl_table_add(
            table,
            digests ? (const char *[]){"REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"}
                    : (const char *[]){"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
    for (size_t i = 0; r >= 0 && i < rows.n; i++) {
        const struct ctl_image_row *row = &rows.v[i];
        char id[160], since[64], size[32];

        format_id(ctl_str(row->img, "Id"), no_trunc, id, sizeof(id));
        if (quiet) {
            printf("%s\n", id);
            continue;
        }
        if (json) {
            _cleanup_json_ json_t *o = image_row_json(row, no_trunc, now);
            if (!o)
                r = -ENOMEM;
            else
                print_json_line(o);
            continue;
        }
        ctl_format_since(ctl_num(row->img, "Created"), now, since, sizeof(since));
        ctl_format_size(ctl_num(row->img, "Size"), 3, size, sizeof(size));
        if (digests)
            r = ctl_table_add(table,
                              (const char *[]){row->repo, row->tag, row->digest, id, since, size});
        else
            r = ctl_table_add(table, (const char *[]){row->repo, row->tag, id, since, size});
    }
    free(rows.v);
    if (r < 0)
        return ctl_oom();
    if (!quiet && !json)
        ctl_table_print(table, stdout);
    return CTL_EXIT_OK;
}

/* ---- rmi ---- */

/* "Untagged: x" and "Deleted: sha256:..." lines of a DELETE /images or prune answer; prefix is
 * docker's capitalisation for each command. */
static void print_deleted(json_t *items, bool lowercase)
{
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (*ctl_str(it, "Untagged"))
            printf("%s: %s\n", lowercase ? "untagged" : "Untagged", ctl_str(it, "Untagged"));
        if (*ctl_str(it, "Deleted"))
            printf("%s: %s\n", lowercase ? "deleted" : "Deleted", ctl_str(it, "Deleted"));
    }
}

int ctl_cmd_rmi(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"no-prune", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool force = false, no_prune = false, failed = false;
    int c;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            force = true;
            break;
        case 'P':
            no_prune = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");

    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *target = image_target(argv[i], "");
        _cleanup_json_ json_t *resp = NULL;
        struct iso_err err = {0};

        if (!target || (force && ctl_target_add(&target, "force", "1") < 0) ||
            (no_prune && ctl_target_add(&target, "noprune", "1") < 0))
            return ctl_oom();
        const struct ctl_http_request req = {.method = "DELETE", .target = target};
        if (ctl_client_call_json(cl, &req, &resp, &err) < 0) {
            /* Like docker: go on with the other images, fail at the end. */
            fflush(stdout);
            ctl_report(&err);
            failed = true;
            continue;
        }
        print_deleted(resp, false);
    }
    return failed ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

/* ---- load ---- */

static ssize_t fd_source(void *userdata, void *buf, size_t size)
{
    int fd = *(int *)userdata;
    ssize_t n = RETRY_EINTR(read(fd, buf, size));

    return n < 0 ? -errno : n;
}

int ctl_cmd_load(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"input", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    static const char *const headers[] = {"Content-Type: application/x-tar", NULL};
    _cleanup_close_ int file_fd = -1;
    const char *input = NULL;
    struct iso_err err = {0};
    bool quiet = false, tty = ctl_isatty(STDOUT_FILENO);
    int c, fd = STDIN_FILENO, r;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:i:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");

    if (input) {
        file_fd = open(input, O_RDONLY | O_CLOEXEC);
        if (file_fd < 0) {
            iso_err_set_errno(&err, errno, "open '%s'", input);
            return ctl_report(&err);
        }
        fd = file_fd;
    } else if (ctl_isatty(STDIN_FILENO)) {
        iso_err_set(&err, EINVAL, "requested load from stdin, but stdin is empty");
        return ctl_report(&err);
    }

    /* The archive goes out in chunks as it is read: it may be gigabytes, or a pipe. */
    const struct ctl_http_request req = {
        .method = "POST",
        .target = quiet || !tty ? "/images/load?quiet=1" : "/images/load?quiet=0",
        .headers = headers,
        .source = fd_source,
        .userdata = &fd,
    };
    r = run_progress(cl, &req, tty ? CTL_PROGRESS_TTY : CTL_PROGRESS_PLAIN, stdout, &err);
    if (r < 0) {
        fflush(stdout);
        return ctl_report(&err);
    }
    return CTL_EXIT_OK;
}

/* ---- save ---- */

static int fd_sink(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    int r = iso_write_all(*(int *)userdata, data, len);

    if (r < 0)
        return iso_err_set_errno(err, r, "write archive");
    return 0;
}

int ctl_cmd_save(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *target = NULL, *tmp = NULL;
    _cleanup_close_ int file_fd = -1;
    const char *output = NULL;
    struct iso_err err = {0};
    int c, fd = STDOUT_FILENO, r;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    if (!output && ctl_isatty(STDOUT_FILENO)) {
        iso_err_set(&err, EINVAL,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return ctl_report(&err);
    }

    if (argc - optind == 1) {
        target = image_target(argv[optind], "/get");
    } else {
        target = strdup("/images/get");
        for (int i = optind; target && i < argc; i++)
            if (ctl_target_add(&target, "names", argv[i]) < 0)
                return ctl_oom();
    }
    if (!target)
        return ctl_oom();

    if (output) {
        /* A half-written archive never takes the name: it is renamed into place at the end. */
        tmp = iso_strprintf("%s.tmp", output);
        if (!tmp)
            return ctl_oom();
        file_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (file_fd < 0) {
            iso_err_set_errno(&err, errno, "create '%s'", tmp);
            return ctl_report(&err);
        }
        fd = file_fd;
    }

    const struct ctl_http_request req = {.method = "GET", .target = target};
    r = ctl_client_stream(cl, &req, fd_sink, &fd, &err);
    if (r >= 0 && output) {
        if (fsync(file_fd) < 0 || close(TAKE_FD(file_fd)) < 0)
            r = iso_err_set_errno(&err, errno, "write '%s'", tmp);
        else if (rename(tmp, output) < 0)
            r = iso_err_set_errno(&err, errno, "rename '%s' to '%s'", tmp, output);
    }
    if (r < 0) {
        if (output)
            (void)unlink(tmp);
        return ctl_report(&err);
    }
    return CTL_EXIT_OK;
}

/* ---- tag ---- */

int ctl_cmd_tag(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    _cleanup_(ctl_http_response_done) struct ctl_http_response resp = {0};
    _cleanup_free_ char *target = NULL, *repo = NULL;
    struct iso_err err = {0};
    const char *dst, *slash, *colon;
    struct ctl_ref ref;
    int r;

    r = ctl_parse_no_options(cmd, argc, argv);
    if (r >= 0)
        return r;
    if (argc - optind != 2)
        return ctl_usage_error(cmd, "requires exactly 2 arguments");
    dst = argv[optind + 1];

    if (ctl_ref_parse(dst, &ref, &err) < 0)
        return ctl_report(&err);
    if (*ref.digest) {
        iso_err_set(&err, EINVAL, "refusing to create a tag with a digest reference");
        return ctl_report(&err);
    }
    /* The tag is what follows the last ':' after the last '/'; "latest" when there is none. */
    slash = strrchr(dst, '/');
    colon = strrchr(slash ? slash : dst, ':');
    repo = colon ? strndup(dst, (size_t)(colon - dst)) : strdup(dst);
    target = image_target(argv[optind], "/tag");
    if (!repo || !target || ctl_target_add(&target, "repo", repo) < 0 ||
        ctl_target_add(&target, "tag", colon ? colon + 1 : "latest") < 0)
        return ctl_oom();

    const struct ctl_http_request req = {.method = "POST", .target = target};
    if (ctl_client_call(cl, &req, &resp, &err) < 0)
        return ctl_report(&err);
    return CTL_EXIT_OK;
}

/* ---- image inspect ---- */

int ctl_cmd_image_inspect(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *out = json_array();
    _cleanup_free_ struct iso_err *errs = NULL;
    _cleanup_free_ char *text = NULL;
    size_t n_errs = 0;
    int c;

    if (!out)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!streq(optarg, "json") && !streq(optarg, "{{json .}}") && !streq(optarg, ""))
                return ctl_usage_error(cmd, "unsupported format '%s': use 'json'", optarg);
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "requires at least 1 argument");
    errs = calloc((size_t)(argc - optind), sizeof(*errs));
    if (!errs)
        return ctl_oom();

    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *target = image_target(argv[i], "/json");
        json_t *img = NULL;

        if (!target)
            return ctl_oom();
        if (ctl_client_get_json(cl, target, &img, &errs[n_errs]) < 0) {
            n_errs++;
            continue;
        }
        if (json_array_append_new(out, img) < 0)
            return ctl_oom();
    }

    /* Like docker: the images found, as an indented array, then what was not found. */
    text = json_dumps(out, JSON_INDENT(4));
    if (!text)
        return ctl_oom();
    printf("%s\n", text);
    fflush(stdout);
    for (size_t i = 0; i < n_errs; i++)
        ctl_report(&errs[i]);
    return n_errs ? CTL_EXIT_ERROR : CTL_EXIT_OK;
}

/* ---- image history ---- */

int ctl_cmd_image_history(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'}, {"human", optional_argument, NULL, 'H'},
        {"no-trunc", no_argument, NULL, 'N'},     {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {0},
    };
    _cleanup_table_ struct ctl_table *table = ctl_table_new(5);
    _cleanup_free_ char *target = NULL;
    _cleanup_json_ json_t *hist = NULL;
    struct iso_err err = {0};
    bool human = true, no_trunc = false, quiet = false, json = false;
    int64_t now = (int64_t)time(NULL);
    int c, r;

    if (!table)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:H::qh", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (ctl_parse_format(cmd, optarg, &json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'H':
            /* A bool flag as the docker CLI takes it: -H, --human, --human=false, -H=false. */
            human = true;
            if (optarg && iso_parse_bool(optarg[0] == '=' ? optarg + 1 : optarg, &human) < 0)
                return ctl_usage_error(cmd, "invalid value '%s' for --human", optarg);
            break;
        case 'N':
            no_trunc = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (argc - optind != 1)
        return ctl_usage_error(cmd, "requires exactly 1 argument");

    target = image_target(argv[optind], "/history");
    if (!target)
        return ctl_oom();
    r = ctl_client_get_json(cl, target, &hist, &err);
    if (r >= 0 && !json_is_array(hist))
        r = iso_err_set(&err, EBADMSG, "GET %s: expected a JSON array", target);
    if (r < 0)
        return ctl_report(&err);

    r = ctl_table_add(table, (const char *[]){"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"});
    for (size_t i = 0; r >= 0 && i < json_array_size(hist); i++) {
        json_t *h = json_array_get(hist, i);
        _cleanup_free_ char *by = strdup(ctl_str(h, "CreatedBy")), *shown = NULL;
        char id[160], created[64], created_at[64], size[32];
        int64_t t = ctl_num(h, "Created");

        if (!by)
            return ctl_oom();
        for (char *p = by; *p; p++)
            if (*p == '\t')
                *p = ' ';
        shown = no_trunc ? TAKE_PTR(by) : ctl_ellipsis(by, 45);
        if (!shown)
            return ctl_oom();
        format_id(ctl_str(h, "Id"), no_trunc, id, sizeof(id));
        if (quiet) {
            printf("%s\n", id);
            continue;
        }
        ctl_format_rfc3339(t, created_at, sizeof(created_at));
        if (human) {
            ctl_format_since(t, now, created, sizeof(created));
            ctl_format_size(ctl_num(h, "Size"), 3, size, sizeof(size));
        } else {
            snprintf(created, sizeof(created), "%s", created_at);
            snprintf(size, sizeof(size), "%" JSON_INTEGER_FORMAT, ctl_num(h, "Size"));
        }
        if (json) {
            _cleanup_json_ json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s}", "Comment", ctl_str(h, "Comment"), "CreatedAt",
                created_at, "CreatedBy", shown, "CreatedSince", created, "ID", id, "Size", size);
            if (!o)
                return ctl_oom();
            print_json_line(o);
            continue;
        }
        r = ctl_table_add(table, (const char *[]){id, created, shown, size, ctl_str(h, "Comment")});
    }
    if (r < 0)
        return ctl_oom();
    if (!quiet && !json)
        ctl_table_print(table, stdout);
    return CTL_EXIT_OK;
}

/* ---- image prune ---- */

int ctl_cmd_image_prune(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"filter", required_argument, NULL, 'F'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_json_ json_t *filters = json_object(), *resp = NULL;
    _cleanup_free_ char *target = strdup("/images/prune");
    struct iso_err err = {0};
    bool all = false, force = false;
    char size[32];
    json_t *deleted;
    int c, r;

    if (!filters || !target)
        return ctl_oom();
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:afh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'F':
            r = ctl_filter_opt(cmd, filters, optarg);
            if (r != CTL_EXIT_OK)
                return r;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "accepts no arguments");

    r = ctl_prune_confirm(cmd, force,
                          all ? "This will remove all images without at least one container "
                                "associated to them."
                              : "This will remove all dangling images.");
    if (r != CTL_EXIT_OK)
        return r;

    /* As docker: dangling=true by default, dangling=false for --all (any unused image). */
    if (ctl_filter_add(cmd, filters, all ? "dangling=false" : "dangling=true") < 0 ||
        ctl_target_add_filters(&target, filters) < 0)
        return ctl_oom();
    const struct ctl_http_request req = {.method = "POST", .target = target};
    if (ctl_client_call_json(cl, &req, &resp, &err) < 0)
        return ctl_report(&err);

    deleted = json_object_get(resp, "ImagesDeleted");
    if (json_array_size(deleted) > 0) {
        printf("Deleted Images:\n");
        print_deleted(deleted, true);
        printf("\n");
    }
    ctl_format_size(ctl_num(resp, "SpaceReclaimed"), 4, size, sizeof(size));
    printf("Total reclaimed space: %s\n", size);
    return CTL_EXIT_OK;
}
