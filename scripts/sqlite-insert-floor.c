/*
 * What storing a message costs SQLite alone on this machine: no network, no Swift, no
 * threads, only Kabar's schema and its INSERT, to weigh a durable `send` against.
 *
 *     gcc -O2 -o /tmp/sqlite-insert-floor scripts/sqlite-insert-floor.c -lsqlite3
 *     /tmp/sqlite-insert-floor DATABASE [MESSAGES]
 *
 * DATABASE is a file kabar-server created (its schema, and whatever data it holds); the
 * probe works on a copy (`VACUUM INTO`, consistent even while a server has it open) and
 * only reads the original. It adds three users to the copy and inserts MESSAGES rows
 * (default 300,000) the way the store does (one prepared INSERT per message, the three
 * sending round robin to the next, as chatload's connections do; who talked to whom once
 * per commit), in transactions of 12 and then 512 messages (the store's commits at send
 * c50 P1 and its largest), in WAL with synchronous=NORMAL and foreign keys on, as
 * kabar-server runs it: once without flushing and once with an fdatasync of the log after
 * every commit (what Kabar's flusher adds). It prints one JSON object per case with the
 * process's CPU per message (user + system, getrusage). It uses the system's SQLite
 * (Debian's), not the one Kabar links.
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kabar-sqlite-probe.h"

static void check(int rc, sqlite3 *db, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
        exit(1);
    }
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

/* One measured run: `messages` inserts in transactions of `batch`, the log flushed after
 * each commit when `flush` is set. Returns CPU microseconds per message. */
static double run(const char *path, int messages, int batch, int flush) {
    sqlite3 *db;
    check(sqlite3_open(path, &db), db, "open");
    check(sqlite3_exec(db, KABAR_PRAGMAS, NULL, NULL, NULL), db, "pragmas");
    /* Three users of its own, so that any Kabar database will do. */
    check(sqlite3_exec(db,
                       "INSERT OR IGNORE INTO users (username, name, country, password_hash, created_at) VALUES "
                       "('floor-0', 'Floor Zero', 'Indonesia', '$scrypt$probe', 0), "
                       "('floor-1', 'Floor One', 'Indonesia', '$scrypt$probe', 0), "
                       "('floor-2', 'Floor Two', 'Indonesia', '$scrypt$probe', 0)",
                       NULL, NULL, NULL), db, "users");
    sqlite3_stmt *users;
    check(sqlite3_prepare_v2(db, "SELECT id, username, name FROM users WHERE username LIKE 'floor-_' ORDER BY username",
                             -1, &users, NULL), db, "users");
    sqlite3_int64 ids[3];
    char names[3][64], usernames[3][64];
    for (int i = 0; i < 3; i++) {
        check(sqlite3_step(users), db, "users");
        ids[i] = sqlite3_column_int64(users, 0);
        snprintf(usernames[i], 64, "%s", (const char *)sqlite3_column_text(users, 1));
        snprintf(names[i], 64, "%s", (const char *)sqlite3_column_text(users, 2));
    }
    sqlite3_finalize(users);
    char *wal = sqlite3_mprintf("%s-wal", path);
    sqlite3_stmt *insert, *peer, *begin, *commit;
    check(sqlite3_prepare_v2(db, KABAR_INSERT_MESSAGE, -1, &insert, NULL), db, "insert");
    check(sqlite3_prepare_v2(db, KABAR_INSERT_PEER, -1, &peer, NULL), db, "peer");
    check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL), db, "begin");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), db, "commit");
    const char *body = "0123456789abcdef0123456789abcdef";  /* chatload's 32 bytes */
    sqlite3_int64 nextMessageId = first_new_message_id(db);
    int log = -1;
    double start = cpu_seconds();
    for (int done = 0; done < messages;) {
        check(sqlite3_step(begin), db, "BEGIN");
        sqlite3_reset(begin);
        for (int i = 0; i < batch && done < messages; i++, done++) {
            int sender = done % 3, recipient = (done + 1) % 3;
            sqlite3_bind_int64(insert, 1, nextMessageId++);
            sqlite3_bind_text(insert, 2, usernames[sender], -1, SQLITE_STATIC);
            sqlite3_bind_text(insert, 3, names[sender], -1, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 4, ids[recipient]);
            sqlite3_bind_text(insert, 5, body, -1, SQLITE_STATIC);
            sqlite3_bind_int64(insert, 6, 1700000000000LL + done);
            check(sqlite3_step(insert), db, "INSERT");
            sqlite3_reset(insert);
        }
        /* Who talked to whom, once per batch and direction, as the store's deferred
         * statements do. */
        for (int s = 0; s < 3; s++) {
            sqlite3_bind_int64(peer, 1, ids[(s + 1) % 3]);
            sqlite3_bind_text(peer, 2, usernames[s], -1, SQLITE_STATIC);
            check(sqlite3_step(peer), db, "peer");
            sqlite3_reset(peer);
            sqlite3_bind_int64(peer, 1, ids[s]);
            sqlite3_bind_text(peer, 2, usernames[(s + 1) % 3], -1, SQLITE_STATIC);
            check(sqlite3_step(peer), db, "peer");
            sqlite3_reset(peer);
        }
        check(sqlite3_step(commit), db, "COMMIT");
        sqlite3_reset(commit);
        if (flush) {
            if (log < 0) log = open(wal, O_RDWR);
            if (log < 0 || fdatasync(log) != 0) {
                perror(wal);
                exit(1);
            }
        }
    }
    double perMessage = (cpu_seconds() - start) * 1e6 / messages;
    if (log >= 0) close(log);
    sqlite3_free(wal);
    sqlite3_finalize(insert);
    sqlite3_finalize(peer);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    return perMessage;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s KABAR_DATABASE [MESSAGES]\n", argv[0]);
        return 2;
    }
    int messages = argc > 2 ? atoi(argv[2]) : 300000;
    char *scratch = sqlite3_mprintf("%s.floor", argv[1]);
    int batches[] = {12, 512};
    for (int flush = 0; flush <= 1; flush++) {
        for (int b = 0; b < 2; b++) {
            copy_database(argv[1], scratch);
            double perMessage = run(scratch, messages, batches[b], flush);
            printf("{\"messages_per_commit\": %d, \"flush\": %s, \"cpu_us_per_message\": %.2f}\n", batches[b],
                   flush ? "true" : "false", perMessage);
        }
    }
    remove_database(scratch);
    sqlite3_free(scratch);
    return 0;
}
