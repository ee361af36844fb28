import KabarProtocol

// MARK: - ConnectionContext

/// What the service remembers about one client connection between its requests.
public struct ConnectionContext: Sendable {
    public let id: Presence.ConnectionID
    /// The client's address without the port: the key for per-address throttling.
    public let clientAddress: String
    /// The session this connection is bound to (PROTOCOL.md, "Bound connections").
    /// Kept in memory only, so that a tokenless `logout` can answer with the token.
    public internal(set) var boundToken: SessionToken?
    /// Keeps the connection's requests taking effect in order.
    public let lane: RequestLane

    public init(id: Presence.ConnectionID, clientAddress: String, lane: RequestLane) {
        self.id = id
        self.clientAddress = clientAddress
        self.lane = lane
    }
}
