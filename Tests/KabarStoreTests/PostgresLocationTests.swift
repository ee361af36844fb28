import KabarPostgres
import Testing

@Suite("PostgreSQL URLs")
struct PostgresLocationTests {
    @Test("postgres:// and postgresql:// URLs: user, password, host, port, database, sslmode; PGPASSWORD when the URL has none")
    func parsing() throws {
        let full = try #require(PostgresLocation(url: "postgres://kabar:s%40cret@db.example.org:6543/chat?sslmode=require"))
        #expect(full.username == "kabar" && full.password == "s@cret" && full.host == "db.example.org")
        #expect(full.port == 6543 && full.database == "chat" && full.sslMode == .require)
        #expect(!full.description.contains("cret"), "the password stays out of logs: \(full)")

        let plain = try #require(PostgresLocation(url: "postgresql://kabar@localhost/kabar", environmentPassword: "fromenv"))
        #expect(plain.port == 5432 && plain.password == "fromenv" && plain.sslMode == .prefer)
        #expect(PostgresLocation(url: "postgres://kabar@localhost/kabar?sslmode=disable")?.sslMode == .disable)
        #expect(PostgresLocation(url: "postgres://kabar@localhost/kabar?sslmode=verify-full")?.sslMode == .require)

        for bad in ["kabar.sqlite", "postgres://localhost/kabar", "postgres://kabar@localhost", "postgres://kabar@localhost/a/b",
                    "postgres://kabar@localhost/kabar?sslmode=sometimes", "http://kabar@localhost/kabar"] {
            #expect(PostgresLocation(url: bad) == nil, "\(bad)")
        }
    }
}
