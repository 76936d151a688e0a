#include "cli/format.h"

#include <stdio.h>

void ctl_format_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n;
    size_t i = 0;

    while (v >= 1024.0 && i < sizeof(units) / sizeof(units[0]) - 1) {
        v /= 1024.0;
        i++;
    }
    snprintf(buf, size, "%.4g%s", v, units[i]);
}

const char *ctl_go_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    return "unknown";
#endif
}

const char *ctl_go_os(void)
{
    return "linux";
}
