// The "kabar-crash" SQLite VFS: see include/KabarCrashDisk.h for the disk it simulates.
//
// The tracked state lives in one list guarded by one mutex, because the database's worker
// thread writes and syncs through the VFS while its flusher thread syncs the log through
// kabar_crashdisk_sync_file. Writes are done under the mutex too, so a sync never copies
// a page halfway through a write.

#include "KabarCrashDisk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite_nio_sqlite3.h>

enum { SECTOR = 512, PAGE = 4096, SECTORS_PER_PAGE = PAGE / SECTOR };

// MARK: - Tracked files

typedef struct TrackedFile {
    char *path;
    // What a sync made durable: the file's bytes and size.
    unsigned char *durable;
    size_t durable_size;
    size_t durable_capacity;
    // One bit per 512-byte sector written since the last sync.
    unsigned char *dirty;
    size_t dirty_capacity;  // in bytes of the bitmap
    int entry_durable;      // the directory entry survives a cut
    int syncs_directory;    // its first xSync syncs the directory, as SQLite's unix VFS does
    int deleted;
    int deletion_durable;
    long writes;  // the writes that reached it since tracking began
    struct TrackedFile *next;
} TrackedFile;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *tracked_directory;
static TrackedFile *tracked_files;
static int power_is_cut;
static kabar_crashdisk_cut_report last_cut;
// An armed cut: it happens just before the tracked file operation that brings this to 0.
static long operations_until_cut = -1;
static char *armed_image_directory;
static unsigned long long armed_seed;
static int armed_cut_result;

static int cut_power_locked(const char *image_directory, unsigned long long seed);

/// Called under the lock before every change to a tracked file: the power goes out
/// here if an armed cut is due. Returns whether the power is out.
static int power_fails_now(void) {
    if (!power_is_cut && operations_until_cut > 0 && --operations_until_cut == 0) {
        armed_cut_result = cut_power_locked(armed_image_directory, armed_seed);
    }
    return power_is_cut;
}

static sqlite3_vfs *real_vfs;
static sqlite3_vfs crash_vfs;

static int is_tracked_path(const char *path) {
    return path && tracked_directory && strncmp(path, tracked_directory, strlen(tracked_directory)) == 0;
}

static TrackedFile *find_file(const char *path) {
    for (TrackedFile *file = tracked_files; file; file = file->next) {
        if (strcmp(file->path, path) == 0) return file;
    }
    return NULL;
}

static void free_files(void) {
    while (tracked_files) {
        TrackedFile *next = tracked_files->next;
        free(tracked_files->path);
        free(tracked_files->durable);
        free(tracked_files->dirty);
        free(tracked_files);
        tracked_files = next;
    }
}

static size_t current_size(const char *path) {
    struct stat status;
    return stat(path, &status) == 0 ? (size_t)status.st_size : 0;
}

static void reserve(unsigned char **bytes, size_t *capacity, size_t needed) {
    if (needed <= *capacity) return;
    size_t grown = *capacity ? *capacity : 4096;
    while (grown < needed) grown *= 2;
    *bytes = realloc(*bytes, grown);
    memset(*bytes + *capacity, 0, grown - *capacity);
    *capacity = grown;
}

static void mark_dirty(TrackedFile *file, size_t offset, size_t count) {
    if (count == 0) return;
    size_t first = offset / SECTOR, last = (offset + count - 1) / SECTOR;
    reserve(&file->dirty, &file->dirty_capacity, last / 8 + 1);
    for (size_t sector = first; sector <= last; sector++) file->dirty[sector / 8] |= (unsigned char)(1u << (sector % 8));
}

static int is_dirty(const TrackedFile *file, size_t sector) {
    return sector / 8 < file->dirty_capacity && (file->dirty[sector / 8] >> (sector % 8)) & 1;
}

