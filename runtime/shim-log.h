/* The shim's output formats: Docker's json-file log (one JSON object per line, rotated by
 * size) and the attach stream's multiplexed frame header. libc only. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Docker's copier splits output into lines of at most this many bytes, counting the newline;
 * a longer line is logged in pieces of this size without a newline (a "partial" entry). */
#define SHIM_LOG_LINE_MAX ((size_t)16 * 1024)

enum shim_stream {
    SHIM_STREAM_STDOUT = 1,
    SHIM_STREAM_STDERR = 2,
};

struct shim_log {
    int fd;
    char *path;
    uint64_t max_size; /* 0: never rotate */
    unsigned max_files;
    uint64_t size;
    int write_error; /* last write error (negative errno), 0 if none */
    /* the current unfinished line of each stream, SHIM_LOG_LINE_MAX bytes, malloc'd lazily */
    char *pending[2];
    size_t pending_len[2];
    /* entries waiting to be written (one write per read of output), freed while large */
    char *out;
    size_t out_len, out_cap;
};

/* Opens (creates, mode 0640, appending) the log at path. max_files >= 1 counts the live
 * file; max_size 0 never rotates. */
int shim_log_open(struct shim_log *log, const char *path, uint64_t max_size, unsigned max_files,
                  struct iso_err *err);

/* Logs len bytes read from stream at wall time now_ns: every complete line is one entry, the
 * rest waits for its newline (or SHIM_LOG_LINE_MAX bytes, or shim_log_flush()). Write errors
 * (a full disk) never stop the container: they are kept in log->write_error and the entry is
 * lost. */
void shim_log_write(struct shim_log *log, enum shim_stream stream, const void *buf, size_t len,
                    uint64_t now_ns);

/* Logs the unfinished line of stream (all streams with 0) as a partial entry: the stream
 * ended. */
void shim_log_flush(struct shim_log *log, enum shim_stream stream, uint64_t now_ns);

/* Writes the entries already made (not unfinished lines), closes the file and frees the
 * buffers. */
void shim_log_close(struct shim_log *log);

/* Appends the JSON string literal for len bytes of s, as Docker's jsonlog writes it, to out
 * (which has room for at least shim_json_escape_max(len) bytes). Returns the bytes written. */
size_t shim_json_escape(char *out, const void *s, size_t len);
static inline size_t shim_json_escape_max(size_t len)
{
    return 2 + 6 * len;
}

/* Formats one entry (with its trailing newline) into out, sized shim_log_entry_max(len).
 * Returns its length. */
size_t shim_log_entry_format(char *out, enum shim_stream stream, const void *s, size_t len,
                             uint64_t now_ns);
static inline size_t shim_log_entry_max(size_t len)
{
    return shim_json_escape_max(len) + 96;
}

/* Docker's attach stream without a tty: each payload is preceded by [stream, 0, 0, 0,
 * big-endian uint32 length]. */
#define SHIM_FRAME_HEADER_SIZE 8
void shim_frame_header(uint8_t hdr[SHIM_FRAME_HEADER_SIZE], enum shim_stream stream, uint32_t len);
