// See include/CKabarSQLite.h.
#include "CKabarSQLite.h"

int kabar_sqlite_keep_plans(sqlite3 *db) {
    return sqlite_nio_sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, 1, (int *)0);
}

static int kabar_sqlite_record_log_frames(void *counter, sqlite3 *db, const char *database, int frames) {
    (void)db;
    (void)database;
    *(int *)counter = frames;
    return SQLITE_OK;
}

void kabar_sqlite_count_log_frames(sqlite3 *db, int *frames) {
    sqlite_nio_sqlite3_wal_hook(db, kabar_sqlite_record_log_frames, frames);
}
