/* isoctl stats: docker stats' table of CPU, memory, network, block I/O and pids per container.
 * Every running container comes from one GET /isod/stats; named containers from
 * GET /containers/{id}/stats?stream=false each. Live mode asks again every second and, on a
 * terminal, redraws in place (clear screen and home, as the docker CLI). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/format.h"
#include "cli/isoctl-internal.h"
#include "cli/stats.h"
#include "common/json.h"
#include "common/util.h"

struct stats_opts {
    bool all, no_stream, no_trunc, json;
    char **names;
    size_t n_names;
};

struct stats_out {
    struct ctl_stats_row *rows;
    char **labels; /* the "Container" of --format json: the name given, else NULL */
    size_t n, cap;
};

static void out_clear(struct stats_out *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->labels[i]);
    o->n = 0;
}

static void out_free(struct stats_out *o)
{
    out_clear(o);
    free(o->rows);
    free(o->labels);
}

static struct ctl_stats_row *out_add(struct stats_out *o, const char *label)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        struct ctl_stats_row *r = realloc(o->rows, cap * sizeof(*r));
        if (!r)
            return NULL;
        o->rows = r;
        char **l = realloc(o->labels, cap * sizeof(*l));
        if (!l)
            return NULL;
        o->labels = l;
        o->cap = cap;
    }
    o->labels[o->n] = label ? strdup(label) : NULL;
    if (label && !o->labels[o->n])
        return NULL;
    return &o->rows[o->n++];
}

/* The rows of the containers named on the command line. On the first round a failure is the
 * command's; later (a container removed meanwhile) it shows as dashes, as docker does. */
static int collect_named(struct ctl_client *cl, const struct stats_opts *so, bool first,
                         struct stats_out *o, struct iso_err *err)
{
    for (size_t i = 0; i < so->n_names; i++) {
        _cleanup_free_ char *esc = ctl_path_escape(so->names[i]);
        _cleanup_free_ char *target =
            esc ? iso_strprintf("/containers/%s/stats?stream=false", esc) : NULL;
        _cleanup_json_ json_t *s = NULL;
        struct ctl_stats_row *row;
        int r;

        if (!target)
            return iso_err_set(err, ENOMEM, "out of memory");
        r = ctl_client_get_json(cl, target, &s, err);
        if (r < 0 && first)
            return r;
        row = out_add(o, so->names[i]);
        if (!row)
            return iso_err_set(err, ENOMEM, "out of memory");
        if (r < 0 || !json_is_object(s))
            ctl_stats_row_invalid(so->names[i], so->names[i], row);
        else
            ctl_stats_row_from_json(s, row);
    }
    return 0;
}

static json_t *find_by_id(json_t *list, const char *id)
{
    json_t *s;
    size_t i;

    json_array_foreach(list, i, s)
    {
        const char *sid = json_string_value(json_object_get(s, "id"));
        if (sid && streq(sid, id))
            return s;
    }
    return NULL;
}

static int collect_all(struct ctl_client *cl, const struct stats_opts *so, struct stats_out *o,
                       struct iso_err *err)
{
    _cleanup_json_ json_t *list = NULL, *ctrs = NULL;
    json_t *s, *c;
    size_t i;
    int r;

    r = ctl_client_get_json(cl, "/isod/stats", &list, err);
    if (r >= 0 && !json_is_array(list))
        r = iso_err_set(err, EBADMSG, "GET /isod/stats: expected a JSON array");
    if (r < 0)
        return r;
    if (!so->all) {
        json_array_foreach(list, i, s)
        {
            struct ctl_stats_row *row = out_add(o, NULL);
            if (!row)
                return iso_err_set(err, ENOMEM, "out of memory");
            ctl_stats_row_from_json(s, row);
        }
        return 0;
    }
    /* -a: every container, in `ps -a` order; those not running show zeros. */
    r = ctl_client_get_json(cl, "/containers/json?all=1", &ctrs, err);
    if (r >= 0 && !json_is_array(ctrs))
        r = iso_err_set(err, EBADMSG, "GET /containers/json: expected a JSON array");
    if (r < 0)
        return r;
    json_array_foreach(ctrs, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "Id"));
        struct ctl_stats_row *row;
        if (!id)
            continue;
        row = out_add(o, NULL);
        if (!row)
            return iso_err_set(err, ENOMEM, "out of memory");
        s = find_by_id(list, id);
        if (s) {
            ctl_stats_row_from_json(s, row);
        } else {
            _cleanup_json_ json_t *zero = json_pack("{s:s, s:O?}", "id", id, "name",
                                                    json_array_get(json_object_get(c, "Names"), 0));
            if (!zero)
                return iso_err_set(err, ENOMEM, "out of memory");
            ctl_stats_row_from_json(zero, row);
        }
    }
    return 0;
}

static int print_rows(const struct stats_opts *so, const struct stats_out *o)
{
    _cleanup_table_ struct ctl_table *t = ctl_table_new(8);
    int r;

    if (!t)
        return -ENOMEM;
    r = ctl_table_add(t, (const char *[]){"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT",
                                          "MEM %", "NET I/O", "BLOCK I/O", "PIDS"});
    for (size_t i = 0; r >= 0 && i < o->n; i++) {
        const struct ctl_stats_row *row = &o->rows[i];
        char id[65];

        snprintf(id, sizeof(id), so->no_trunc ? "%s" : "%.12s", row->id);
        if (so->json) {
            _cleanup_json_ json_t *j = ctl_stats_row_json(row, o->labels[i], id);
            _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            if (!text)
                return -ENOMEM;
            printf("%s\n", text);
            continue;
        }
        r = ctl_table_add(t, (const char *[]){id, row->name, row->cpu, row->mem, row->mem_perc,
                                              row->net, row->block, row->pids});
    }
    if (r < 0)
        return r;
    if (!so->json)
        ctl_table_print(t, stdout);
    return 0;
}

int ctl_cmd_stats(struct ctl_client *cl, const struct ctl_cmd *cmd, int argc, char **argv)
{
    enum { OPT_NO_STREAM = 256, OPT_NO_TRUNC, OPT_FORMAT };
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"no-stream", no_argument, NULL, OPT_NO_STREAM},
        {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct stats_opts so = {0};
    struct stats_out out = {0};
    struct iso_err err = {0};
    bool tty = ctl_isatty(STDOUT_FILENO);
    int c, r = 0;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:ah", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            so.all = true;
            break;
        case OPT_NO_STREAM:
            so.no_stream = true;
            break;
        case OPT_NO_TRUNC:
            so.no_trunc = true;
            break;
        case OPT_FORMAT:
            if (ctl_parse_format(cmd, optarg, &so.json) < 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h':
            ctl_cmd_help(cmd, stdout);
            return CTL_EXIT_OK;
        default:
            return ctl_bad_option(cmd, argv, c);
        }
    }
    so.names = argv + optind;
    so.n_names = (size_t)(argc - optind);

    for (bool first = true;; first = false) {
        out_clear(&out);
        r = so.n_names ? collect_named(cl, &so, first, &out, &err)
                       : collect_all(cl, &so, &out, &err);
        if (r < 0)
            break;
        /* docker: clear the screen and go home before each table of a live terminal view. */
        if (!so.no_stream && tty)
            fputs("\033[2J\033[H", stdout);
        r = print_rows(&so, &out);
        if (r < 0) {
            iso_err_set(&err, -r, "out of memory");
            break;
        }
        fflush(stdout);
        if (so.no_stream)
            break;
        (void)nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
    out_free(&out);
    return r < 0 ? ctl_report(&err) : CTL_EXIT_OK;
}
