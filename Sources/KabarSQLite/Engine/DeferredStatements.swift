// MARK: - DeferredStatements

/// Statements that units of work leave for later in their transaction, each run once
/// however many units leave it.
///
/// A send records who talked to whom (`INSERT OR IGNORE INTO conversation_peers …`); a
/// batch of 50 sends among three users asks for the same six rows a hundred times. Left
/// here, they run six times, once, before the first unit of the batch that may read them
/// and before the commit: no unit and no other reader ever sees the database without
/// them. A unit that is rolled back takes back what it left (``takeBack(after:)``).
struct DeferredStatements {
    struct Statement: Hashable {
        let sql: String
        let bindings: [SQLiteValue]

        /// Hashes the bindings only: the few statements left are told apart by them, and
        /// hashing the SQL text twice per message cost more than the rest of the lookup.
        /// (Equality still compares the text, at once when it is the same string.)
        func hash(into hasher: inout Hasher) {
            hasher.combine(bindings)
        }
    }

    /// In the order they were first left.
    private var pending: [Statement] = []
    private var known: Set<Statement> = []

    var isEmpty: Bool { pending.isEmpty }

    /// Where a unit starts: what it leaves comes after this.
    var mark: Int { pending.count }

    mutating func add(_ sql: String, _ bindings: [SQLiteValue]) {
        let statement = Statement(sql: sql, bindings: bindings)
        if known.insert(statement).inserted { pending.append(statement) }
    }

    /// Forgets what was left after `mark` (its unit was rolled back).
    mutating func takeBack(after mark: Int) {
        guard mark < pending.count else { return }
        for statement in pending[mark...] { known.remove(statement) }
        pending.removeSubrange(mark...)
    }

    /// Hands over everything left, and forgets it.
    mutating func takeAll() -> [Statement] {
        defer { discard() }
        return pending
    }

    /// Forgets everything left (its transaction ended without it).
    mutating func discard() {
        pending.removeAll(keepingCapacity: true)
        known.removeAll(keepingCapacity: true)
    }
}
