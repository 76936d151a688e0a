/* `docker load` and `docker save` archives: reading a docker-archive (manifest.json, as
 * `docker save` writes it before and since Docker 25) or an OCI image layout from one tar file
 * into the layer store and blobs/, and writing images back out as a legacy docker-archive.
 * Blocking, and heavy on I/O: isod-fetch runs both, never the daemon itself. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/digest.h"

struct store_archive_layer {
    char chain_id[STORE_DIGEST_SIZE];
    char diff_id[STORE_DIGEST_SIZE];
    uint64_t size; /* unpacked bytes (the unpacker's count, or disk usage of a layer we had) */
};

/* One loaded image. Strings are owned; free the array with store_archive_images_free(). */
struct store_archive_image {
    char id[STORE_DIGEST_SIZE];        /* "sha256:<hex>" of the config, which is now in blobs/ */
    char *architecture, *os, *variant; /* from the config; NULL when absent */
    char *created;                     /* the config's "created" as written, or NULL */
    char *labels;                      /* JSON text of config.Labels (an object), or NULL */
    char **tags;                       /* full references: "docker.io/library/busybox:latest" */
    size_t n_tags;
    struct store_archive_layer *layers; /* bottom first */
    size_t n_layers;
};

/* Progress of a load. Both optional; called on the calling thread. diff_id is borrowed. */
struct store_archive_load_ops {
    /* A layer is about to be unpacked (layers already in the store are not announced). size is
     * the archive member's length in bytes. */
    void (*layer_begin)(void *userdata, const char *diff_id, uint64_t size);
    /* Bytes of that member read so far; called after every read. */
    void (*layer_progress)(void *userdata, const char *diff_id, uint64_t bytes, uint64_t size);
    void *userdata;
};

/* Loads every image of the tar at path (uncompressed, or gzip, bzip2, xz or zstd, as `docker
 * load` takes it) into the store under root_fd, which a running isod has opened: configs go to
 * blobs/ (digest verified), missing layers are unpacked in tmp/, checked against the config's
 * diff ids (and the OCI descriptor's digest and size when there is one), and published into
 * layers/ only once every layer of the archive has unpacked. The caller commits the images to
 * the database next.
 *
 * manifest.json is used when present, else index.json of an OCI layout (nested indexes
 * resolved to the linux manifest of the host's architecture; names from the
 * io.containerd.image.name annotation, or org.opencontainers.image.ref.name when that is a
 * full reference and not a bare tag).
 *
 * Errors are EINVAL with Docker's text where it has one ("invalid archive: does not contain a
 * manifest.json", "invalid reference format", "invalid manifest, layers length mismatch: ..."),
 * EBADMSG for content that does not match its digest, E2BIG past the caps or for images with
 * more layers than one overlay mount takes, ENOENT for a path that is not there. On error
 * nothing of this load is published (a layer a concurrent pull published stays). *ret (n
 * entries, one per distinct config) is written only on success. */
int store_archive_load(int root_fd, const char *path, const struct store_archive_load_ops *ops,
                       struct store_archive_image **ret, size_t *ret_n, struct iso_err *err);

/* Frees n images and the array. Takes NULL. */
void store_archive_images_free(struct store_archive_image *images, size_t n);

/* One image to save. Everything is borrowed. */
struct store_archive_save_image {
    const char *id;          /* config digest, "sha256:<hex>"; the config is read from blobs/ */
    const char *const *tags; /* references ("busybox:latest" or full); written familiar */
    size_t n_tags;
    /* Chain ids, bottom first, which must be those of the config's diff ids; n_layers == 0
     * takes them from the config. */
    const char *const *layers;
    size_t n_layers;
};

/* Writes the images as a legacy docker-archive tar (manifest.json, <config hex>.json,
 * <diff hex>/layer.tar, repositories) to out_fd, which may be a pipe. Each layer.tar is
 * regenerated from layers/<chain>/diff (overlay whiteouts and opaque directories turned back
 * into .wh. files) into an unnamed temp file in tmp/, then copied out.
 *
 * The regenerated tars are not byte for byte the ones the layers came from (isod keeps no
 * tar-split metadata as Docker does), so their digests are new diff ids: each image is written
 * with a new config that differs from the stored one in rootfs.diff_ids only, and it loads
 * back under a new image id. Saving an image that came from such an archive reproduces its
 * tars exactly, so from then on the id stays.
 *
 * Everything is checked (configs, layers, tags) before the first byte is written: an error
 * then leaves out_fd untouched. A later error (a write to a closed pipe is EPIPE) leaves a
 * truncated tar behind. */
int store_archive_save(int root_fd, const struct store_archive_save_image *images, size_t n,
                       int out_fd, struct iso_err *err);
