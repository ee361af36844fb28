#ifndef KABAR_CRASH_DISK_H
#define KABAR_CRASH_DISK_H

/*
 * A simulated disk under SQLite, for power-cut tests: an SQLite VFS named
 * "kabar-crash" that wraps the real one (files are really written, so the process sees
 * what it wrote, as it would through the page cache) and remembers, for the files of one
 * directory, which of their bytes a sync has made durable. Cutting the power composes
 * what such a disk may hold afterwards and writes it into another directory:
 *
 *   - bytes synced (xSync, or kabar_crashdisk_sync_file for a flush SQLite does not see)
 *     are there;
 *   - each 4 KiB page written since its file's last sync holds its new bytes, its old
 *     bytes, or is torn (new 512-byte sectors up to a point, old ones after), chosen at
 *     random, so later writes may survive where earlier ones do not;
 *   - a file that grew or shrank since its last sync has its old or its new size;
 *   - a file created since its directory was last synced may be missing altogether, and
 *     a deletion not synced may be undone.
 *
 * After the cut every change to a tracked file fails, as nothing reaches a disk that
 * has no power. One directory is tracked at a time.
 */

/// Registers the "kabar-crash" VFS (once; later calls do nothing). Returns an SQLite code.
int kabar_crashdisk_install(void);

/// Tracks the files SQLite opens through "kabar-crash" whose paths start with
/// `directory`, forgetting any earlier tracking and power cut. Files that exist already
/// count as durable.
void kabar_crashdisk_track(const char *directory);

/// Makes everything written so far to the tracked file at `path` durable, as fdatasync
/// does (the directory is not synced). Returns 0, or -1 once the power is cut.
int kabar_crashdisk_sync_file(const char *path);

/// How many writes reached the tracked file at `path` since its tracking began (-1 if it
/// is not tracked).
long kabar_crashdisk_writes(const char *path);
/// Cuts the power: from now on changes to tracked files fail. Writes into
/// `image_directory` (which must exist) each tracked file as the disk may hold it,
/// chosen with `seed`. Returns 0, or -1 if the image could not be written.
int kabar_crashdisk_cut_power(const char *image_directory, unsigned long long seed);

/// Arms a cut that happens just before the `operations`-th change (write, truncation,
/// sync, deletion) to a tracked file from now, so that it lands inside a commit.
void kabar_crashdisk_arm_cut(const char *image_directory, unsigned long long seed, long operations);

/// 1 once the power is cut (-1 if an armed cut could not write its image), else 0.
int kabar_crashdisk_power_is_cut(void);

/// How many pages, files and sizes the last cut had to decide about, and how many of
/// those decisions lost a change that no sync had covered.
typedef struct {
    long unsynced_pages;
    long pages_lost;
    long pages_torn;
    long files_lost;
} kabar_crashdisk_cut_report;

/// What the last cut did.
kabar_crashdisk_cut_report kabar_crashdisk_last_cut(void);

#endif
