// The log-write-coalescing VFS: see kabar_sqlite_coalescing_vfs in include/CKabarSQLite.h.
//
// SQLite writes each frame of its write-ahead log with two writes: the 24-byte frame
// header, then the page. A commit of twelve pages is 24 system calls, each paying the
// kernel's fixed cost of a write for a few bytes. This VFS passes everything to the VFS it
// wraps, except that the frames a write transaction appends to a log, one after the other,
// are gathered in memory and handed down as one write.
//
// Gathered bytes reach the wrapped VFS:
//   - with the frame that ends a commit: the write of that frame's page hands down the
//     whole commit, and a failure is that write's failure, so SQLite's commit fails with it.
//     SQLite publishes a commit to other connections only after writing its frames, so
//     none of them ever reads a committed frame that is not in the file;
//   - before anything reads the log, asks its size, syncs, truncates or closes it, or sends
//     it a file control;
//   - before the connection releases a lock of the shared index: a rolled-back transaction
//     may have written frames before its end (SQLite's page cache spills), and another
//     connection that then takes the write lock writes its own frames in their place;
//   - when the next write does not continue them, or would not fit.
// A write over what the transaction wrote before (SQLite rewrites a frame whose page
// changed again, and the checksums of the frames after it once the commit's frame is
// written) is not gathered but goes straight down, so that its failure fails its commit.
// A failure to hand bytes down where no caller can be told (a lock release) is kept and
// returned by the next use of the log, so it is never lost silently.

#include "CKabarSQLite.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/// The most bytes gathered before they are handed down. SQLite's unix VFS takes at most
/// 128 KiB in one write.
enum { GATHER_CAPACITY = 64 * 1024, FRAME_HEADER_SIZE = 24 };

typedef struct CoalescingFile CoalescingFile;

struct CoalescingFile {
    sqlite3_file base;  // first: SQLite sees this
    // Its methods: `coalescingMethods` at the wrapped file's version at most, so that
    // SQLite never asks for what the wrapped file cannot do (shared memory, memory maps).
    sqlite3_io_methods methods;
    sqlite3_file *wrapped;  // the wrapped VFS's file, in the same allocation, after this
    // A database file: its log, while open. A log: its database file.
    CoalescingFile *log;
    CoalescingFile *database;
    // A log only: the bytes gathered, from `gatheredOffset` on.
    unsigned char *gathered;
    int gatheredLength;
    sqlite3_int64 gatheredOffset;
    int nextWriteEndsCommit;  // the last write was the header of a commit's frame
    // The end of the furthest write of the open write transaction: only writes from
    // there on (appends) are gathered.
    sqlite3_int64 transactionEnd;
    int failure;  // a failure to hand gathered bytes down that nobody was told of yet
};

/// The size of the file structure, rounded so that the wrapped file after it is aligned.
static const int coalescingFileStructSize = (sizeof(CoalescingFile) + 15) & ~15;

static sqlite3_file *wrapped(sqlite3_file *file) { return ((CoalescingFile *)file)->wrapped; }

/// Hands the gathered bytes down; returns an SQLite code.
static int handDown(CoalescingFile *file) {
    if (file == NULL || file->gatheredLength == 0) return SQLITE_OK;
    int length = file->gatheredLength;
    file->gatheredLength = 0;
    int code = file->wrapped->pMethods->xWrite(file->wrapped, file->gathered, length, file->gatheredOffset);
    if (code != SQLITE_OK && file->failure == SQLITE_OK) file->failure = code;
    return code;
}

/// Hands the gathered bytes down where the caller cannot be told of a failure: the next
/// use of the log reports it.
static void handDownQuietly(CoalescingFile *file) { (void)handDown(file); }

/// Hands the gathered bytes down, then reports any failure not reported yet: before the
/// log is used in any other way. SQLITE_OK at once for a file that gathers nothing.
static int handDownAndReport(CoalescingFile *file) {
    handDownQuietly(file);
    int failure = file->failure;
    file->failure = SQLITE_OK;
    return failure;
}

// MARK: - File methods

static int coalescingClose(sqlite3_file *handle) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    if (file->database) file->database->log = NULL;
    if (file->log) file->log->database = NULL;
    int code = file->wrapped->pMethods->xClose(file->wrapped);
    sqlite_nio_sqlite3_free(file->gathered);
    file->gathered = NULL;
    return failure != SQLITE_OK ? failure : code;
}

