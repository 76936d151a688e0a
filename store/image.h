/* Images, tags and layers as rows of the database. The files behind them (blobs/, layers/)
 * are store/layers.h's; callers publish files first and commit rows second, so a crash in
 * between leaves only files the startup reconcile removes. */
#pragma once

#include "common/err.h"
#include "store/digest.h"

struct store;

struct store_image_layer {
    char chain_id[STORE_DIGEST_LEN + 1];
    char diff_id[STORE_DIGEST_LEN + 1];
    int64_t size; /* unpacked bytes */
};

/* One image row with its names. Strings are owned; free with store_image_done(). */
struct store_image {
    char id[STORE_DIGEST_LEN + 1]; /* sha256 of the config */
    char *manifest_digest;         /* NULL when it came from an archive without one */
    int64_t created;               /* config's created, unix ns */
    int64_t added;                 /* unix ns */
    int64_t size;                  /* sum of the layers' unpacked bytes */
    char *architecture, *os, *variant;
    char *labels; /* JSON object text or NULL */
    char **tags;  /* full references: "docker.io/library/busybox:latest", "...@sha256:..." */
    size_t n_tags;
};

void store_image_done(struct store_image *img);

/* Records an image whose layer directories are already published: inserts the layers that
 * are new (bottom first, each with its parent), the image and its layer list, and points each
 * of tags at it (moving a tag away from the image that had it). One transaction. An image
 * that exists already only gets the tags. */
int store_image_commit(struct store *s, const struct store_image *img,
                       const struct store_image_layer *layers, size_t n_layers,
                       struct iso_err *err);

/* Finds an image by full reference (as store_ref_string() writes it), by id ("sha256:<hex>"
 * or "<hex>"), or by a unique id prefix of at least 1 hex digit. ENOENT when nothing matches,
 * EINVAL (with Docker's wording) when a prefix is ambiguous. */
int store_image_resolve(struct store *s, const char *reference, const char *id_or_prefix,
                        char ret_id[STORE_DIGEST_LEN + 1], struct iso_err *err);

int store_image_get(struct store *s, const char *id, struct store_image *ret, struct iso_err *err);

/* All images, newest first. *ret is an array of n entries; free each then the array. */
int store_image_list(struct store *s, struct store_image **ret, size_t *ret_n, struct iso_err *err);

/* The image's layers, bottom first. *ret is malloc'd. */
int store_image_layers(struct store *s, const char *id, struct store_image_layer **ret,
                       size_t *ret_n, struct iso_err *err);

/* Bytes of the image's layers that other images use too (ImageSummary.SharedSize). */
int store_image_shared_size(struct store *s, const char *id, int64_t *ret, struct iso_err *err);

/* Containers created from the image. */
int store_image_containers(struct store *s, const char *id, int64_t *ret, struct iso_err *err);

int store_tag_set(struct store *s, const char *reference, const char *id, struct iso_err *err);
/* ENOENT when the reference names nothing. */
int store_tag_remove(struct store *s, const char *reference, struct iso_err *err);

/* Deletes the image row (its tags go with it) and then every layer row no image uses any
 * more, top down. *ret_layers lists the chain ids whose directories the caller must remove
 * (malloc'd array of STORE_DIGEST_LEN + 1 strings). EBUSY when a container uses the image. */
int store_image_delete(struct store *s, const char *id, char (**ret_layers)[STORE_DIGEST_LEN + 1],
                       size_t *ret_n, struct iso_err *err);

/* Whether a layer row exists, and its size. 0 found, -ENOENT not. */
int store_layer_get(struct store *s, const char *chain_id, int64_t *ret_size, struct iso_err *err);

/* Calls cb for every layer row (startup reconcile, system df). */
int store_layer_foreach(struct store *s, void (*cb)(void *ud, const char *chain_id, int64_t size),
                        void *ud, struct iso_err *err);