/// Reads `count` bytes at `offset` of the real file; bytes past its end read as zeros.
static void read_real(int descriptor, unsigned char *into, size_t offset, size_t count) {
    memset(into, 0, count);
    size_t done = 0;
    while (descriptor >= 0 && done < count) {
        ssize_t got = pread(descriptor, into + done, count - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        done += (size_t)got;
    }
}

/// What the file holds now becomes what the disk holds.
static void make_durable(TrackedFile *file) {
    if (file->deleted) return;
    size_t size = current_size(file->path);
    reserve(&file->durable, &file->durable_capacity, size);
    if (size > file->durable_size) memset(file->durable + file->durable_size, 0, size - file->durable_size);
    int descriptor = open(file->path, O_RDONLY | O_CLOEXEC);
    size_t sectors = (size + SECTOR - 1) / SECTOR;
    for (size_t sector = 0; sector < sectors; sector++) {
        if (!is_dirty(file, sector)) continue;
        size_t offset = sector * SECTOR;
        size_t count = offset + SECTOR <= size ? SECTOR : size - offset;
        read_real(descriptor, file->durable + offset, offset, count);
    }
    if (descriptor >= 0) close(descriptor);
    file->durable_size = size;
    if (file->dirty) memset(file->dirty, 0, file->dirty_capacity);
}

/// The directory was synced: every entry in it, and every deletion, is durable.
static void sync_directory(void) {
    for (TrackedFile *file = tracked_files; file; file = file->next) {
        if (file->deleted) file->deletion_durable = 1;
        else file->entry_durable = 1;
    }
}

static TrackedFile *start_tracking(const char *path, int exists) {
    TrackedFile *file = calloc(1, sizeof(TrackedFile));
    file->path = strdup(path);
    file->next = tracked_files;
    tracked_files = file;
    if (exists) {
        // A file from before the tracking began: all of it is durable.
        size_t size = current_size(path);
        mark_dirty(file, 0, size);
        make_durable(file);
        file->entry_durable = 1;
    }
    return file;
}

// MARK: - Files

typedef struct CrashFile {
    sqlite3_file base;
    TrackedFile *tracked;
    sqlite3_file *real;  // the real VFS's file object, right after this one
} CrashFile;

static size_t real_offset(void) {
    return (sizeof(CrashFile) + 15) & ~(size_t)15;
}

static int crash_close(sqlite3_file *handle) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xClose(file->real);
}

static int crash_read(sqlite3_file *handle, void *buffer, int count, sqlite3_int64 offset) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xRead(file->real, buffer, count, offset);
}

static int crash_write(sqlite3_file *handle, const void *buffer, int count, sqlite3_int64 offset) {
    CrashFile *file = (CrashFile *)handle;
    pthread_mutex_lock(&lock);
    int code = SQLITE_IOERR_WRITE;
    if (!power_fails_now()) {
        code = file->real->pMethods->xWrite(file->real, buffer, count, offset);
        if (code == SQLITE_OK) mark_dirty(file->tracked, (size_t)offset, (size_t)count);
        file->tracked->writes += 1;
    }
    pthread_mutex_unlock(&lock);
    return code;
}

static int crash_truncate(sqlite3_file *handle, sqlite3_int64 size) {
    CrashFile *file = (CrashFile *)handle;
    pthread_mutex_lock(&lock);
    // The new size is read from the file at the next sync or the cut.
    int code = power_fails_now() ? SQLITE_IOERR_TRUNCATE : file->real->pMethods->xTruncate(file->real, size);
    pthread_mutex_unlock(&lock);
    return code;
}

static int crash_sync(sqlite3_file *handle, int flags) {
    CrashFile *file = (CrashFile *)handle;
    pthread_mutex_lock(&lock);
    int code = SQLITE_IOERR_FSYNC;
    if (!power_fails_now()) {
        code = file->real->pMethods->xSync(file->real, flags);
        if (code == SQLITE_OK) {
            make_durable(file->tracked);
            if (file->tracked->syncs_directory) {
                sync_directory();
                file->tracked->syncs_directory = 0;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return code;
}

static int crash_file_size(sqlite3_file *handle, sqlite3_int64 *size) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xFileSize(file->real, size);
}

static int crash_lock(sqlite3_file *handle, int level) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xLock(file->real, level);
}

static int crash_unlock(sqlite3_file *handle, int level) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xUnlock(file->real, level);
}

