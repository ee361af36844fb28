// See include/CKabarSQLite.h.
#include "CKabarSQLite.h"

int kabar_sqlite_keep_plans(sqlite3 *db) {
    return sqlite_nio_sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, 1, (int *)0);
}
