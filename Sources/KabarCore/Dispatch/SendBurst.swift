import KabarProtocol

// MARK: - SendBurst

/// A connection's pipelined `send`s, gathered by ``RequestDispatcher/gather(_:into:on:)``
/// to go to the store as one unit of work with one answer back, rather than one each.
public struct SendBurst: Sendable {
    /// One `send`, its session already found.
    struct Entry: Sendable {
        var token: SessionToken
        var session: SessionRecord
        var recipientNames: [String]
        var text: String
    }

    var entries: [Entry] = []

    public init() {}

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
}