static int crash_check_reserved_lock(sqlite3_file *handle, int *result) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xCheckReservedLock(file->real, result);
}

static int crash_file_control(sqlite3_file *handle, int operation, void *argument) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xFileControl(file->real, operation, argument);
}

static int crash_sector_size(sqlite3_file *handle) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xSectorSize(file->real);
}

static int crash_device_characteristics(sqlite3_file *handle) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xDeviceCharacteristics(file->real);
}

// The shared-memory index is rebuilt from the log after a crash, so it is not tracked.
static int crash_shm_map(sqlite3_file *handle, int region, int size, int extend, void volatile **pointer) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xShmMap(file->real, region, size, extend, pointer);
}

static int crash_shm_lock(sqlite3_file *handle, int offset, int count, int flags) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xShmLock(file->real, offset, count, flags);
}

static void crash_shm_barrier(sqlite3_file *handle) {
    CrashFile *file = (CrashFile *)handle;
    file->real->pMethods->xShmBarrier(file->real);
}

static int crash_shm_unmap(sqlite3_file *handle, int delete_flag) {
    CrashFile *file = (CrashFile *)handle;
    return file->real->pMethods->xShmUnmap(file->real, delete_flag);
}

// Version 2: no memory-mapped reads (xFetch), so every read goes through xRead.
static const sqlite3_io_methods crash_methods = {
    2,
    crash_close,
    crash_read,
    crash_write,
    crash_truncate,
    crash_sync,
    crash_file_size,
    crash_lock,
    crash_unlock,
    crash_check_reserved_lock,
    crash_file_control,
    crash_sector_size,
    crash_device_characteristics,
    crash_shm_map,
    crash_shm_lock,
    crash_shm_barrier,
    crash_shm_unmap,
    NULL,
    NULL,
};

// MARK: - VFS

static int crash_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *handle, int flags, int *out_flags) {
    (void)vfs;
    pthread_mutex_lock(&lock);
    int tracked = is_tracked_path(name);
    if (!tracked) {
        pthread_mutex_unlock(&lock);
        // Untracked files are the real VFS's own objects, with its own methods.
        return real_vfs->xOpen(real_vfs, name, handle, flags, out_flags);
    }
    CrashFile *file = (CrashFile *)handle;
    int exists = access(name, F_OK) == 0;
    TrackedFile *state = find_file(name);
    if (state && state->deleted) {
        state->deleted = 0;
        state->deletion_durable = 0;
        state->entry_durable = 0;
        state->durable_size = 0;
    }
    if (!state) state = start_tracking(name, exists);
    if (!exists && (flags & SQLITE_OPEN_CREATE)
        && (flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL))) {
        state->syncs_directory = 1;
    }
    pthread_mutex_unlock(&lock);

    file->tracked = state;
    file->real = (sqlite3_file *)((char *)handle + real_offset());
    int code = real_vfs->xOpen(real_vfs, name, file->real, flags, out_flags);
    file->base.pMethods = code == SQLITE_OK ? &crash_methods : NULL;
    return code;
}

static int crash_delete(sqlite3_vfs *vfs, const char *name, int sync_directory_flag) {
    (void)vfs;
    pthread_mutex_lock(&lock);
    if (!is_tracked_path(name)) {
        pthread_mutex_unlock(&lock);
        return real_vfs->xDelete(real_vfs, name, sync_directory_flag);
    }
    int code = SQLITE_IOERR_DELETE;
    if (!power_fails_now()) {
        code = real_vfs->xDelete(real_vfs, name, sync_directory_flag);
        TrackedFile *file = find_file(name);
        if (code == SQLITE_OK && file) {
            file->deleted = 1;
            if (sync_directory_flag) sync_directory();
        }
    }
    pthread_mutex_unlock(&lock);
    return code;
}