static int coalescingRead(sqlite3_file *handle, void *buffer, int amount, sqlite3_int64 offset) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    return failure != SQLITE_OK ? failure : file->wrapped->pMethods->xRead(file->wrapped, buffer, amount, offset);
}

/// Whether a 24-byte write is the header of a frame that commits: its second field, the
/// database's size in pages after the commit, is not zero (big-endian).
static int isCommitFrameHeader(const void *bytes, int amount) {
    const unsigned char *header = bytes;
    return amount == FRAME_HEADER_SIZE && (header[4] | header[5] | header[6] | header[7]) != 0;
}

static int coalescingWrite(sqlite3_file *handle, const void *bytes, int amount, sqlite3_int64 offset) {
    CoalescingFile *file = (CoalescingFile *)handle;
    sqlite3_file *inner = file->wrapped;
    if (!file->gathered) return inner->pMethods->xWrite(inner, bytes, amount, offset);
    if (file->failure != SQLITE_OK) return handDownAndReport(file);
    int endsCommit = file->nextWriteEndsCommit;
    file->nextWriteEndsCommit = isCommitFrameHeader(bytes, amount);
    int appends = offset >= file->transactionEnd;
    if (offset + amount > file->transactionEnd) file->transactionEnd = offset + amount;
    int continues = file->gatheredLength > 0 && offset == file->gatheredOffset + file->gatheredLength;
    if (file->gatheredLength > 0 && (!continues || file->gatheredLength + amount > GATHER_CAPACITY)) {
        int code = handDownAndReport(file);
        if (code != SQLITE_OK) return code;
    }
    if (!appends || amount > GATHER_CAPACITY) {
        // A write over what this transaction wrote before (a frame's page written again,
        // the checksums SQLite rewrites after the commit's frame) goes straight down, so
        // that its failure fails its commit.
        return inner->pMethods->xWrite(inner, bytes, amount, offset);
    }
    if (file->gatheredLength == 0) file->gatheredOffset = offset;
    memcpy(file->gathered + file->gatheredLength, bytes, (size_t)amount);
    file->gatheredLength += amount;
    return endsCommit ? handDownAndReport(file) : SQLITE_OK;
}

static int coalescingTruncate(sqlite3_file *handle, sqlite3_int64 size) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    return failure != SQLITE_OK ? failure : file->wrapped->pMethods->xTruncate(file->wrapped, size);
}

static int coalescingSync(sqlite3_file *handle, int flags) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    return failure != SQLITE_OK ? failure : file->wrapped->pMethods->xSync(file->wrapped, flags);
}

static int coalescingFileSize(sqlite3_file *handle, sqlite3_int64 *size) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    return failure != SQLITE_OK ? failure : file->wrapped->pMethods->xFileSize(file->wrapped, size);
}

static int coalescingLock(sqlite3_file *handle, int level) {
    return wrapped(handle)->pMethods->xLock(wrapped(handle), level);
}

static int coalescingUnlock(sqlite3_file *handle, int level) {
    return wrapped(handle)->pMethods->xUnlock(wrapped(handle), level);
}

static int coalescingCheckReservedLock(sqlite3_file *handle, int *result) {
    return wrapped(handle)->pMethods->xCheckReservedLock(wrapped(handle), result);
}

static int coalescingFileControl(sqlite3_file *handle, int operation, void *argument) {
    CoalescingFile *file = (CoalescingFile *)handle;
    int failure = handDownAndReport(file);
    return failure != SQLITE_OK ? failure : file->wrapped->pMethods->xFileControl(file->wrapped, operation, argument);
}

static int coalescingSectorSize(sqlite3_file *handle) {
    return wrapped(handle)->pMethods->xSectorSize(wrapped(handle));
}

static int coalescingDeviceCharacteristics(sqlite3_file *handle) {
    return wrapped(handle)->pMethods->xDeviceCharacteristics(wrapped(handle));
}

static int coalescingShmMap(sqlite3_file *handle, int region, int size, int extend, void volatile **address) {
    return wrapped(handle)->pMethods->xShmMap(wrapped(handle), region, size, extend, address);
}

