#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

#include "store/container.h"
#include "store/db.h"
#include "store/image.h"
#include "store/layers.h"
#include "tests/unit/tap.h"

static char root[] = "/tmp/isod-ctr-XXXXXX";
static struct store *st;
static char image_id[STORE_DIGEST_LEN + 1];

static struct store_ctr row(char c, const char *name)
{
    struct store_ctr r = {
        .name = (char *)name,
        .state = "created",
        .config = "{\"Config\":{}}",
        .created = 10,
    };
    memset(r.id, c, 64);
    r.id[64] = '\0';
    memcpy(r.image_id, image_id, sizeof(image_id));
    return r;
}

static void test_insert_list_update_delete(void)
{
    struct iso_err err = {0};
    struct store_ctr a = row('a', "web"), b = row('b', "db"), *list = NULL;
    size_t n = 0;

    ASSERT_EQ(store_ctr_insert(st, &a, &err), 0);
    b.created = 20;
    ASSERT_EQ(store_ctr_insert(st, &b, &err), 0);
    a.state = "running";
    a.pid = 42;
    a.started_at = 11;
    a.manual_stop = true;
    a.error = "boom";
    ASSERT_EQ(store_ctr_update(st, &a, &err), 0);
    ASSERT_EQ(store_ctr_list(st, &list, &n, &err), 0);
    ASSERT_EQ(n, 2);
    ASSERT_STREQ(list[0].name, "web"); /* oldest first */
    ASSERT_STREQ(list[0].state, "running");
    ASSERT_EQ(list[0].pid, 42);
    ASSERT_EQ(list[0].started_at, 11);
    ASSERT_EQ(list[0].finished_at, 0);
    ASSERT_EQ(list[0].manual_stop, 1);
    ASSERT_STREQ(list[0].error, "boom");
    ASSERT_STREQ(list[1].name, "db");
    ASSERT_TRUE(list[1].error == NULL);
    for (size_t i = 0; i < n; i++)
        store_ctr_done(&list[i]);
    free(list);

    ASSERT_EQ(store_ctr_delete(st, a.id, &err), 0);
    ASSERT_EQ(store_ctr_delete(st, b.id, &err), 0);
    ASSERT_EQ(store_ctr_list(st, &list, &n, &err), 0);
    ASSERT_EQ(n, 0);
    free(list);
}

static void test_name_and_id_are_unique(void)
{
    struct iso_err err = {0};
    struct store_ctr a = row('c', "same"), b = row('d', "same"), c = row('c', "other");

    ASSERT_EQ(store_ctr_insert(st, &a, &err), 0);
    ASSERT_EQ(store_ctr_insert(st, &b, &err), -EEXIST);
    ASSERT_EQ(store_ctr_insert(st, &c, &err), -EEXIST);
    b.name = "other";
    ASSERT_EQ(store_ctr_insert(st, &b, &err), 0);
    b.name = "same"; /* a rename onto a taken name */
    ASSERT_EQ(store_ctr_update(st, &b, &err), -EEXIST);
    ASSERT_EQ(store_ctr_delete(st, a.id, &err), 0);
    ASSERT_EQ(store_ctr_delete(st, b.id, &err), 0);
}

static void test_update_missing_is_enoent(void)
{
    struct iso_err err = {0};
    struct store_ctr a = row('e', "ghost");

    ASSERT_EQ(store_ctr_update(st, &a, &err), -ENOENT);
}

static void test_image_in_use_cannot_go(void)
{
    struct iso_err err = {0};
    struct store_ctr a = row('f', "user");
    int64_t n = 0;

    ASSERT_EQ(store_ctr_insert(st, &a, &err), 0);
    ASSERT_EQ(store_image_containers(st, image_id, &n, &err), 0);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(store_ctr_delete(st, a.id, &err), 0);
}

int main(void)
{
    struct iso_err err = {0};
    struct store_image img = {.architecture = "amd64", .os = "linux"};

    if (!mkdtemp(root) || store_open(root, &st, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    memcpy(image_id, "sha256:", 7);
    memset(image_id + 7, '1', 64);
    image_id[STORE_DIGEST_LEN] = '\0';
    memcpy(img.id, image_id, sizeof(image_id));
    if (store_image_commit(st, &img, NULL, 0, &err) < 0) {
        printf("Bail out! %s\n", err.msg);
        return 1;
    }
    TEST(test_insert_list_update_delete);
    TEST(test_name_and_id_are_unique);
    TEST(test_update_missing_is_enoent);
    TEST(test_image_in_use_cannot_go);
    store_close(st);
    /* store_rm_rf_at takes one name under a directory. */
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp >= 0) {
        (void)store_rm_rf_at(tmp, root + strlen("/tmp/"));
        close(tmp);
    }
    return tap_done();
}
