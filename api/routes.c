/* The route table: every endpoint isod answers. Order matters only between patterns that
 * could match the same path; the first match wins. */
#include "api/api-internal.h"

const struct api_route api_routes[] = {
    API_ROUTE(API_GET | API_HEAD, "/_ping", api_ping),
    API_ROUTE(API_GET, "/version", api_version),
    API_ROUTE(API_GET, "/info", api_info),
    API_ROUTE(API_GET, "/system/df", api_system_df),
    API_ROUTE(API_GET, "/isod/stats", api_isod_stats),
    API_ROUTE(API_POST, "/auth", api_auth),
    API_ROUTE(API_POST, "/images/create", api_images_create),
    API_ROUTE(API_GET, "/images/json", api_images_list),
    API_ROUTE(API_POST, "/images/prune", api_images_prune),
    {.methods = API_POST,
     .pattern = "/images/load",
     .handler = api_images_load,
     .flags = API_BODY_FILE},
    API_ROUTE(API_GET, "/images/get", api_images_save),
    API_ROUTE(API_GET, "/images/{name*}/get", api_images_save),
    API_ROUTE(API_GET, "/images/{name*}/json", api_images_inspect),
    API_ROUTE(API_GET, "/images/{name*}/history", api_images_history),
    API_ROUTE(API_POST, "/images/{name*}/tag", api_images_tag),
    API_ROUTE(API_DELETE, "/images/{name*}", api_images_delete),
    API_ROUTE(API_POST, "/containers/create", api_containers_create),
    API_ROUTE(API_GET, "/containers/json", api_containers_list),
    API_ROUTE(API_POST, "/containers/prune", api_containers_prune),
    API_ROUTE(API_GET, "/containers/{id}/json", api_containers_inspect),
    API_ROUTE(API_POST, "/containers/{id}/start", api_containers_start),
    API_ROUTE(API_POST, "/containers/{id}/stop", api_containers_stop),
    API_ROUTE(API_POST, "/containers/{id}/restart", api_containers_restart),
    API_ROUTE(API_POST, "/containers/{id}/kill", api_containers_kill),
    API_ROUTE(API_POST, "/containers/{id}/pause", api_containers_pause),
    API_ROUTE(API_POST, "/containers/{id}/unpause", api_containers_unpause),
    API_ROUTE(API_POST, "/containers/{id}/rename", api_containers_rename),
    API_ROUTE(API_POST, "/containers/{id}/resize", api_containers_resize),
    API_ROUTE(API_POST, "/containers/{id}/wait", api_containers_wait),
    API_ROUTE(API_GET, "/containers/{id}/top", api_containers_top),
    API_ROUTE(API_GET, "/containers/{id}/stats", api_containers_stats),
    API_ROUTE(API_GET, "/containers/{id}/logs", api_containers_logs),
    API_ROUTE(API_POST, "/containers/{id}/attach", api_containers_attach),
    API_ROUTE(API_POST, "/containers/{id}/exec", api_containers_exec),
    API_ROUTE(API_POST, "/exec/{id}/start", api_exec_start),
    API_ROUTE(API_POST, "/exec/{id}/resize", api_exec_resize),
    API_ROUTE(API_GET, "/exec/{id}/json", api_exec_inspect),
    API_ROUTE(API_DELETE, "/containers/{id}", api_containers_delete),
    /* isod has no networks, volumes or plugins to show: `docker inspect NAME` asks for each
     * kind in turn and needs a 404 JSON to move on. */
    API_ROUTE(API_GET, "/networks/{id}", api_not_found_object),
    API_ROUTE(API_GET, "/volumes/{name}", api_not_found_object),
    API_ROUTE(API_GET, "/plugins/{name*}/json", api_not_found_object),
};

const size_t api_n_routes = ARRAY_SIZE(api_routes);
