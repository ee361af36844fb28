/*
 * What the SQLite probes (sqlite-insert-floor.c, single-thread-floor.c) share: Kabar's
 * store as SQL, to keep in step with Sources/KabarSQLite (the connection's pragmas, the
 * INSERT of a message, the record of who talked to whom), and a working copy of a
 * database kabar-server made.
 */
#ifndef KABAR_SQLITE_PROBE_H
#define KABAR_SQLITE_PROBE_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* As kabar-server opens its database (SQLiteDatabase). */
#define KABAR_PRAGMAS "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"

/* A message to one recipient (SQLiteChatStore.insert): its id, sender's username and name,
 * recipient's id, text, time in milliseconds. */
#define KABAR_INSERT_MESSAGE \
    "INSERT INTO messages (id, sender_username, sender_name, recipient_id, body, received_at) VALUES (?, ?, ?, ?, ?, ?)"

/* The id of the next message (MessageIDs: above every id a message ever had, counted up
 * from there); exits on failure. */
static sqlite3_int64 first_new_message_id(sqlite3 *db) {
    sqlite3_stmt *highest;
    if (sqlite3_prepare_v2(db, "SELECT max(coalesce((SELECT max(id) FROM messages), 0), (SELECT id FROM message_id_floor))",
                           -1, &highest, NULL) != SQLITE_OK ||
        sqlite3_step(highest) != SQLITE_ROW) {
        fprintf(stderr, "message ids: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_int64 next = sqlite3_column_int64(highest, 0) + 1;
    sqlite3_finalize(highest);
    return next;
}

/* Who talked to whom, once per batch and direction (SQLiteChatStore.recordConversation). */
#define KABAR_INSERT_PEER "INSERT OR IGNORE INTO conversation_peers (user_id, peer_username) VALUES (?, ?)"

/* Removes a database file and its log and index, if there. */
static void remove_database(const char *path) {
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char *name = sqlite3_mprintf("%s%s", path, suffixes[i]);
        unlink(name);
        sqlite3_free(name);
    }
}

/* A consistent copy of `from` at `to` (`VACUUM INTO`, which only reads `from`, also while
 * a server has it open), replacing whatever was there; exits on failure. */
static void copy_database(const char *from, const char *to) {
    remove_database(to);
    sqlite3 *db;
    char *vacuum = sqlite3_mprintf("VACUUM INTO %Q", to);
    if (sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(db, vacuum, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "copying %s: %s\n", from, sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_free(vacuum);
    sqlite3_close(db);
}

#endif
