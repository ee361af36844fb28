#ifndef CKABAR_SQLITE_H
#define CKABAR_SQLITE_H

#include <sqlite_nio_sqlite3.h>

/*
 * What KabarSQLite needs of SQLite that Swift cannot call: sqlite3_db_config takes its
 * arguments as C varargs, which Swift does not import.
 */

/*
 * Turns on the query planner stability guarantee (SQLITE_DBCONFIG_ENABLE_QPSG): a
 * statement's plan never depends on the values bound to it. Without it, SQLite prepares a
 * statement again on its next step whenever a new value is bound to a parameter its plan
 * looked at (a LIMIT, an equality next to an ORDER BY over a partial index), so a cached
 * statement is parsed and planned anew on most uses. Returns an SQLite result code.
 */
int kabar_sqlite_keep_plans(sqlite3 *db);

#endif
