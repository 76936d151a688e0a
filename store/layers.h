/* The on-disk side of the layer store: unpacked layers under <root>/layers, published
 * atomically from <root>/tmp. The database side (which images use which layer) is in db.c.
 *
 *   layers/<chain-id hex>/diff    one unpacked layer, shared by every image that has it
 *   layers/<chain-id hex>/link    the layer's short id (26 chars of [A-Z0-9], no newline)
 *   layers/l/<short id>           symlink -> ../<chain-id hex>/diff (short overlay lowerdirs)
 *   tmp/                          in-flight unpacks; wiped by store_layers_open()
 *
 * Every function may be called from several threads at once for different layers: the handle
 * holds only directory fds that never change after open. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct store_layers;

#define STORE_LAYER_SHORT_ID_LEN 26

/* An unpack in flight: tmp/<name>/diff. The unpacker writes into diff_fd (and syncfs()es it);
 * then exactly one of store_layers_publish() or store_layers_abort() releases it. */
struct store_layer_tmp {
    char name[40]; /* entry in tmp/ */
    int dir_fd;    /* tmp/<name>, owned */
    int diff_fd;   /* tmp/<name>/diff, owned: unpack here */
};

/* Opens (creating as 0700) layers/, layers/l/ and tmp/ under root_fd. Wipes everything in
 * tmp/, so it must run before anything else uses tmp/ (a crash mid-pull leaves partial unpacks
 * there). Recreates short links lost by a crash inside publish and removes links whose layer is
 * gone. *ret is freed with store_layers_close(). */
int store_layers_open(int root_fd, struct store_layers **ret, struct iso_err *err);
/* Takes NULL; returns NULL. */
struct store_layers *store_layers_close(struct store_layers *ls);

/* Opens the layer store of a root that a running isod already opened: no wiping of tmp/ and
 * no link repair, since other unpacks may be in flight there (isod-fetch). */
int store_layers_attach(int root_fd, struct store_layers **ret, struct iso_err *err);

/* Creates tmp/<random>/diff/ for one unpack. *ret is written only on success. */
int store_layers_begin(struct store_layers *ls, struct store_layer_tmp *ret, struct iso_err *err);

/* Deletes the unpack and closes its fds. Calling it again on a released tmp does nothing. */
void store_layers_abort(struct store_layers *ls, struct store_layer_tmp *tmp);

/* Publishes tmp as layers/<hex of chain_id> ("sha256:<64 hex>"): fsyncs the tmp dir, writes the
 * link file, renames the dir into layers/ and creates the short link, all fsynced. The diff's
 * contents must already be synced by the unpacker (syncfs). After success the layer survives
 * kill -9 and power loss; the caller commits it to the database next. If the layer already
 * exists (a concurrent pull won), ours is discarded and this succeeds. Always releases tmp:
 * on failure, the unpack is deleted. */
int store_layers_publish(struct store_layers *ls, struct store_layer_tmp *tmp, const char *chain_id,
                         struct iso_err *err);

/* Removes the short link, then renames the layer into tmp/ (so it disappears atomically) and
 * deletes it there. -ENOENT if the layer does not exist. Once the rename is done this succeeds:
 * files that cannot be deleted stay in tmp/ until the next store_layers_open(). */
int store_layers_remove(struct store_layers *ls, const char *chain_id, struct iso_err *err);

/* Calls cb once per published layer with its chain id ("sha256:<hex>", borrowed for the call).
 * Used at startup to delete layers the database does not know. */
int store_layers_list(struct store_layers *ls, void (*cb)(void *ud, const char *chain_id), void *ud,
                      struct iso_err *err);

bool store_layers_exists(struct store_layers *ls, const char *chain_id);

/* The layer's 26-char short id, NUL-terminated. -ENOENT if the layer does not exist. */
int store_layers_short_id(struct store_layers *ls, const char *chain_id,
                          char ret[STORE_LAYER_SHORT_ID_LEN + 1], struct iso_err *err);

/* fd of layers/, borrowed: overlay options from store_overlay_options() are relative to it. */
int store_layers_dirfd(struct store_layers *ls);

/* Sum of st_blocks * 512 over the layer's diff tree (hard links counted once), for
 * `docker system df`. Walks by fd and never follows symlinks. */
int store_layers_disk_usage(struct store_layers *ls, const char *chain_id, uint64_t *ret,
                            struct iso_err *err);

/* rm -rf of the single path component name under dirfd, by fd: never follows a symlink, removes
 * whiteouts, devices, read-only dirs and immutable/append-only files, handles any depth, and
 * refuses (-EBUSY, removing nothing below it) to descend into another mount. A missing name is
 * success. Keeps going past errors and returns the first one as a negative errno. */
int store_rm_rf_at(int dirfd, const char *name);
