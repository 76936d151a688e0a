/* Errors that can reach a user: an errno-style code and a message a person can act on. */
#pragma once

#include "common/macro.h"

#define ISO_ERR_MSG_MAX 512

struct iso_err {
    int code;                  /* positive errno value; 0 = no error recorded */
    char msg[ISO_ERR_MSG_MAX]; /* human text, lowercase, user values quoted as '...' */
};

/* Records code (a positive errno; a negative one is accepted and flipped) and the formatted
 * message in err (which may be NULL). Returns -code so callers can `return iso_err_set(...)`. */
int iso_err_set(struct iso_err *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Same, with the text of strerror(code) appended as ": <reason>". */
int iso_err_set_errno(struct iso_err *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prepends "<context>: " to the message already in err. Returns -err->code. */
int iso_err_prefix(struct iso_err *err, const char *fmt, ...) _printf_(2, 3);