/// Slot 0 of the shared index's locks is the log's write lock (`WAL_WRITE_LOCK` in SQLite's
/// wal.c): a connection holds it from the start of a write transaction to its end.
enum { LOG_WRITE_LOCK = 0 };

static int coalescingShmLock(sqlite3_file *handle, int offset, int count, int flags) {
    CoalescingFile *log = ((CoalescingFile *)handle)->log;
    if (flags & SQLITE_SHM_UNLOCK) handDownQuietly(log);
    int code = wrapped(handle)->pMethods->xShmLock(wrapped(handle), offset, count, flags);
    if (code == SQLITE_OK && log && (flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE)
        && offset == LOG_WRITE_LOCK) {
        log->transactionEnd = 0;  // a write transaction begins
    }
    return code;
}

static void coalescingShmBarrier(sqlite3_file *handle) {
    wrapped(handle)->pMethods->xShmBarrier(wrapped(handle));
}

static int coalescingShmUnmap(sqlite3_file *handle, int deleteFlag) {
    return wrapped(handle)->pMethods->xShmUnmap(wrapped(handle), deleteFlag);
}

static int coalescingFetch(sqlite3_file *handle, sqlite3_int64 offset, int amount, void **pointer) {
    return wrapped(handle)->pMethods->xFetch(wrapped(handle), offset, amount, pointer);
}

static int coalescingUnfetch(sqlite3_file *handle, sqlite3_int64 offset, void *pointer) {
    return wrapped(handle)->pMethods->xUnfetch(wrapped(handle), offset, pointer);
}

static const sqlite3_io_methods coalescingMethods = {
    3,
    coalescingClose,
    coalescingRead,
    coalescingWrite,
    coalescingTruncate,
    coalescingSync,
    coalescingFileSize,
    coalescingLock,
    coalescingUnlock,
    coalescingCheckReservedLock,
    coalescingFileControl,
    coalescingSectorSize,
    coalescingDeviceCharacteristics,
    coalescingShmMap,
    coalescingShmLock,
    coalescingShmBarrier,
    coalescingShmUnmap,
    coalescingFetch,
    coalescingUnfetch,
};

// MARK: - The VFS

/// One registered coalescing VFS and the VFS it wraps.
typedef struct {
    sqlite3_vfs vfs;
    sqlite3_vfs *wrapped;
    char name[96];
} CoalescingVFS;

static sqlite3_vfs *wrappedVFS(sqlite3_vfs *vfs) { return ((CoalescingVFS *)vfs)->wrapped; }

static int coalescingOpen(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *handle, int flags, int *outFlags) {
    CoalescingFile *file = (CoalescingFile *)handle;
    memset(file, 0, sizeof(CoalescingFile));
    file->wrapped = (sqlite3_file *)((char *)handle + coalescingFileStructSize);
    sqlite3_vfs *inner = wrappedVFS(vfs);
    int code = inner->xOpen(inner, name, file->wrapped, flags, outFlags);
    if (code != SQLITE_OK || file->wrapped->pMethods == NULL) {
        if (file->wrapped->pMethods) file->wrapped->pMethods->xClose(file->wrapped);
        file->base.pMethods = NULL;
        return code != SQLITE_OK ? code : SQLITE_CANTOPEN;
    }
    if ((flags & SQLITE_OPEN_WAL) && name) {
        file->gathered = sqlite_nio_sqlite3_malloc(GATHER_CAPACITY);
        if (file->gathered == NULL) {
            file->wrapped->pMethods->xClose(file->wrapped);
            file->base.pMethods = NULL;
            return SQLITE_NOMEM;
        }
        // The database's file is ours too: it opened through this VFS before its log.
        sqlite3_file *database = sqlite_nio_sqlite3_database_file_object(name);
        if (database && database->pMethods && database->pMethods->xWrite == coalescingWrite) {
            file->database = (CoalescingFile *)database;
            file->database->log = file;
        }
    }
    file->methods = coalescingMethods;
    if (file->wrapped->pMethods->iVersion < file->methods.iVersion) file->methods.iVersion = file->wrapped->pMethods->iVersion;
    file->base.pMethods = &file->methods;
    return SQLITE_OK;
}

