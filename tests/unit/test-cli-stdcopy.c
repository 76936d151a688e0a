/* cli/stdcopy.c: Docker's multiplexed stdout/stderr frames, cut at every possible point. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/stdcopy.h"
#include "tests/unit/tap.h"

struct capture {
    char out[256], err[256];
    size_t out_len, err_len;
};

static int capture_write(void *userdata, int stream, const char *data, size_t len)
{
    struct capture *c = userdata;
    char *dst = stream == CTL_STREAM_STDERR ? c->err : c->out;
    size_t *n = stream == CTL_STREAM_STDERR ? &c->err_len : &c->out_len;

    memcpy(dst + *n, data, len);
    *n += len;
    dst[*n] = '\0';
    return 0;
}

static void test_stdcopy_split_anywhere(void)
{
    static const char in[] = "\1\0\0\0\0\0\0\3hi\n"
                             "\2\0\0\0\0\0\0\4err\n"
                             "\0\0\0\0\0\0\0\2in"
                             "\1\0\0\0\0\0\0\0";
    size_t len = sizeof(in) - 1;

    /* Every split point gives the same result. */
    for (size_t cut = 0; cut <= len; cut++) {
        struct capture cap = {0};
        struct ctl_stdcopy s;
        struct iso_err err = {0};

        ctl_stdcopy_init(&s, capture_write, &cap);
        ASSERT_EQ(ctl_stdcopy_feed(&s, in, cut, &err), 0);
        ASSERT_EQ(ctl_stdcopy_feed(&s, in + cut, len - cut, &err), 0);
        ASSERT_EQ(ctl_stdcopy_finish(&s, &err), 0);
        ASSERT_STREQ(cap.out, "hi\nin");
        ASSERT_STREQ(cap.err, "err\n");
    }
}

static void test_stdcopy_errors(void)
{
    struct capture cap = {0};
    struct ctl_stdcopy s;
    struct iso_err err = {0};

    ctl_stdcopy_init(&s, capture_write, &cap);
    ASSERT_EQ(ctl_stdcopy_feed(&s, "\3\0\0\0\0\0\0\4oops", 12, &err), -EIO);
    ASSERT_STREQ(err.msg, "oops");

    ctl_stdcopy_init(&s, capture_write, &cap);
    ASSERT_EQ(ctl_stdcopy_feed(&s, "\7\0\0\0\0\0\0\1x", 9, &err), -EBADMSG);

    ctl_stdcopy_init(&s, capture_write, &cap);
    ASSERT_EQ(ctl_stdcopy_feed(&s, "\1\0\0", 3, &err), 0);
    ASSERT_EQ(ctl_stdcopy_finish(&s, &err), -EBADMSG);
}

int main(void)
{
    TEST(test_stdcopy_split_anywhere);
    TEST(test_stdcopy_errors);
    return tap_done();
}
