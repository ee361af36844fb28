import Foundation
import KabarClient
import KabarProtocol
import KabarTestSupport
import Testing

/// Pipelining and many clients at once: exact counts, every message exactly once.
@Suite("Concurrency")
struct ConcurrencyTests {
    @Test("10 pipelined requests in one write get 10 replies in order")
    func pipelining() async throws {
        try await withTestServer { server in
            let client = try await server.rawClient()
            let henderson = try await server.rawClient()
            var batch = "auth messi surabaya\r\n"
            for index in 1...7 { batch += "send henderson pesan \(index)\r\n" }
            batch += "ping\r\nshow\r\n"
            try await client.send(batch)
            let replies = try await client.readReplies(10)
            #expect(Expected.token(inAuthReply: replies[0]) != nil)
            #expect(Array(replies[1...7]) == Array(repeating: Expected.messageSent, count: 7))
            #expect(replies[8] == Expected.pong)
            #expect(replies[9].hasPrefix(#"{"status": "OK", "message": [{"username": "messi""#))
            _ = try await henderson.login("henderson")
            let inbox = try await henderson.request("inbox")
            let texts = (1...7).map { #""msg": "pesan \#($0)""# }
            #expect(texts.allSatisfy(inbox.contains))
            let positions = texts.map { inbox.range(of: $0)!.lowerBound }
            #expect(positions == positions.sorted())
        }
    }

    @Test("50 connections sending at once: every OK is stored exactly once")
    func fiftySenders() async throws {
        try await withTestServer { server in
            let senders = ["messi", "lineker"]
            let perConnection = 20
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: senders[index % 2], password: "surabaya")
                        for message in 0..<perConnection {
                            try await connection.sendMessage("c\(index)-m\(message)", to: ["henderson"], token: token)
                        }
                        try await connection.close()
                    }
                }
                try await group.waitForAll()
            }
            let reader = try await server.connect()
            _ = try await reader.auth(username: "henderson", password: "surabaya")
            let groups = try await reader.inbox()
            let texts = groups.flatMap { $0.messages.map(\.text) }
            #expect(texts.count == 50 * perConnection)
            #expect(Set(texts).count == texts.count)
            #expect(Set(groups.map(\.sender)) == Set(senders))
            for group in groups {
                // Each connection's messages keep their order.
                for index in 0..<50 {
                    let mine = group.messages.map(\.text).filter { $0.hasPrefix("c\(index)-") }
                    #expect(mine == mine.sorted { Int($0.split(separator: "m").last!)! < Int($1.split(separator: "m").last!)! })
                }
            }
            #expect(try await reader.inbox().isEmpty)
        }
    }

    @Test("two sessions of one user drain one inbox while others send: every message exactly once")
    func drainingRace() async throws {
        try await withTestServer { server in
            let total = 300
            let received = try await withThrowingTaskGroup(of: [String].self) { group in
                for sender in ["messi", "lineker"] {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: sender, password: "surabaya")
                        for message in 0..<(total / 2) {
                            try await connection.sendMessage("\(sender)-\(message)", to: ["henderson"], token: token)
                        }
                        return []
                    }
                }
                for _ in 0..<2 {
                    group.addTask {
                        let connection = try await server.connect()
                        let token = try await connection.auth(username: "henderson", password: "surabaya")
                        var texts: [String] = []
                        var emptyRounds = 0
                        while emptyRounds < 50 {
                            let batch = try await connection.inbox(token: token).flatMap { $0.messages.map(\.text) }
                            texts += batch
                            emptyRounds = batch.isEmpty ? emptyRounds + 1 : 0
                            if batch.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
                        }
                        return texts
                    }
                }
                var all: [[String]] = []
                for try await texts in group { all.append(texts) }
                return all
            }
            let drainers = received.filter { !$0.isEmpty }
            let everything = drainers.flatMap { $0 }
            let reader = try await server.connect()
            let leftovers = try await reader.inbox(
                token: try await reader.auth(username: "henderson", password: "surabaya")
            ).flatMap { $0.messages.map(\.text) }
            let delivered = everything + leftovers
            #expect(delivered.count == total)
            #expect(Set(delivered).count == total)
        }
    }
}
