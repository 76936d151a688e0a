#include "cli/progress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/format.h"
#include "common/json.h"

/* A layer line: where it sits below the first one (terminal) and the status last printed for it
 * (plain). */
struct line_id {
    char *id;
    char *status;
    unsigned line;
};

struct ctl_progress {
    FILE *out;
    enum ctl_progress_mode mode;
    unsigned width;

    char *buf; /* the incomplete line carried over from the previous piece */
    size_t len, cap;

    struct line_id *ids;
    size_t n_ids, cap_ids;

    struct iso_err failure; /* code != 0 once the stream failed: later calls repeat it */
};

/* The fields of one message that the rendering looks at (docker's JSONMessage). */
struct message {
    const char *id, *status, *stream, *from, *progress;
    bool has_detail; /* "progressDetail" is an object, even {} */
    int64_t current, total;
    const char *units;
    bool hide_counts;
};

struct ctl_progress *ctl_progress_new(FILE *out, enum ctl_progress_mode mode, unsigned width)
{
    struct ctl_progress *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->out = out;
    p->mode = mode;
    p->width = width ? width : 200;
    return p;
}

static void ids_clear(struct ctl_progress *p)
{
    for (size_t i = 0; i < p->n_ids; i++) {
        free(p->ids[i].id);
        free(p->ids[i].status);
    }
    p->n_ids = 0;
}

struct ctl_progress *ctl_progress_free(struct ctl_progress *p)
{
    if (p) {
        ids_clear(p);
        free(p->ids);
        free(p->buf);
        free(p);
    }
    return NULL;
}

