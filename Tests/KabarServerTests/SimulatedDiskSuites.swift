import Testing

/// The suites that run SQLite on the simulated disk (the `kabar-crash` VFS of
/// `KabarCrashDisk`). The disk tracks one directory at a time and a power cut stops all
/// of it, so these suites run one after another, never beside each other.
@Suite("On the simulated disk", .serialized)
enum SimulatedDiskSuites {}
