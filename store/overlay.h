/* Overlay mounts of an image's layers, from the layer store (store/layers.h).
 *
 * Two ways to mount, same result:
 *  - the new mount API (Linux >= 6.13): fsopen("overlay") and one fsconfig(FSCONFIG_SET_FD,
 *    "lowerdir+") per layer. No path strings at all, so neither the cwd nor the one-page limit
 *    of mount(2) data matters. (FSCONFIG_SET_STRING values are capped at 256 bytes, so a whole
 *    "lowerdir=" list cannot go that way; "lowerdir+" by path exists from 6.7, by fd from 6.13.)
 *  - mount(2) with an options string relative to layers/ ("lowerdir=l/<short>:..."), done in a
 *    forked child that fchdir()s there, because the cwd is process-wide. The kernel copies the
 *    data into one 4096-byte page: that bounds how many layers an image may have.
 * store_overlay_mount() uses the first and falls back to the second. Images are held to the
 * page limit either way (store_overlay_check() at pull time), so that any image can be mounted
 * by either way, e.g. by a runtime that only has the options string.
 *
 * chain_ids are "sha256:<hex>", lowest layer first, as in the image config; overlay wants the
 * top one first and these functions turn the order around. upperdir and workdir are both set
 * (a writable mount) or both NULL (read-only); relative ones are relative to layers/. Overlay
 * needs at least 2 lower layers without an upper: a read-only mount of a one-layer image is a
 * read-only bind mount of the layer's diff/, which store_overlay_mount() does by itself. */
#pragma once

#include <stddef.h>

#include "common/err.h"

struct store_layers;

/* Size of the mount(2) data page. Pages are larger on some architectures; 4096 is the floor. */
#define STORE_OVERLAY_PAGE 4096
/* Bytes kept free for ",upperdir=...,workdir=..." by store_overlay_max_layers(): two paths of
 * up to ~118 bytes each, e.g. "../containers/<64 hex>/upper" relative to layers/. */
#define STORE_OVERLAY_UPPER_RESERVE 256

/* How many layers an image may have so that its overlay options, plus upper and work dirs
 * within STORE_OVERLAY_UPPER_RESERVE, fit in one page with 26-char short ids (132). */
int store_overlay_max_layers(void);

/* For pull and load: -E2BIG, with "image has N layers; at most M fit in one overlay mount",
 * when an image of n_layers layers could not be mounted; -EINVAL for no layers. */
int store_overlay_check(size_t n_layers, struct iso_err *err);

/* Builds "lowerdir=l/<top>:...:l/<bottom>[,upperdir=<upper>,workdir=<work>]" for a mount(2)
 * done with the cwd at layers/ (store_layers_dirfd()). *ret is malloc'd, the caller frees it.
 * -E2BIG if it does not fit in one page (message as store_overlay_check(), with the limit for
 * these upper and work dirs); -EINVAL for a read-only single layer (bind-mount it instead), no
 * layers, half of upper/work, or a ',', ':' or '\' in them; -ENOENT for a missing layer. */
int store_overlay_options(struct store_layers *ls, const char *const *chain_ids, size_t n,
                          const char *upperdir, const char *workdir, char **ret,
                          struct iso_err *err);

/* Creates the mount (overlay, or read-only bind for a single read-only layer) with the new
 * mount API, detached: returns the mount fd (owned by the caller; attach it with move_mount(),
 * also in another mount namespace, or close it to drop the mount). -EOPNOTSUPP when the kernel
 * lacks the API or "lowerdir+" by fd: use the options string then. */
int store_overlay_fsmount(struct store_layers *ls, const char *const *chain_ids, size_t n,
                          const char *upperdir, const char *workdir, struct iso_err *err);

/* Mounts the image's layers on target (an absolute path), with store_overlay_fsmount() or, if
 * the kernel lacks it, store_overlay_mount_legacy(). Safe in a multi-threaded process. */
int store_overlay_mount(struct store_layers *ls, const char *const *chain_ids, size_t n,
                        const char *upperdir, const char *workdir, const char *target,
                        struct iso_err *err);

/* The same with mount(2) and store_overlay_options(), in a forked child that fchdir()s to
 * layers/ (the child shares our mount namespace, so we see the mount). For old kernels; exported
 * so that both ways stay tested. */
int store_overlay_mount_legacy(struct store_layers *ls, const char *const *chain_ids, size_t n,
                               const char *upperdir, const char *workdir, const char *target,
                               struct iso_err *err);

/* Lazily unmounts target (MNT_DETACH), never following a symlink there. */
int store_overlay_unmount(const char *target, struct iso_err *err);