static int crash_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, result);
}

static int crash_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, size, out);
}

static void *crash_dl_open(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void crash_dl_error(sqlite3_vfs *vfs, int size, char *message) {
    (void)vfs;
    real_vfs->xDlError(real_vfs, size, message);
}

static void (*crash_dl_sym(sqlite3_vfs *vfs, void *library, const char *symbol))(void) {
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, library, symbol);
}

static void crash_dl_close(sqlite3_vfs *vfs, void *library) {
    (void)vfs;
    real_vfs->xDlClose(real_vfs, library);
}

static int crash_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, size, out);
}

static int crash_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return real_vfs->xSleep(real_vfs, microseconds);
}

static int crash_current_time(sqlite3_vfs *vfs, double *now) {
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, now);
}

static int crash_get_last_error(sqlite3_vfs *vfs, int size, char *message) {
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, size, message);
}

static int crash_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, now);
}

int kabar_crashdisk_install(void) {
    pthread_mutex_lock(&lock);
    int code = SQLITE_OK;
    if (!real_vfs) {
        real_vfs = sqlite_nio_sqlite3_vfs_find(NULL);
        crash_vfs = (sqlite3_vfs){
            .iVersion = 2,
            .szOsFile = (int)real_offset() + real_vfs->szOsFile,
            .mxPathname = real_vfs->mxPathname,
            .zName = "kabar-crash",
            .xOpen = crash_open,
            .xDelete = crash_delete,
            .xAccess = crash_access,
            .xFullPathname = crash_full_pathname,
            .xDlOpen = crash_dl_open,
            .xDlError = crash_dl_error,
            .xDlSym = crash_dl_sym,
            .xDlClose = crash_dl_close,
            .xRandomness = crash_randomness,
            .xSleep = crash_sleep,
            .xCurrentTime = crash_current_time,
            .xGetLastError = crash_get_last_error,
            .xCurrentTimeInt64 = crash_current_time_int64,
        };
        code = sqlite_nio_sqlite3_vfs_register(&crash_vfs, 0);
    }
    pthread_mutex_unlock(&lock);
    return code;
}

// MARK: - Tracking and power cuts

void kabar_crashdisk_track(const char *directory) {
    pthread_mutex_lock(&lock);
    free_files();
    free(tracked_directory);
    tracked_directory = strdup(directory);
    power_is_cut = 0;
    operations_until_cut = -1;
    pthread_mutex_unlock(&lock);
}

int kabar_crashdisk_sync_file(const char *path) {
    pthread_mutex_lock(&lock);
    int result = power_fails_now() ? -1 : 0;
    TrackedFile *file = power_is_cut ? NULL : find_file(path);
    if (file) make_durable(file);
    pthread_mutex_unlock(&lock);
    return result;
}

long kabar_crashdisk_writes(const char *path) {
    pthread_mutex_lock(&lock);
    TrackedFile *file = find_file(path);
    long writes = file ? file->writes : -1;
    pthread_mutex_unlock(&lock);
    return writes;
}

/// splitmix64: a small, good generator, so that a seed replays a cut exactly.
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// A number in [0, 1).
static double next_unit(uint64_t *state) {
    return (double)(next_random(state) >> 11) / 9007199254740992.0;
}

static int write_image(const char *image_directory, const TrackedFile *file, const unsigned char *bytes, size_t size) {
    const char *slash = strrchr(file->path, '/');
    const char *base = slash ? slash + 1 : file->path;
    size_t length = strlen(image_directory) + strlen(base) + 2;
    char *path = malloc(length);
    snprintf(path, length, "%s/%s", image_directory, base);
    int descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    free(path);
    if (descriptor < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = write(descriptor, bytes + done, size - done);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) break;
        done += (size_t)wrote;
    }
    close(descriptor);
    return done == size ? 0 : -1;
}

