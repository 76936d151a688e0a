/* How isoctl shows numbers, times, platforms and tables, matching the docker CLI's output. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Like go-units BytesSize: 1024-based units, 4 significant digits ("23.47GiB", "512MiB",
 * "100B"). Truncates to size. */
void ctl_format_bytes(uint64_t n, char *buf, size_t size);

/* Like go-units HumanSizeWithPrecision: 1000-based units with precision significant digits
 * ("4.26MB", "187MB", "0B"). docker prints image sizes with 3 digits and progress counts and
 * reclaimed space with 4 (HumanSize). Truncates to size. */
void ctl_format_size(int64_t n, int precision, char *buf, size_t size);

/* Like go-units HumanDuration: "Less than a second", "About a minute", "3 days", "2 years". */
void ctl_format_duration(int64_t seconds, char *buf, size_t size);

/* "3 days ago" for a unix time, seen at now (docker's CreatedSince); "N/A" for 0. */
void ctl_format_since(int64_t unix_time, int64_t now, char *buf, size_t size);

/* Go's time.Time.String() of a unix time in the local zone: "2023-07-18 16:27:49 +0000 UTC". */
void ctl_format_time(int64_t unix_time, char *buf, size_t size);

/* Go's time.RFC3339 of a unix time in the local zone: "2023-07-18T18:27:49+02:00", with "Z"
 * for UTC. */
void ctl_format_rfc3339(int64_t unix_time, char *buf, size_t size);

/* docker's Ellipsis(): s cut to at most max characters (UTF-8 code points), the last one "…"
 * when it was cut. Returns a malloc'd string, NULL on OOM. */
char *ctl_ellipsis(const char *s, size_t max);

/* "sha256:0123456789abcdef..." -> "0123456789ab" (docker's TruncateID), into buf. */
const char *ctl_short_id(const char *id, char *buf, size_t size);

/* A table printed like the docker CLI's tabwriter (minimum width 10, padding 3): every cell
 * but the last of a row is padded to its column's width. Widths count code points. */
struct ctl_table;

/* NULL on OOM. */
struct ctl_table *ctl_table_new(size_t n_cols);
struct ctl_table *ctl_table_free(struct ctl_table *t);
static inline void ctl_table_freep(struct ctl_table **t)
{
    ctl_table_free(*t);
}
#define _cleanup_table_ __attribute__((cleanup(ctl_table_freep)))

/* Appends a row of n_cols cells (copied; NULL is ""). -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);

/* Writes all rows. */
void ctl_table_print(const struct ctl_table *t, FILE *f);

/* This binary's GOARCH-style architecture ("amd64", "arm64", ...) and OS ("linux"). */
const char *ctl_go_arch(void);
const char *ctl_go_os(void);
