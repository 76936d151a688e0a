#include <sqlite3.h>

#include "store/db.h"
#include "store/image.h"
#include "tests/unit/tap.h"

static char root[] = "/tmp/isod-image-XXXXXX";
static struct store *st;

static void digest(char out[STORE_DIGEST_LEN + 1], char c)
{
    memcpy(out, "sha256:", 7);
    memset(out + 7, c, 64);
    out[STORE_DIGEST_LEN] = '\0';
}

/* An image of layers named by the characters of chain ("ab": a at the bottom, then b). */
static int commit(char id_char, const char *chain, const char *tag, struct iso_err *err)
{
    struct store_image_layer layers[8];
    char *tags[1] = {(char *)tag};
    struct store_image img = {.architecture = "amd64",
                              .os = "linux",
                              .created = 5,
                              .tags = tag ? tags : NULL,
                              .n_tags = tag ? 1 : 0};
    size_t n = strlen(chain);

    digest(img.id, id_char);
    for (size_t i = 0; i < n; i++) {
        digest(layers[i].chain_id, chain[i]);
        digest(layers[i].diff_id, chain[i]);
        layers[i].size = 100;
    }
    return store_image_commit(st, &img, layers, n, err);
}

static void test_commit_get_list(void)
{
    struct iso_err err = {0};
    struct store_image img;
    char id[STORE_DIGEST_LEN + 1];

    ASSERT_EQ(commit('1', "ab", "docker.io/library/busybox:latest", &err), 0);
    ASSERT_EQ(store_image_resolve(st, "docker.io/library/busybox:latest", NULL, id, &err), 0);
    digest(img.id, '1');
    ASSERT_STREQ(id, img.id);
    ASSERT_EQ(store_image_get(st, id, &img, &err), 0);
    ASSERT_EQ(img.size, 200);
    ASSERT_EQ(img.n_tags, 1);
    ASSERT_STREQ(img.tags[0], "docker.io/library/busybox:latest");
    ASSERT_STREQ(img.architecture, "amd64");
    store_image_done(&img);

    struct store_image_layer *layers = NULL;
    size_t n = 0;
    ASSERT_EQ(store_image_layers(st, id, &layers, &n, &err), 0);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(layers[0].chain_id[7], 'a');
    ASSERT_EQ(layers[1].chain_id[7], 'b');
    free(layers);
}

static void test_resolve_by_id_and_prefix(void)
{
    struct iso_err err = {0};
    char id[STORE_DIGEST_LEN + 1];

    ASSERT_EQ(commit('2', "ac", NULL, &err), 0);
    ASSERT_EQ(store_image_resolve(st, NULL, "2222", id, &err), 0);
    ASSERT_EQ(id[7], '2');
    ASSERT_EQ(store_image_resolve(st, NULL, "sha256:22", id, &err), 0);
    ASSERT_EQ(store_image_resolve(st, "docker.io/library/nope:latest", "nope", id, &err), -ENOENT);
    ASSERT_STRSTR(err.msg, "No such image");
    ASSERT_EQ(commit('3', "a", NULL, &err), 0);
    ASSERT_EQ(commit('4', "a", NULL, &err), 0);
    /* Every id here starts with a digit: "" is no prefix, but one hex digit is. */
    ASSERT_EQ(store_image_resolve(st, NULL, "3", id, &err), 0);
    ASSERT_EQ(store_image_resolve(st, NULL, "zz", id, &err), -ENOENT);

    /* Two ids share the prefix "ab". */
    struct store_image a = {.architecture = "amd64", .os = "linux"};
    struct store_image_layer l;
    digest(l.chain_id, 'a');
    digest(l.diff_id, 'a');
    l.size = 1;
    digest(a.id, 'f');
    a.id[7] = 'a';
    a.id[8] = 'b';
    ASSERT_EQ(store_image_commit(st, &a, &l, 1, &err), 0);
    a.id[9] = '0';
    ASSERT_EQ(store_image_commit(st, &a, &l, 1, &err), 0);
    ASSERT_EQ(store_image_resolve(st, NULL, "ab", id, &err), -EINVAL);
    ASSERT_STRSTR(err.msg, "ambiguous");
}

