/* jansson helpers with type checks whose errors name the offending field. For daemon/, api/
 * and cli/ (a separate library from common/, which stays libc only). */
#pragma once

#include <jansson.h>

#include "common/err.h"

/* json_decrefp() comes with jansson >= 2.9. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Parses exactly one JSON value from buf. Errors are EINVAL with jansson's text and position. */
int iso_json_parse(const char *buf, size_t len, json_t **ret, struct iso_err *err);

/* Typed lookups in an object. A missing key or JSON null leaves *ret untouched and returns 0
 * (or -EINVAL "missing field 'X'" when required); a value of the wrong type is -EINVAL naming
 * the field and the expected type. Strings are borrowed from obj. */
int iso_json_get_string(json_t *obj, const char *key, bool required, const char **ret,
                        struct iso_err *err);
int iso_json_get_int(json_t *obj, const char *key, bool required, int64_t *ret,
                     struct iso_err *err);
int iso_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct iso_err *err);
/* Objects and arrays are borrowed. */
int iso_json_get_object(json_t *obj, const char *key, bool required, json_t **ret,
                        struct iso_err *err);
int iso_json_get_array(json_t *obj, const char *key, bool required, json_t **ret,
                       struct iso_err *err);

/* Serialises compactly. Returns a malloc'd string, NULL on OOM. */
char *iso_json_dump(const json_t *j);

/* A time as Docker's JSON writes one: RFC 3339 with nanoseconds, and Go's zero time
 * ("0001-01-01T00:00:00Z") for 0. NULL out of memory. */
json_t *iso_json_time(uint64_t real_ns);
