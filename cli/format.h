/* How isoctl shows numbers and platforms, matching the docker CLI's output. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Like go-units BytesSize: 1024-based units, 4 significant digits ("23.47GiB", "512MiB",
 * "100B"). Truncates to size. */
void ctl_format_bytes(uint64_t n, char *buf, size_t size);

/* This binary's GOARCH-style architecture ("amd64", "arm64", ...) and OS ("linux"). */
const char *ctl_go_arch(void);
const char *ctl_go_os(void);