int kabar_crashdisk_cut_power(const char *image_directory, unsigned long long seed) {
    pthread_mutex_lock(&lock);
    int result = power_is_cut ? -1 : cut_power_locked(image_directory, seed);
    pthread_mutex_unlock(&lock);
    return result;
}

void kabar_crashdisk_arm_cut(const char *image_directory, unsigned long long seed, long operations) {
    pthread_mutex_lock(&lock);
    free(armed_image_directory);
    armed_image_directory = strdup(image_directory);
    armed_seed = seed;
    armed_cut_result = 0;
    operations_until_cut = operations > 0 ? operations : 1;
    pthread_mutex_unlock(&lock);
}

int kabar_crashdisk_power_is_cut(void) {
    pthread_mutex_lock(&lock);
    int result = power_is_cut ? (armed_cut_result == 0 ? 1 : -1) : 0;
    pthread_mutex_unlock(&lock);
    return result;
}

static int cut_power_locked(const char *image_directory, unsigned long long seed) {
    power_is_cut = 1;
    uint64_t random = seed;
    // How likely a change no sync covered is to have reached the disk anyway: all, none,
    // or any share between, chosen per cut so that every kind of loss comes up.
    static const double shares[] = {0.0, 0.1, 0.5, 0.9, 1.0};
    double survives = shares[next_random(&random) % 5];
    kabar_crashdisk_cut_report report = {0, 0, 0, 0};
    int result = 0;

    for (TrackedFile *file = tracked_files; file; file = file->next) {
        if (file->deleted) {
            // A deletion not synced may not have happened: the file is back as last synced.
            if (file->deletion_durable || next_unit(&random) < survives) continue;
            result |= write_image(image_directory, file, file->durable, file->durable_size);
            continue;
        }
        if (!file->entry_durable && next_unit(&random) >= survives) {
            report.files_lost++;
            continue;
        }
        size_t now_size = current_size(file->path);
        size_t size = file->durable_size;
        if (now_size != size && next_unit(&random) < survives) size = now_size;
        unsigned char *bytes = calloc(1, size ? size : 1);
        memcpy(bytes, file->durable, size < file->durable_size ? size : file->durable_size);

        int descriptor = open(file->path, O_RDONLY | O_CLOEXEC);
        size_t pages = (size + PAGE - 1) / PAGE;
        for (size_t page = 0; page < pages; page++) {
            size_t first_sector = page * SECTORS_PER_PAGE;
            int touched = 0;
            for (size_t sector = first_sector; sector < first_sector + SECTORS_PER_PAGE; sector++) touched |= is_dirty(file, sector);
            if (!touched) continue;
            report.unsynced_pages++;
            double draw = next_unit(&random);
            size_t new_sectors;
            if (draw < survives) {
                new_sectors = SECTORS_PER_PAGE;
            } else if (draw < survives + (1 - survives) / 4) {
                new_sectors = 1 + next_random(&random) % (SECTORS_PER_PAGE - 1);
                report.pages_torn++;
            } else {
                new_sectors = 0;
                report.pages_lost++;
            }
            for (size_t sector = first_sector; sector < first_sector + new_sectors; sector++) {
                size_t offset = sector * SECTOR;
                if (!is_dirty(file, sector) || offset >= size) continue;
                size_t count = offset + SECTOR <= size ? SECTOR : size - offset;
                read_real(descriptor, bytes + offset, offset, count);
            }
        }
        if (descriptor >= 0) close(descriptor);
        result |= write_image(image_directory, file, bytes, size);
        free(bytes);
    }
    last_cut = report;
    return result;
}

kabar_crashdisk_cut_report kabar_crashdisk_last_cut(void) {
    pthread_mutex_lock(&lock);
    kabar_crashdisk_cut_report report = last_cut;
    pthread_mutex_unlock(&lock);
    return report;
}
