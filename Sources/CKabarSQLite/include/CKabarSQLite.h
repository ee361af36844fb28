#ifndef CKABAR_SQLITE_H
#define CKABAR_SQLITE_H

#include <sqlite_nio_sqlite3.h>

/*
 * What KabarSQLite needs of SQLite that Swift cannot call or write: sqlite3_db_config
 * takes its arguments as C varargs, which Swift does not import, and a VFS is a table of
 * C functions.
 */

/*
 * Turns on the query planner stability guarantee (SQLITE_DBCONFIG_ENABLE_QPSG): a
 * statement's plan never depends on the values bound to it. Without it, SQLite prepares a
 * statement again on its next step whenever a new value is bound to a parameter its plan
 * looked at (a LIMIT, an equality next to an ORDER BY over a partial index), so a cached
 * statement is parsed and planned anew on most uses. Returns an SQLite result code.
 */
int kabar_sqlite_keep_plans(sqlite3 *db);

/*
 * The name of a VFS that wraps the one named `wrapped` (NULL: the default VFS) and
 * gathers the frames a write transaction appends to a database's write-ahead log into
 * one write: SQLite writes each frame as two writes (its 24-byte header, then its page),
 * so a commit of twelve pages would cost 24 system calls. Everything else goes to the
 * wrapped VFS unchanged. The gathered frames are written with the frame that ends a
 * commit (whose failure fails that commit), before the log is read, synced, measured,
 * truncated or closed, and before the connection releases a lock of the shared index, so
 * other connections and processes never meet a log with bytes missing. Registered on the
 * first call for each wrapped VFS (not as the default); thread-safe. NULL if `wrapped` is
 * not registered or cannot be wrapped.
 */
const char *kabar_sqlite_coalescing_vfs(const char *wrapped);

/*
 * After each commit of `db`, stores in `*frames` how many frames its write-ahead log
 * holds (the log's hook, which SQLite calls with that count). It replaces the hook of
 * SQLite's automatic checkpoints, which stop: the caller checkpoints. `frames` must stay
 * valid while `db` is open.
 */
void kabar_sqlite_count_log_frames(sqlite3 *db, int *frames);

#endif
