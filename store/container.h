/* Container rows in the database. The engine keeps every container in memory and writes
 * each change through here; the rows are what survives a restart. Blocking, short queries. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "store/digest.h"

struct store;

struct store_ctr {
    char id[65];
    char *name; /* without '/' */
    char image_id[STORE_DIGEST_LEN + 1];
    char *state;  /* created, running, paused, restarting, exited, dead, removing */
    char *config; /* JSON */
    int64_t created, started_at, finished_at; /* unix ns; 0: never */
    int64_t exit_code, pid, restart_count;
    bool oom_killed, manual_stop;
    char *error; /* NULL: none */
};

/* EEXIST when the id or the name is taken. */
int store_ctr_insert(struct store *s, const struct store_ctr *c, struct iso_err *err);
/* Writes every column of the row with c->id; ENOENT when there is none; EEXIST for a name
 * another container has. */
int store_ctr_update(struct store *s, const struct store_ctr *c, struct iso_err *err);
int store_ctr_delete(struct store *s, const char *id, struct iso_err *err);
/* Every row, oldest first; free each with store_ctr_done() and then the array. */
int store_ctr_list(struct store *s, struct store_ctr **ret, size_t *ret_n, struct iso_err *err);
void store_ctr_done(struct store_ctr *c);