static int coalescingDelete(sqlite3_vfs *vfs, const char *name, int syncDirectory) {
    return wrappedVFS(vfs)->xDelete(wrappedVFS(vfs), name, syncDirectory);
}

static int coalescingAccess(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    return wrappedVFS(vfs)->xAccess(wrappedVFS(vfs), name, flags, result);
}

static int coalescingFullPathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    return wrappedVFS(vfs)->xFullPathname(wrappedVFS(vfs), name, size, out);
}

static void *coalescingDlOpen(sqlite3_vfs *vfs, const char *name) {
    return wrappedVFS(vfs)->xDlOpen(wrappedVFS(vfs), name);
}

static void coalescingDlError(sqlite3_vfs *vfs, int size, char *message) {
    wrappedVFS(vfs)->xDlError(wrappedVFS(vfs), size, message);
}

static void (*coalescingDlSym(sqlite3_vfs *vfs, void *library, const char *symbol))(void) {
    return wrappedVFS(vfs)->xDlSym(wrappedVFS(vfs), library, symbol);
}

static void coalescingDlClose(sqlite3_vfs *vfs, void *library) {
    wrappedVFS(vfs)->xDlClose(wrappedVFS(vfs), library);
}

static int coalescingRandomness(sqlite3_vfs *vfs, int size, char *out) {
    return wrappedVFS(vfs)->xRandomness(wrappedVFS(vfs), size, out);
}

static int coalescingSleep(sqlite3_vfs *vfs, int microseconds) {
    return wrappedVFS(vfs)->xSleep(wrappedVFS(vfs), microseconds);
}

static int coalescingCurrentTime(sqlite3_vfs *vfs, double *now) {
    return wrappedVFS(vfs)->xCurrentTime(wrappedVFS(vfs), now);
}

static int coalescingGetLastError(sqlite3_vfs *vfs, int size, char *out) {
    return wrappedVFS(vfs)->xGetLastError(wrappedVFS(vfs), size, out);
}

static int coalescingCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    return wrappedVFS(vfs)->xCurrentTimeInt64(wrappedVFS(vfs), now);
}

enum { MAXIMUM_VFS = 8 };
static pthread_mutex_t registrationLock = PTHREAD_MUTEX_INITIALIZER;
static CoalescingVFS registered[MAXIMUM_VFS];
static int registeredCount;

const char *kabar_sqlite_coalescing_vfs(const char *wrappedName) {
    pthread_mutex_lock(&registrationLock);
    const char *result = NULL;
    sqlite3_vfs *inner = sqlite_nio_sqlite3_vfs_find(wrappedName);
    for (int index = 0; inner && index < registeredCount; index++) {
        if (registered[index].wrapped == inner) result = registered[index].name;
    }
    if (inner && result == NULL && registeredCount < MAXIMUM_VFS && inner->iVersion >= 2) {
        CoalescingVFS *entry = &registered[registeredCount];
        snprintf(entry->name, sizeof(entry->name), "kabar-coalescing-log+%s", inner->zName);
        entry->wrapped = inner;
        entry->vfs = (sqlite3_vfs){
            .iVersion = 2,
            .szOsFile = coalescingFileStructSize + inner->szOsFile,
            .mxPathname = inner->mxPathname,
            .zName = entry->name,
            .xOpen = coalescingOpen,
            .xDelete = coalescingDelete,
            .xAccess = coalescingAccess,
            .xFullPathname = coalescingFullPathname,
            .xDlOpen = coalescingDlOpen,
            .xDlError = coalescingDlError,
            .xDlSym = coalescingDlSym,
            .xDlClose = coalescingDlClose,
            .xRandomness = coalescingRandomness,
            .xSleep = coalescingSleep,
            .xCurrentTime = coalescingCurrentTime,
            .xGetLastError = coalescingGetLastError,
            .xCurrentTimeInt64 = inner->xCurrentTimeInt64 ? coalescingCurrentTimeInt64 : NULL,
        };
        if (sqlite_nio_sqlite3_vfs_register(&entry->vfs, 0) == SQLITE_OK) {
            registeredCount += 1;
            result = entry->name;
        }
    }
    pthread_mutex_unlock(&registrationLock);
    return result;
}
