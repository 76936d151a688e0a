/* The registry side of `docker pull`: the distribution (v2) HTTP API over libcurl. Every call
 * blocks, so the daemon runs them on worker threads.
 *
 * A client may be used from several threads at once (parallel layer downloads): it keeps its
 * auth state (ping result, Bearer tokens per scope) behind a lock. get_manifest and get_blob
 * run one at a time per client; each blob stream has its own connection and needs no lock
 * while reading. Credentials are never logged nor put in an error message. */
#pragma once

#include <sys/types.h>

#include "common/err.h"
#include "store/reference.h"
#include "store/unpack.h"

/* Caps that protect the daemon from a hostile or broken registry. */
#define STORE_REGISTRY_MANIFEST_MAX (4u << 20)  /* bytes of one manifest or index */
#define STORE_REGISTRY_CONFIG_MAX   (32u << 20) /* bytes of an image config */
#define STORE_REGISTRY_LAYERS_MAX   500
#define STORE_REGISTRY_LAYER_MAX    (INT64_C(1) << 40) /* bytes of one compressed layer */

struct store_registry_opts {
    /* host[:port] entries (or CIDRs such as "10.0.0.0/8") reached over plain HTTP. Loopback
     * (127.0.0.0/8, localhost, ::1) always is. */
    const char *const *insecure_registries;
    size_t n_insecure;
    /* From X-Registry-Auth; NULL or "" when absent. identitytoken is an OAuth refresh
     * token, registrytoken a bearer token sent as is. */
    const char *username, *password, *identitytoken, *registrytoken;
    /* The platform to pick from an index; NULL for the host's (linux, amd64 on x86_64,
     * arm64 on aarch64). */
    const char *os, *arch, *variant;
    /* Tries for connection errors, 429 and 5xx on each request (not mid-stream); 0 means
     * 3, with 200 ms and 800 ms pauses. A refused connection is not retried. */
    unsigned max_attempts;
};

#define STORE_MEDIA_TYPE_MAX 255

struct store_registry_descriptor {
    char media_type[STORE_MEDIA_TYPE_MAX + 1];
    char digest[STORE_REF_DIGEST_MAX + 1]; /* validated "sha256:<64 hex>" (or sha384/512) */
    int64_t size;                          /* bytes, validated against the caps above */
    /* From media_type (NONE, GZIP or ZSTD, never DETECT); layers only. */
    enum store_compression compression;
};

/* One image manifest as pulled, in a struct the caller owns: release what it points to with
 * store_registry_manifest_done() (which takes a zeroed struct too). */
struct store_registry_manifest {
    /* sha256 of raw, computed here (the Docker-Content-Digest header is only advisory). */
    char digest[STORE_REF_DIGEST_MAX + 1];
    /* Digest of the index or manifest list the reference named, "" when it named a manifest
     * directly. Docker reports this one as the RepoDigest. */
    char index_digest[STORE_REF_DIGEST_MAX + 1];
    char media_type[STORE_MEDIA_TYPE_MAX + 1];
    char *raw; /* the manifest's bytes exactly as served, NUL-terminated */
    size_t raw_len;
    char *index_raw; /* the index's bytes, NULL when there was none */
    size_t index_raw_len;
    struct store_registry_descriptor config;
    struct store_registry_descriptor *layers; /* bottom first */
    size_t n_layers;
};

void store_registry_manifest_done(struct store_registry_manifest *m);

struct store_registry;

/* A client for pulling ref (NULL is fine: every call names its reference, and one client
 * serves several registries). Copies opts; does no I/O. Only fails on OOM or a bad option
 * (EINVAL). Initialises libcurl once per process. */
int store_registry_new(const struct store_ref *ref, const struct store_registry_opts *opts,
                       struct store_registry **ret, struct iso_err *err);
/* Takes NULL; returns NULL. Every stream opened from the client must be freed first. */
struct store_registry *store_registry_free(struct store_registry *c);

/* docker login: checks the client's credentials against the registry at domain (GET /v2/,
 * then basic auth or a token without scope). EACCES "unauthorized: ..." when refused. */
int store_registry_login(struct store_registry *c, const char *domain, struct iso_err *err);

/* Fetches the manifest ref names (by digest when it has one, else by tag), verifying the
 * digest when pulling by digest. An index or manifest list is resolved to the entry for the
 * client's platform. Errors, with Docker's wording where it has one:
 *   ENOENT  "manifest for busybox:nosuch not found: manifest unknown: ...",
 *           "pull access denied for NAME, repository does not exist or may require 'docker
 *           login': ..." (also for a repository that needs credentials we do not have),
 *           "no matching manifest for linux/arm64 in the manifest list entries"
 *   EACCES  credentials rejected ("unauthorized: ...")
 *   EINVAL  "manifest digest mismatch: ...", malformed manifests
 *   ENOTSUP "unsupported manifest media type X", foreign layers, non-image artifacts
 *   EFBIG   manifest over STORE_REGISTRY_MANIFEST_MAX
 *   ECONNREFUSED, ETIMEDOUT, ECONNRESET, EHOSTUNREACH, EPROTO (TLS) with
 *           "Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection
 *           refused"-style text naming the URL. */
int store_registry_get_manifest(struct store_registry *c, const struct store_ref *ref,
                                struct store_registry_manifest *ret, struct iso_err *err);

/* Downloads a small blob (an image config) whole into *ret (malloc'd, NUL-terminated; *ret_len
 * excludes the NUL). size is the descriptor's (-1 if unknown); a blob larger than max is
 * EFBIG without downloading it. The length and the digest are checked (EINVAL on mismatch). */
int store_registry_get_blob(struct store_registry *c, const struct store_ref *ref,
                            const char *digest, int64_t size, size_t max, char **ret,
                            size_t *ret_len, struct iso_err *err);

/* A blob download read by pulling, for an unpacker's read callback:
 *
 *   store_registry_open_blob(c, &ref, &m->layers[i], &s, &err);
 *   while ((n = store_blob_stream_read(s, buf, sizeof(buf))) > 0)
 *       feed the unpacker, which hashes the bytes;
 *   n == 0: the whole blob arrived (exactly desc->size bytes); n < 0: -errno and
 *   store_blob_stream_error(s) says what happened.
 *
 * Open follows redirects (dropping Authorization on a redirect to another host), retries and
 * refreshes a token, and fails on an HTTP error before returning. A read fails on a transfer
 * error, a body longer or shorter than desc->size, or less than 1 KiB/s for 60 s. The stream
 * does not verify the digest: its reader does. Use one stream from one thread at a time. */
struct store_blob_stream;

int store_registry_open_blob(struct store_registry *c, const struct store_ref *ref,
                             const struct store_registry_descriptor *desc,
                             struct store_blob_stream **ret, struct iso_err *err);
/* Returns bytes read (> 0), 0 at the end of the blob, or -errno. After an error every call
 * returns the same error. */
ssize_t store_blob_stream_read(struct store_blob_stream *s, void *buf, size_t len);
/* The error of the last failed read; code 0 when none. Borrowed. */
const struct iso_err *store_blob_stream_error(const struct store_blob_stream *s);
/* Bytes handed out by store_blob_stream_read so far, for progress. */
int64_t store_blob_stream_bytes(const struct store_blob_stream *s);
/* Aborts the download if it is still running. Takes NULL; returns NULL. */
struct store_blob_stream *store_blob_stream_free(struct store_blob_stream *s);
