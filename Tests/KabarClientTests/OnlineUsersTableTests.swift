import KabarClient
import KabarProtocol
import KabarProtocol
import Testing

/// The `show` table, laid out as the original client's pandas DataFrame.
@Suite("show table")
struct OnlineUsersTableTests {
    let messi = OnlineUser(username: "messi", name: "Lionel Messi", country: "Argentina")
    let henderson = OnlineUser(username: "henderson", name: "Jordan Henderson", country: "Inggris")
    let lineker = OnlineUser(username: "lineker", name: "Gary Lineker", country: "Inggris")

    @Test("one user: a one-space gap where the header is the widest thing")
    func one() {
        #expect(
            OnlineUsersTable.render([messi]) == """
                  username          name     negara
                0    messi  Lionel Messi  Argentina
                """
        )
    }

    @Test("two users")
    func two() {
        #expect(
            OnlineUsersTable.render([henderson, messi]) == """
                    username              name     negara
                0  henderson  Jordan Henderson    Inggris
                1      messi      Lionel Messi  Argentina
                """
        )
    }

    @Test("three users, as PROTOCOL.md prints them")
    func three() {
        #expect(
            OnlineUsersTable.render([messi, henderson, lineker]) == """
                    username              name     negara
                0      messi      Lionel Messi  Argentina
                1  henderson  Jordan Henderson    Inggris
                2    lineker      Gary Lineker    Inggris
                """
        )
    }

    @Test("long and non-ASCII names widen their column, counted in code points (checked against pandas 3.1)")
    func longNames() {
        let long = OnlineUser(username: "x", name: "Muhammad Ali bin Abdullah al-Ṣūfī", country: "ID")
        #expect(
            OnlineUsersTable.render([long, messi]) == """
                  username                               name     negara
                0        x  Muhammad Ali bin Abdullah al-Ṣūfī         ID
                1    messi                       Lionel Messi  Argentina
                """
        )
    }

    @Test("eleven users: the row-number column is two wide and left-aligned; nothing is truncated")
    func manyRows() {
        let users = (0..<11).map { OnlineUser(username: "u\($0)", name: "User \($0)", country: "C") }
        let lines = OnlineUsersTable.render(users).split(separator: "\n")
        #expect(lines.count == 12)
        #expect(lines[0] == "   username     name negara")
        #expect(lines[1] == "0        u0   User 0      C")
        #expect(lines[11] == "10      u10  User 10      C")
    }
}
