import KabarCore
import Testing

/// Presence as plain values: bindings in, ordered online users out.
@Suite("Presence (unit)")
struct PresenceUnitTests {
    func session(_ id: Int64, user: Int64, _ name: String) -> SessionRecord {
        SessionRecord(
            id: id,
            user: UserRecord(id: user, username: Username(name)!, profile: Profile(name: name, country: "C")!, passwordHash: "")
        )
    }

    func names(_ presence: Presence) -> [String] {
        presence.onlineEntries().map(\.user.username.text)
    }

    @Test("arrival order, each user once, offline with the last connection")
    func order() {
        let presence = Presence()
        presence.bind(1, to: session(10, user: 1, "a"), at: Timestamp(milliseconds: 1))
        presence.bind(2, to: session(20, user: 2, "b"), at: Timestamp(milliseconds: 2))
        presence.bind(3, to: session(11, user: 1, "a"), at: Timestamp(milliseconds: 3))
        #expect(names(presence) == ["a", "b"])
        presence.unbind(1)
        #expect(names(presence) == ["a", "b"])
        presence.unbind(3)
        #expect(names(presence) == ["b"])
        presence.bind(4, to: session(12, user: 1, "a"), at: Timestamp(milliseconds: 4))
        #expect(names(presence) == ["b", "a"])
    }

    @Test("rebinding a connection to another session of the same user keeps the user's place")
    func rebindSameUser() {
        let presence = Presence()
        presence.bind(1, to: session(10, user: 1, "a"), at: Timestamp(milliseconds: 1))
        presence.bind(2, to: session(20, user: 2, "b"), at: Timestamp(milliseconds: 2))
        presence.bind(1, to: session(11, user: 1, "a"), at: Timestamp(milliseconds: 1))
        #expect(names(presence) == ["a", "b"])
        #expect(presence.onlineEntries()[0].sessionIDs == [11])
        presence.bind(1, to: session(20, user: 2, "b"), at: Timestamp(milliseconds: 1))
        #expect(names(presence) == ["b"])
    }

    @Test("ending sessions unbinds every connection bound to them")
    func endSessions() {
        let presence = Presence()
        presence.bind(1, to: session(10, user: 1, "a"), at: Timestamp(milliseconds: 1))
        presence.bind(2, to: session(10, user: 1, "a"), at: Timestamp(milliseconds: 2))
        presence.bind(3, to: session(30, user: 3, "c"), at: Timestamp(milliseconds: 3))
        presence.unbindSessions([10])
        #expect(names(presence) == ["c"])
        presence.unbind(1)  // already gone: no effect
        #expect(names(presence) == ["c"])
    }
}
