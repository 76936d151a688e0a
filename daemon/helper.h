/* Running isod-fetch: a request as JSON on its stdin, answers as JSON lines on its stdout. */
#pragma once

#include <jansson.h>

#include "daemon/engine.h"

/* A progress line ({"bytes": N} or {"loading": ID, ...}). Borrowed. */
typedef void (*eng_helper_line_fn)(void *ud, json_t *line);
/* The process is gone and its output read: answer is its last line on success (borrowed), err
 * says what failed otherwise. */
typedef void (*eng_helper_done_fn)(void *ud, json_t *answer, const struct iso_err *err);

/* Raw mode: stdout bytes as they come (borrowed until the call returns). */
typedef void (*eng_helper_data_fn)(void *ud, const char *buf, size_t len);

struct helper;

/* Starts `isod-fetch OP ROOT` with request (stolen) on stdin. */
int eng_helper_run(struct engine *e, const char *op, json_t *request, eng_helper_line_fn line,
                   eng_helper_done_fn done, void *ud, struct iso_err *err);

/* Same, for an operation whose stdout is data (an archive): data gets it in order; pause and
 * resume apply backpressure. The handle is valid until done has run. */
int eng_helper_run_raw(struct engine *e, const char *op, json_t *request, eng_helper_data_fn data,
                       eng_helper_done_fn done, void *ud, struct helper **ret, struct iso_err *err);
void eng_helper_pause(struct helper *hp);
void eng_helper_resume(struct helper *hp);

/* Shutdown: kills every running helper (their callbacks still run, with an error). */
void eng_helpers_kill(void);

/* Path of isod-fetch: beside the running isod, else the install location. */
const char *eng_helper_path(struct engine *e);
