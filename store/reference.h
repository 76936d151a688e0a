/* Image references as Docker parses them (distribution/reference plus Docker's normalisation):
 * "busybox" is docker.io/library/busybox:latest, "user/img:1" is docker.io/user/img:1,
 * "localhost:5000/a/b:t" keeps its registry. The first path component is a registry only when
 * it contains '.' or ':', is "localhost", or has an uppercase letter. Pure string work: no I/O,
 * safe from any thread. */
#pragma once

#include "common/err.h"

/* A full name ("domain/path") is at most 255 characters, as in distribution/reference. */
#define STORE_REF_NAME_MAX   255
#define STORE_REF_TAG_MAX    128
#define STORE_REF_DIGEST_MAX 135 /* "sha512:" + 128 hex */
/* Room for any reference string below, NUL included. */
#define STORE_REF_STR_MAX                                                                          \
    (STORE_REF_NAME_MAX + 1 + STORE_REF_TAG_MAX + 1 + STORE_REF_DIGEST_MAX + 1)

/* A parsed, normalised reference. Plain data: copy it by value into a job. */
struct store_ref {
    char domain[STORE_REF_NAME_MAX + 1];   /* "docker.io", "127.0.0.1:5000", "[::1]:5000" */
    char path[STORE_REF_NAME_MAX + 1];     /* "library/busybox" */
    char tag[STORE_REF_TAG_MAX + 1];       /* "latest"; "" when the reference has only a digest */
    char digest[STORE_REF_DIGEST_MAX + 1]; /* "sha256:<64 hex>" or "" */
};

/* Parses a reference as `docker pull` takes it: [domain/]path[:tag][@digest]. Without a tag
 * or digest the tag is "latest"; with both, both are kept (pull by digest, name by tag).
 * Errors are EINVAL with Docker's text: "invalid reference format", "invalid reference
 * format: repository name (library/Foo) must be lowercase", "invalid repository name (...),
 * cannot specify 64-byte hexadecimal strings", "repository name must not be more than 255
 * characters", "invalid checksum digest length", "unsupported digest algorithm". *ret is
 * written only on success. */
int store_ref_parse(const char *s, struct store_ref *ret, struct iso_err *err);

/* The Docker API's split form, POST /images/create?fromImage=NAME&tag=TAG: tag may be a tag
 * (replacing one in NAME) or a digest "sha256:..." (replacing NAME's tag and digest). An
 * empty or NULL tag keeps NAME's, or defaults to "latest" (pulling all tags is not done). */
int store_ref_parse_api(const char *from_image, const char *tag, struct store_ref *ret,
                        struct iso_err *err);

/* Formatting. Each writes a NUL-terminated string into buf (size STORE_REF_STR_MAX always
 * suffices; a smaller buffer truncates) and returns buf. */

/* "docker.io/library/busybox:latest", "docker.io/library/busybox:1@sha256:...". */
const char *store_ref_string(const struct store_ref *ref, char *buf, size_t size);
/* As docker prints it: "busybox:latest", "user/img:1", "127.0.0.1:5000/x:latest". */
const char *store_ref_familiar(const struct store_ref *ref, char *buf, size_t size);
/* The repository without tag or digest: "docker.io/library/busybox". */
const char *store_ref_name(const struct store_ref *ref, char *buf, size_t size);
/* The familiar repository: "busybox", "127.0.0.1:5000/x". */
const char *store_ref_familiar_name(const struct store_ref *ref, char *buf, size_t size);

/* What to ask the registry for: the digest when there is one, else the tag. Borrowed. */
const char *store_ref_pull_ident(const struct store_ref *ref);

/* `docker images PATTERN` / the reference filter: a shell glob ('*' stops at '/') matched
 * against the familiar string, then against the familiar name, as Docker's FamiliarMatch.
 * "busybox" matches busybox:latest, "busybox:1*" matches busybox:1.36. */
bool store_ref_matches(const struct store_ref *ref, const char *pattern);

/* Checks "algorithm:hex" the way go-digest does (sha256, sha384, sha512; lowercase hex of the
 * right length). Errors are EINVAL. */
int store_ref_digest_validate(const char *digest, struct iso_err *err);
