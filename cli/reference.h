/* Image references on the client side, normalised as the docker CLI does before it asks the
 * daemon: "busybox" is docker.io/library/busybox, "user/img:1" is docker.io/user/img:1, and
 * "localhost:5000/a" keeps its registry (the first component is one when it contains '.' or
 * ':', or is "localhost"). The daemon validates again; this is for building requests and
 * printing what docker prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define CTL_REF_NAME_MAX 255
#define CTL_REF_TAG_MAX  128

struct ctl_ref {
    char domain[CTL_REF_NAME_MAX + 1]; /* "docker.io", "localhost:5000" */
    char path[CTL_REF_NAME_MAX + 1];   /* "library/busybox" */
    char tag[CTL_REF_TAG_MAX + 1];     /* "" when none was given */
    char digest[CTL_REF_TAG_MAX + 8];  /* "sha256:<hex>" or "" */
};

/* Room for any string below, NUL included. */
#define CTL_REF_STR_MAX (sizeof(struct ctl_ref))

/* Parses [domain/]path[:tag][@digest]. No default tag is filled in. Errors are EINVAL with
 * docker's texts: "invalid reference format", "invalid reference format: repository name
 * (library/Foo) must be lowercase". *ret is written only on success. */
int ctl_ref_parse(const char *s, struct ctl_ref *ret, struct iso_err *err);

/* "docker.io/library/busybox" */
const char *ctl_ref_name(const struct ctl_ref *ref, char *buf, size_t size);
/* "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:..." (both when set). */
const char *ctl_ref_string(const struct ctl_ref *ref, char *buf, size_t size);
/* As docker shows a repository: "busybox", "user/img", "localhost:5000/a". */
const char *ctl_ref_familiar_name(const struct ctl_ref *ref, char *buf, size_t size);
