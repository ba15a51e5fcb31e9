/* The mysql driver's SQL (storage/gazelle_sql.c): sums per user, token and torrent, rows
 * per snatch and peer, statements bounded in rows, client text only as hex literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "storage/gazelle_sql.h"

static struct acct_entry entry(uint32_t user, uint32_t torrent, uint64_t up, uint64_t down)
{
    struct acct_entry e = {.user_id = user,
                           .torrent_id = torrent,
                           .uploaded = up,
                           .downloaded = down,
                           .active = true,
                           .left = 10,
                           .last_ms = 1800000000000ULL,
                           .announces = 1};
    memset(e.peer_id, 'P', PEER_ID_LEN);
    return e;
}

/* Statement i of b (from 0), or NULL. */
static const char *statement(const struct sql_buf *b, size_t i)
{
    size_t at = 0;
    const char *s = NULL;
    for (size_t k = 0; k <= i; k++)
        if ((s = sql_buf_next(b, &at)) == NULL)
            return NULL;
    return s;
}

static void test_users_summed_and_split(void **state)
{
    (void)state;
    struct acct_entry e[] = {entry(7, 1, 100, 10), entry(3, 2, 5, 0), entry(7, 2, 1, 1),
                             entry(9, 1, 0, 0) /* nothing counted: no row */, entry(4, 1, 0, 2)};
    const struct acct_entry *p[] = {&e[0], &e[1], &e[2], &e[3], &e[4]};
    struct sql_buf b = {0};
    assert_int_equal(gazelle_statements(GAZELLE_USERS, p, 5, 2, &b), 3);
    assert_int_equal(b.count, 2);
    const char *s0 = statement(&b, 0), *s1 = statement(&b, 1);
    assert_non_null(strstr(s0, "UPDATE users_main AS u JOIN (SELECT 3 AS ID, 5 AS up, 0 AS down "
                               "UNION ALL SELECT 4 AS ID, 0 AS up, 2 AS down)"));
    assert_non_null(strstr(s1, "SELECT 7 AS ID, 101 AS up, 11 AS down)"));
    assert_non_null(strstr(s1, "SET u.Uploaded = u.Uploaded + d.up"));
    assert_null(strstr(s0, " 9 AS ID"));
    assert_null(statement(&b, 2));
    sql_buf_free(&b);
}

static void test_tokens_and_torrents(void **state)
{
    (void)state;
    struct acct_entry e[] = {entry(2, 13, 0, 0), entry(2, 13, 0, 0), entry(5, 13, 0, 0)};
    e[0].token_downloaded = 4000, e[1].token_downloaded = 500;
    e[1].snatched = 1, e[2].snatched = 2;
    e[2].left = 0, e[2].last_ms = 1800000005000ULL; /* a seeder, seen */
    const struct acct_entry *p[] = {&e[0], &e[1], &e[2]};
    struct sql_buf b = {0};
    assert_int_equal(gazelle_statements(GAZELLE_TOKENS, p, 3, 100, &b), 1);
    assert_non_null(strstr(statement(&b, 0), "SELECT 2 AS UserID, 13 AS TorrentID, 4500 AS down)"));
    sql_buf_free(&b);
    assert_int_equal(gazelle_statements(GAZELLE_TORRENTS, p, 3, 100, &b), 1);
    assert_non_null(
        strstr(statement(&b, 0), "SELECT 13 AS ID, 3 AS snatched, 1800000005 AS seen)"));
    assert_non_null(strstr(statement(&b, 0), "t.Snatched = t.Snatched + d.snatched"));
    sql_buf_free(&b);
}

static void test_snatches_and_peers_as_hex(void **state)
{
    (void)state;
    struct acct_entry e[] = {entry(1, 10, 0, 0), entry(2, 11, 0, 0)};
    e[0].snatched = 2;
    e[0].endpoints.has_v4 = true;
    memcpy(e[0].endpoints.v4, "\x0a\x00\x00\x01\x1a\xe1", 6); /* 10.0.0.1:6881 */
    const char *agent = "x'); DROP TABLE users_main; -- and then some more text to be cut";
    e[1].user_agent_len = strlen(agent);
    memcpy(e[1].user_agent, agent, e[1].user_agent_len);
    const struct acct_entry *p[] = {&e[0], &e[1]};
    struct sql_buf b = {0};
    assert_int_equal(gazelle_statements(GAZELLE_SNATCHED, p, 2, 1, &b), 2);
    assert_int_equal(b.count, 2); /* one row per statement */
    /* "10.0.0.1" as hex */
    assert_non_null(strstr(statement(&b, 0), "(1, 10, 1800000000, X'31302e302e302e31')"));
    sql_buf_free(&b);
    assert_int_equal(gazelle_statements(GAZELLE_PEERS, p, 2, 10, &b), 2);
    const char *s = statement(&b, 0);
    assert_null(strstr(s, "DROP"));
    assert_non_null(strstr(s, "X'5050505050505050505050505050505050505050'")); /* peer_id */
    /* The agent cut to the column's 51 bytes: 102 hex digits. */
    const char *ua = strstr(s, "X'78');") == NULL ? strstr(s, "X'782729") : NULL;
    assert_non_null(ua);
    assert_int_equal(strchr(ua + 2, '\'') - (ua + 2), 102);
    assert_non_null(strstr(s, "ON DUPLICATE KEY UPDATE active = VALUES(active)"));
    assert_non_null(strstr(s, "(2, 11, 1, 0, 0, 0, 0, 10, 0, 0, 1, X'', "));
    sql_buf_free(&b);
}

static void test_counts(void **state)
{
    (void)state;
    struct gazelle_count c[] = {{.seeders = 3, .leechers = 0},
                                {.seeders = 0, .leechers = 5000000000ULL}};
    memset(c[0].info_hash, 0xab, INFO_HASH_LEN);
    memset(c[1].info_hash, 0x01, INFO_HASH_LEN);
    struct sql_buf b = {0};
    gazelle_count_statements(c, 2, 1, &b);
    assert_int_equal(b.count, 2);
    assert_non_null(strstr(statement(&b, 0),
                           "SELECT X'abababababababababababababababababababab' AS h, "
                           "3 AS s, 0 AS l) AS d ON t.info_hash = d.h"));
    /* A count beyond the int column is cut to its largest. */
    assert_non_null(strstr(statement(&b, 1), "0 AS s, 2147483647 AS l)"));
    sql_buf_free(&b);
}

static void test_markers(void **state)
{
    (void)state;
    struct gazelle_mark m[] = {{5, 8}, {16383, 1}};
    struct sql_buf b = {0};
    gazelle_marker_statements(GAZELLE_PEERS, m, 2, 1000, &b);
    assert_int_equal(b.count, 1);
    assert_string_equal(statement(&b, 0),
                        "INSERT INTO starling_applied (tbl, slot, batch) VALUES "
                        "('xbt_files_users', 5, 8), ('xbt_files_users', 16383, 1) "
                        "ON DUPLICATE KEY UPDATE batch = GREATEST(batch, VALUES(batch))");
    sql_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_users_summed_and_split),
        cmocka_unit_test(test_tokens_and_torrents),
        cmocka_unit_test(test_snatches_and_peers_as_hex),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_markers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
