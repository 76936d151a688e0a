/* Engine-internal: the image side of the engine, shared by images.c and pull.c. */
#pragma once

#include "daemon/engine.h"

struct store;
struct store_blobs;
struct store_layers;

struct store *eng_store(struct engine *e);
struct store_blobs *eng_blobs(struct engine *e);
struct store_layers *eng_layers(struct engine *e);
/* --max-concurrent-downloads */
unsigned eng_max_downloads(struct engine *e);
/* --insecure-registry values, as a new JSON array for isod-fetch requests. */
struct json_t;
struct json_t *eng_insecure_registries(struct engine *e);

/* Startup: remove layer directories the database does not know (a crash between publish and
 * commit leaves them). */
int eng_images_reconcile(struct engine *e, struct iso_err *err);

/* Emits an image event as moby's LogImageEvent does: Actor.ID id, Attributes the image's
 * labels (labels: JSON object text or NULL) plus "name". */
void eng_image_event(struct engine *e, const char *action, const char *id, const char *name,
                     const char *labels);
