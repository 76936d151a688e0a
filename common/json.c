#include "common/json.h"

#include "common/util.h"

int iso_json_parse(const char *buf, size_t len, json_t **ret, struct iso_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

    if (!j)
        return iso_err_set(err, EINVAL, "invalid JSON: %s (line %d, column %d)", jerr.text,
                           jerr.line, jerr.column);
    *ret = j;
    return 0;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* Looks up key; returns 1 with *ret set when a non-null value is there, 0 when absent or null
 * (and not required), or a negative error. */
static int lookup(json_t *obj, const char *key, bool required, json_type want,
                  const char *want_name, json_t **ret, struct iso_err *err)
{
    json_t *v;

    if (!json_is_object(obj))
        return iso_err_set(err, EINVAL, "expected a JSON object");
    v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return iso_err_set(err, EINVAL, "missing field '%s'", key);
        return 0;
    }
    /* Booleans are two jansson types. */
    if (want == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != want)
        return iso_err_set(err, EINVAL, "field '%s' must be %s, not %s", key, want_name,
                           type_name(v));
    *ret = v;
    return 1;
}

int iso_json_get_string(json_t *obj, const char *key, bool required, const char **ret,
                        struct iso_err *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, required, JSON_STRING, "a string", &v, err);
    if (r > 0)
        *ret = json_string_value(v);
    return r < 0 ? r : 0;
}

int iso_json_get_int(json_t *obj, const char *key, bool required, int64_t *ret, struct iso_err *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, required, JSON_INTEGER, "an integer", &v, err);
    if (r > 0)
        *ret = json_integer_value(v);
    return r < 0 ? r : 0;
}

int iso_json_get_bool(json_t *obj, const char *key, bool required, bool *ret, struct iso_err *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, required, JSON_TRUE, "a boolean", &v, err);
    if (r > 0)
        *ret = json_is_true(v);
    return r < 0 ? r : 0;
}

int iso_json_get_object(json_t *obj, const char *key, bool required, json_t **ret,
                        struct iso_err *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, required, JSON_OBJECT, "an object", &v, err);
    if (r > 0)
        *ret = v;
    return r < 0 ? r : 0;
}

int iso_json_get_array(json_t *obj, const char *key, bool required, json_t **ret,
                       struct iso_err *err)
{
    json_t *v = NULL;
    int r = lookup(obj, key, required, JSON_ARRAY, "an array", &v, err);
    if (r > 0)
        *ret = v;
    return r < 0 ? r : 0;
}

char *iso_json_dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
}

json_t *iso_json_time(uint64_t real_ns)
{
    char buf[64];

    if (!real_ns)
        return json_string("0001-01-01T00:00:00Z");
    iso_format_rfc3339(real_ns, buf, sizeof(buf));
    return json_string(buf);
}