static void test_tag_moves(void)
{
    struct iso_err err = {0};
    char id[STORE_DIGEST_LEN + 1];

    ASSERT_EQ(commit('5', "ad", "docker.io/library/x:1", &err), 0);
    ASSERT_EQ(commit('6', "ae", "docker.io/library/x:1", &err), 0);
    ASSERT_EQ(store_image_resolve(st, "docker.io/library/x:1", NULL, id, &err), 0);
    ASSERT_EQ(id[7], '6');
    ASSERT_EQ(store_tag_set(st, "docker.io/library/y:2", id, &err), 0);
    ASSERT_EQ(store_tag_remove(st, "docker.io/library/y:2", &err), 0);
    ASSERT_EQ(store_tag_remove(st, "docker.io/library/y:2", &err), -ENOENT);
}

static void test_delete_removes_only_unshared_layers(void)
{
    struct iso_err err = {0};
    char id[STORE_DIGEST_LEN + 1];
    char(*gone)[STORE_DIGEST_LEN + 1] = NULL;
    size_t n = 0;
    int64_t shared = 0;

    /* Image 7 = layers a, g, h; image 8 = a, g. Deleting 7 frees h only. */
    ASSERT_EQ(commit('7', "agh", "docker.io/library/del:1", &err), 0);
    ASSERT_EQ(commit('8', "ag", NULL, &err), 0);
    digest(id, '7');
    ASSERT_EQ(store_image_shared_size(st, id, &shared, &err), 0);
    ASSERT_EQ(shared, 200);
    ASSERT_EQ(store_image_delete(st, id, &gone, &n, &err), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(gone[0][7], 'h');
    free(gone);
    ASSERT_EQ(store_image_resolve(st, "docker.io/library/del:1", NULL, id, &err), -ENOENT);

    /* Image 8 goes: g goes, a stays (images 1..6 use it); g goes before its parent could. */
    digest(id, '8');
    ASSERT_EQ(store_image_delete(st, id, &gone, &n, &err), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(gone[0][7], 'g');
    free(gone);
    int64_t size;
    digest(id, 'a');
    ASSERT_EQ(store_layer_get(st, id, &size, &err), 0);
    digest(id, 'h');
    ASSERT_EQ(store_layer_get(st, id, &size, &err), -ENOENT);
}

static void test_image_in_use_is_busy(void)
{
    struct iso_err err = {0};
    char id[STORE_DIGEST_LEN + 1], sql[512];
    char(*gone)[STORE_DIGEST_LEN + 1] = NULL;
    size_t n = 0;
    int64_t users = 0;

    ASSERT_EQ(commit('9', "ai", NULL, &err), 0);
    digest(id, '9');
    snprintf(sql, sizeof(sql),
             "INSERT INTO containers (id, name, image_id, config, created) VALUES "
             "('%064d', 'c1', '%s', '{}', 1)",
             0, id);
    ASSERT_EQ(sqlite3_exec(store_db_handle(st), sql, NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(store_image_containers(st, id, &users, &err), 0);
    ASSERT_EQ(users, 1);
    ASSERT_EQ(store_image_delete(st, id, &gone, &n, &err), -EBUSY);
    ASSERT_STRSTR(err.msg, "being used by a container");
    /* Nothing changed: the image and its layer are still there. */
    ASSERT_EQ(store_image_resolve(st, NULL, "9999", id, &err), 0);
}

int main(void)
{
    struct iso_err err = {0};

    if (!mkdtemp(root) || store_open(root, &st, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    TEST(test_commit_get_list);
    TEST(test_resolve_by_id_and_prefix);
    TEST(test_tag_moves);
    TEST(test_delete_removes_only_unshared_layers);
    TEST(test_image_in_use_is_busy);
    store_close(st);
    (void)tap_rmtree(root);
    return tap_done();
}
