/* Renders the JSON-lines progress stream of POST /images/create, /images/load and /images/push
 * the way the docker CLI's jsonmessage does: on a terminal one line per layer id, redrawn in
 * place with ANSI cursor movement ("abc123: Downloading [===>   ]  1.2MB/3.4MB"); elsewhere a
 * plain line per status change and no progress bars.
 *
 *   ctl_progress_new() -> ctl_progress_feed()... (a ctl_http_sink_fn) -> ctl_progress_finish()
 *
 * Input may arrive cut anywhere: an incomplete line waits for the next piece. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

/* Longest JSON line accepted: -EBADMSG past it. */
#define CTL_PROGRESS_LINE_MAX ((size_t)1024 * 1024)

enum ctl_progress_mode {
    CTL_PROGRESS_TTY,   /* docker's terminal rendering */
    CTL_PROGRESS_PLAIN, /* "id: status" once per change of status, id-less lines as they come */
    CTL_PROGRESS_QUIET, /* nothing is written; errors are still detected */
};

struct ctl_progress;

/* out is borrowed and must outlive the renderer. width is the terminal's column count (0 when
 * unknown: 200, as docker assumes); the bar is drawn only when it is above 110. NULL on OOM. */
struct ctl_progress *ctl_progress_new(FILE *out, enum ctl_progress_mode mode, unsigned width);

/* Takes NULL; returns NULL. */
struct ctl_progress *ctl_progress_free(struct ctl_progress *p);
static inline void ctl_progress_freep(struct ctl_progress **p)
{
    ctl_progress_free(*p);
}
#define _cleanup_progress_ __attribute__((cleanup(ctl_progress_freep)))

/* Consumes the next piece of the stream (userdata is the struct ctl_progress). An in-band error
 * ({"errorDetail":{"message":...}} or {"error":...}) stops the rendering: -EIO with the
 * daemon's message in err (EACCES "authentication is required" for code 401). A line that is
 * not a JSON object, or one longer than CTL_PROGRESS_LINE_MAX, is -EBADMSG. Unknown fields are
 * ignored. Once an error was returned, every later call returns it again. */
int ctl_progress_feed(void *userdata, const char *data, size_t len, struct iso_err *err);

/* At the end of the stream: renders a last line that had no newline. Same errors. */
int ctl_progress_finish(struct ctl_progress *p, struct iso_err *err);

/* docker's JSONProgress.String(): "[=====>     ]  1.2MB/3.4MB" (the bar only when width > 110),
 * "" when there is nothing to show. units "" means bytes; hide_counts drops the numbers. */
void ctl_progress_format(int64_t current, int64_t total, const char *units, bool hide_counts,
                         unsigned width, char *buf, size_t size);