void ctl_progress_format(int64_t current, int64_t total, const char *units, bool hide_counts,
                         unsigned width, char *buf, size_t size)
{
    char cur[32], tot[32], bar[64] = "", numbers[96] = "";
    int pct;

    buf[0] = '\0';
    if (current <= 0 && total <= 0)
        return;
    ctl_format_size(current, 4, cur, sizeof(cur));
    if (total <= 0) {
        if (!units || !*units)
            snprintf(buf, size, "%8s", cur);
        else
            snprintf(buf, size, "%" PRId64 " %s", current, units);
        return;
    }
    ctl_format_size(total, 4, tot, sizeof(tot));

    pct = (int)((double)current / (double)total * 100) / 2;
    if (pct > 50)
        pct = 50;
    if (pct < 0)
        pct = 0;
    if (width > 110) {
        char *b = bar;
        *b++ = '[';
        for (int i = 0; i < pct; i++)
            *b++ = '=';
        *b++ = '>';
        for (int i = pct; i < 50; i++)
            *b++ = ' ';
        memcpy(b, "] ", 3);
    }

    if (hide_counts)
        ;
    else if (!units || !*units)
        snprintf(numbers, sizeof(numbers), current > total ? "%8s" : "%8s/%s", cur, tot);
    else if (current > total)
        snprintf(numbers, sizeof(numbers), "%" PRId64 " %s", current, units);
    else
        snprintf(numbers, sizeof(numbers), "%" PRId64 "/%" PRId64 " %s", current, total, units);
    snprintf(buf, size, "%s%s", bar, numbers);
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Records the failure that every later call repeats. */
static int fail(struct ctl_progress *p, struct iso_err *err, int code, const char *msg)
{
    iso_err_set(&p->failure, code, "%s", msg);
    *err = p->failure;
    return -code;
}

/* The index of id in the list, adding it at the end when new (*ret_new then true). */
static int ids_find(struct ctl_progress *p, const char *id, size_t *ret, bool *ret_new)
{
    for (size_t i = 0; i < p->n_ids; i++) {
        if (streq(p->ids[i].id, id)) {
            *ret = i;
            *ret_new = false;
            return 0;
        }
    }
    if (p->n_ids == p->cap_ids) {
        size_t cap = p->cap_ids ? p->cap_ids * 2 : 16;
        struct line_id *n = reallocarray(p->ids, cap, sizeof(*n));
        if (!n)
            return -ENOMEM;
        p->ids = n;
        p->cap_ids = cap;
    }
    char *copy = strdup(id);
    if (!copy)
        return -ENOMEM;
    p->ids[p->n_ids] = (struct line_id){.id = copy, .line = (unsigned)p->n_ids};
    *ret = p->n_ids++;
    *ret_new = true;
    return 0;
}

static void display_tty(struct ctl_progress *p, const struct message *m)
{
    const char *endl = "";
    char bar[256];

    if (!*m->stream && m->has_detail) {
        /* Erase the whole line, then write it from its start. */
        fputs("\x1b[2K\r", p->out);
        endl = "\r";
    }
    if (*m->id)
        fprintf(p->out, "%s: ", m->id);
    if (*m->from)
        fprintf(p->out, "(from %s) ", m->from);
    if (m->has_detail) {
        ctl_progress_format(m->current, m->total, m->units, m->hide_counts, p->width, bar,
                            sizeof(bar));
        fprintf(p->out, "%s %s%s", m->status, bar, endl);
    } else if (*m->progress) {
        fprintf(p->out, "%s %s%s", m->status, m->progress, endl);
    } else if (*m->stream) {
        fprintf(p->out, "%s%s", m->stream, endl);
    } else {
        fprintf(p->out, "%s%s\n", m->status, endl);
    }
}

static int render_tty(struct ctl_progress *p, const struct message *m)
{
    unsigned diff = 0;

    /* As docker: a progress message takes the line of its id, counted from the first id after
     * the last message that was not progress; the cursor rests below the last of them. */
    if (*m->id && (m->has_detail || *m->progress)) {
        size_t i;
        bool is_new;
        if (ids_find(p, m->id, &i, &is_new) < 0)
            return -ENOMEM;
        if (is_new)
            fputc('\n', p->out);
        diff = (unsigned)p->n_ids - p->ids[i].line;
        if (diff > 0)
            fprintf(p->out, "\x1b[%uA", diff);
    } else {
        ids_clear(p);
    }
    display_tty(p, m);
    if (*m->id && diff > 0)
        fprintf(p->out, "\x1b[%uB", diff);
    return 0;
}

static int render_plain(struct ctl_progress *p, const struct message *m)
{
    if (*m->id && (m->has_detail || *m->progress)) {
        size_t i;
        bool is_new;
        if (ids_find(p, m->id, &i, &is_new) < 0)
            return -ENOMEM;
        /* Only a change of status makes a line: "Downloading" once, not once per chunk. */
        if (p->ids[i].status && streq(p->ids[i].status, m->status))
            return 0;
        char *s = strdup(m->status);
        if (!s)
            return -ENOMEM;
        free(p->ids[i].status);
        p->ids[i].status = s;
    } else {
        ids_clear(p);
    }

    if (*m->stream) {
        fputs(m->stream, p->out);
        return 0;
    }
    if (!*m->status)
        return 0;
    if (*m->id)
        fprintf(p->out, "%s: ", m->id);
    if (*m->from)
        fprintf(p->out, "(from %s) ", m->from);
    fprintf(p->out, "%s\n", m->status);
    return 0;
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", s[i]))
            return false;
    return true;
}

static int process_line(struct ctl_progress *p, const char *line, size_t len, struct iso_err *err)
{
    _cleanup_json_ json_t *j = NULL;
    json_error_t jerr;
    json_t *detail, *edetail;
    const char *msg;
    struct message m;
    int r;

    if (is_blank(line, len))
        return 0;
    j = json_loadb(line, len, 0, &jerr);
    if (!j || !json_is_object(j)) {
        char text[ISO_ERR_MSG_MAX];
        snprintf(text, sizeof(text), "invalid progress message: %s",
                 j ? "not a JSON object" : jerr.text);
        return fail(p, err, EBADMSG, text);
    }

    edetail = json_object_get(j, "errorDetail");
    msg = json_string_value(json_object_get(j, "error"));
    if (json_is_object(edetail) || (msg && *msg)) {
        const char *dmsg = json_string_value(json_object_get(edetail, "message"));
        if (json_integer_value(json_object_get(edetail, "code")) == 401)
            return fail(p, err, EACCES, "authentication is required");
        if (dmsg && *dmsg)
            msg = dmsg;
        return fail(p, err, EIO, msg && *msg ? msg : "unknown error");
    }
    /* Out-of-band data (a pushed digest, a built image's id) is not shown. */
    if (json_object_get(j, "aux") && !json_is_null(json_object_get(j, "aux")))
        return 0;

    detail = json_object_get(j, "progressDetail");
    m = (struct message){
        .id = jstr(j, "id"),
        .status = jstr(j, "status"),
        .stream = jstr(j, "stream"),
        .from = jstr(j, "from"),
        .progress = jstr(j, "progress"),
        .has_detail = json_is_object(detail),
        .current = json_integer_value(json_object_get(detail, "current")),
        .total = json_integer_value(json_object_get(detail, "total")),
        .units = jstr(detail, "units"),
        .hide_counts = json_is_true(json_object_get(detail, "hidecounts")),
    };

    switch (p->mode) {
    case CTL_PROGRESS_TTY:
        r = render_tty(p, &m);
        break;
    case CTL_PROGRESS_PLAIN:
        r = render_plain(p, &m);
        break;
    default:
        r = 0;
        break;
    }
    if (r < 0)
        return fail(p, err, -r, "out of memory");
    return 0;
}

int ctl_progress_feed(void *userdata, const char *data, size_t len, struct iso_err *err)
{
    struct ctl_progress *p = userdata;
    size_t start = 0;
    int r = 0;

    if (p->failure.code) {
        *err = p->failure;
        return -p->failure.code;
    }

    while (start < len) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t n = nl ? (size_t)(nl - (data + start)) : len - start;

        if (p->len + n > CTL_PROGRESS_LINE_MAX)
            return fail(p, err, EBADMSG, "progress message longer than 1 MiB");
        if (!nl || p->len > 0) {
            /* Carry the piece over (or complete the carried line) in the buffer. */
            if (p->len + n + 1 > p->cap) {
                size_t cap = p->cap ? p->cap : 4096;
                while (cap < p->len + n + 1)
                    cap *= 2;
                char *b = realloc(p->buf, cap);
                if (!b)
                    return fail(p, err, ENOMEM, "out of memory");
                p->buf = b;
                p->cap = cap;
            }
            memcpy(p->buf + p->len, data + start, n);
            p->len += n;
            if (!nl)
                break;
            r = process_line(p, p->buf, p->len, err);
            p->len = 0;
        } else {
            r = process_line(p, data + start, n, err);
        }
        if (r < 0)
            break;
        start += n + 1;
    }
    if (p->out && p->mode != CTL_PROGRESS_QUIET)
        fflush(p->out);
    return r;
}

int ctl_progress_finish(struct ctl_progress *p, struct iso_err *err)
{
    int r;

    if (p->failure.code) {
        *err = p->failure;
        return -p->failure.code;
    }
    r = process_line(p, p->buf ? p->buf : "", p->len, err);
    p->len = 0;
    if (p->out && p->mode != CTL_PROGRESS_QUIET)
        fflush(p->out);
    return r;
}
